"""An ActionService over a scripted docker exec and local hosts, and a login to test.

The host mode runs the real shell wrapper on this machine through ``LocalHost``; docker
exec is ``tests.support.docker.FakeAPI``; test-login talks to a ``LoginServer``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from console.config import Config, ConsoleSettings, MigrateAction, SecretsConfig, ServerConfig
from console.config import TestLoginAction as LoginAction
from console.engine import dockerapi
from console.engine.actions import ActionService
from console.engine.audit import AuditLog
from console.engine.hosts import LocalHost
from tests.support.docker import ExecStream, FakeDockerClient
from tests.support.fleet import BareFleet

SECRET = "a-very-long-signing-secret-for-tests-0123456789"
PASSWORD = "pw-Sekr1t-7f3a9"


def action_config(tmp_path: Path, *, read_only: bool = False,
                  container: str | None = "app",
                  command: tuple[str, ...] = ("alembic", "upgrade", "head"),
                  timeout: float = 30.0, login: LoginAction | None = None,
                  secrets: SecretsConfig | None = None) -> Config:
    """One server "alpha" with a migrate action (and a test-login one if given), auditing
    to a file under ``tmp_path``."""
    server = ServerConfig(
        name="alpha",
        migrate=MigrateAction(command=command, container=container, timeout=timeout),
        test_login=login,
        secrets=secrets or SecretsConfig(),
    )
    return Config(ConsoleSettings(read_only=read_only, audit_log=tmp_path / "audit.jsonl"),
                  (server,))


def make_service(config: Config, client: FakeDockerClient | None = None, **kwargs: Any
                 ) -> ActionService:
    """The real ActionService over local hosts, docker exec answered by ``client``."""
    hosts = {s.name: LocalHost(s) for s in config.servers}
    clients = dockerapi.DockerClients(factory=lambda url, timeout: client)
    return ActionService(config, hosts, clients=clients,
                         audit=AuditLog(config.console.audit_log, user="tester",
                                        hostname="console-box"),
                         exec_streams=fake_exec_stream, **kwargs)


def fleet_for(config: Any, client: FakeDockerClient | None = None, **kwargs: Any) -> Any:
    """What an action screen reads of the Fleet: the config and a real ActionService."""
    return BareFleet(config, actions=make_service(config, client, **kwargs))


def fake_exec_stream(client: FakeDockerClient, base_url: str, exec_id: str) -> ExecStream:
    """The fake API's exec output (the socket reader has its own tests in test_exec_stream)."""
    return client.api.exec_start(exec_id, stream=True, demux=True)


def issue_token(secret: str = SECRET, **claims: Any) -> str:
    now = datetime.now(UTC)
    payload = {"iss": "crm-backend", "sub": "admin@example.com", "role": "admin",
               "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=15))
                                                       .timestamp())}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def login_config(tmp_path: Path, url: str, **extra: Any) -> Config:
    login = LoginAction(url=url, json={"email": "${OPS_LOGIN_USER}",
                                           "password": "${OPS_LOGIN_PASSWORD}"},
                            from_="console", **extra)
    return action_config(tmp_path, login=login)


def good_login(body: dict) -> tuple[int, bytes]:
    if body.get("password") == PASSWORD:
        return 200, json.dumps({"access_token": issue_token()}).encode()
    return 401, b'{"detail": "invalid credentials"}'
