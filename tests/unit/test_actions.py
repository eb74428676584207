"""ActionService: restart/migrate/test-login, refusals, audit, cancel, JWT inspection.

Docker is a fake (a scripted exec that blocks until killed); the host mode runs the real
shell wrapper on this machine through ``LocalHost``; test-login talks to a real local HTTP
server on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from console.config import (
    Config,
    SecretsConfig,
    ServerConfig,
)
from console.engine import audit as audit_mod
from console.engine.actions import (
    ActionRefused,
    ActionService,
    OutputLine,
    ServerActions,
    audited,
    classify_login_status,
    inspect_token,
    token_preview,
    verify_signature,
)
from console.engine.audit import AuditLog, read_audit
from console.engine.contracts import Change
from console.engine.hosts import LocalHost
from console.models import ConnectionStatus, ConnState, ContainerInfo, utcnow
from tests.support.actions import (
    PASSWORD,
    SECRET,
    action_config,
    good_login,
    issue_token,
    login_config,
    make_service,
)
from tests.support.docker import FakeDockerClient
from tests.support.http import LoginServer

# --------------------------------------------------------------------------- fakes


class FakeContainers:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail: Exception | None = None

    def find(self, server: str, container_id: str) -> ContainerInfo | None:
        return make_info(server, "crm-backend-1") if container_id == "abc123" else None

    async def restart(self, server: str, container_id: str) -> ContainerInfo | None:
        self.calls.append((server, container_id))
        if self.fail:
            raise self.fail
        return make_info(server, "crm-backend-1")


def make_info(server: str, name: str) -> ContainerInfo:
    return ContainerInfo(server=server, id="abc123", name=name, project="crm",
                         service="backend", state="running", health="healthy",
                         restart_count=0, started_at=utcnow(), image="app:1")


@pytest.fixture
def client() -> FakeDockerClient:
    return FakeDockerClient()


def audit_records(config: Config) -> list[dict]:
    path = config.console.audit_log
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() \
        else []


# --------------------------------------------------------------------------- restart


async def test_restart_is_audited_before_and_after(tmp_path: Path):
    config = action_config(tmp_path)
    containers = FakeContainers()
    service = make_service(config, containers=containers)
    result = await service.restart("alpha", "abc123")
    assert result.ok and containers.calls == [("alpha", "abc123")]
    intent, outcome = audit_records(config)
    assert (intent["phase"], outcome["phase"]) == ("intent", "outcome")
    assert intent["target"] == "crm-backend-1" and intent["action"] == "restart"
    assert outcome["outcome"] == "succeeded" and outcome["id"] == intent["id"]


async def test_restart_failure_is_a_result_and_audited(tmp_path: Path):
    config = action_config(tmp_path)
    containers = FakeContainers()
    containers.fail = RuntimeError("Connection refused")
    service = make_service(config, containers=containers)
    result = await service.restart("alpha", "abc123")
    assert not result.ok and "refused" in result.detail
    assert audit_records(config)[-1]["outcome"] == "error"


async def test_read_only_refuses_restart_and_migrate_but_not_test_login(tmp_path: Path,
                                                                        client: FakeDockerClient):
    config = action_config(tmp_path, read_only=True)
    containers = FakeContainers()
    service = make_service(config, client, containers=containers)
    with pytest.raises(ActionRefused, match="read-only"):
        await service.restart("alpha", "abc123")
    with pytest.raises(ActionRefused, match="read-only"):
        await service.migrate("alpha")
    assert containers.calls == [] and client.daemon.created == []
    assert [r["phase"] for r in audit_records(config)] == ["refused", "refused"]


async def test_unaudited_action_is_refused_and_not_run(tmp_path: Path, client: FakeDockerClient,
                                                       monkeypatch):
    config = action_config(tmp_path)
    containers = FakeContainers()
    service = make_service(config, client, containers=containers)

    def no_space(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit_mod.os, "write", no_space)
    with pytest.raises(ActionRefused, match="no space left.*Nothing was run"):
        await service.migrate("alpha")
    with pytest.raises(ActionRefused, match="no space left"):
        await service.restart("alpha", "abc123")
    assert client.daemon.created == [] and containers.calls == []
    assert service.running_migration("alpha") is None  # the slot is free again


# --------------------------------------------------------------------------- migrate (docker)


async def test_migration_streams_stdout_and_stderr_and_reports_exit_status(
        tmp_path: Path, client: FakeDockerClient):
    client.daemon.script.update(frames=[(b"upgrading 1 -> 2\nhal", None), (b"f line\n", b"warn"),
                                     (None, b"ing: slow\n")], exit_code=3)
    config = action_config(tmp_path)
    service = make_service(config, client)
    seen: list[OutputLine] = []
    result = await service.migrate("alpha", seen.append)

    assert not result.ok and result.exit_status == 3
    assert "exit status 3" in result.detail and "warning: slow" in result.detail
    assert [(x.stream, x.text) for x in seen if x.stream != "console"] == [
        ("stdout", "upgrading 1 -> 2"), ("stdout", "half line"), ("stderr", "warning: slow")]
    assert not any("@@ops-console-pid" in x.text for x in seen)
    container, argv = client.daemon.created[0]
    assert container == "app" and argv[:2] == ["sh", "-c"]
    assert argv[-3:] == ["alembic", "upgrade", "head"]
    intent, outcome = audit_records(config)
    assert intent["command"] == ["alembic", "upgrade", "head"]
    assert outcome["exit_status"] == 3 and outcome["outcome"] == "failed"


async def test_only_one_migration_per_server_and_cancel_kills_it(tmp_path: Path,
                                                                client: FakeDockerClient):
    client.daemon.script.update(frames=[(b"working\n", None)], hang=True)
    config = action_config(tmp_path)
    service = make_service(config, client)
    first = asyncio.create_task(service.migrate("alpha"))
    await wait_for(lambda: service.running_migration("alpha") is not None
                   and service.running_migration("alpha").pid is not None)

    with pytest.raises(ActionRefused, match="already running on alpha"):
        await service.migrate("alpha")
    assert service.cancel_migration("alpha")
    result = await asyncio.wait_for(first, 10)

    assert not result.ok and result.exit_status == 143
    assert "cancelled by the operator" in result.detail
    proc = next(iter(client.daemon.processes.values()))
    assert proc.killed_with == ["TERM"]
    phases = [(r["phase"], r.get("outcome")) for r in audit_records(config)]
    assert phases == [("intent", None), ("refused", "refused"), ("outcome", "cancelled")]
    assert service.running_migration("alpha") is None


async def test_cancel_escalates_to_kill_when_term_is_ignored(tmp_path: Path,
                                                             client: FakeDockerClient, monkeypatch):
    monkeypatch.setattr("console.engine.actions.migrate.KILL_GRACE", 0.3)
    client.daemon.script.update(hang=True, ignore_term=True)
    config = action_config(tmp_path)
    service = make_service(config, client)
    runs = []
    task = asyncio.create_task(service.migrate("alpha", on_start=runs.append))
    await wait_for(lambda: runs and runs[0].pid is not None)
    runs[0].cancel()
    result = await asyncio.wait_for(task, 10)
    proc = next(iter(client.daemon.processes.values()))
    assert proc.killed_with == ["TERM", "KILL"]
    assert result.exit_status == 137


async def test_migration_timeout_kills_and_says_so(tmp_path: Path, client: FakeDockerClient):
    client.daemon.script.update(hang=True)
    config = action_config(tmp_path, timeout=0.3)
    service = make_service(config, client)
    result = await asyncio.wait_for(service.migrate("alpha"), 10)
    assert not result.ok and "timed out after 0.3 s" in result.detail
    assert audit_records(config)[-1]["outcome"] == "timeout"


async def test_cancelling_the_awaiting_task_kills_the_process_and_audits(
        tmp_path: Path, client: FakeDockerClient):
    client.daemon.script.update(hang=True)
    config = action_config(tmp_path)
    service = make_service(config, client)
    task = asyncio.create_task(service.migrate("alpha"))
    await wait_for(lambda: client.daemon.processes
                   and service.running_migration("alpha").pid is not None)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    proc = next(iter(client.daemon.processes.values()))
    assert proc.killed_with == ["TERM"]
    assert audit_records(config)[-1]["outcome"] == "cancelled"


async def test_stopping_the_service_kills_a_running_migration(tmp_path: Path,
                                                              client: FakeDockerClient):
    client.daemon.script.update(hang=True)
    config = action_config(tmp_path)
    service = make_service(config, client)
    task = asyncio.create_task(service.migrate("alpha"))
    await wait_for(lambda: service.running_migration("alpha") is not None
                   and service.running_migration("alpha").pid is not None)
    await asyncio.wait_for(service.stop(), 10)
    result = await asyncio.wait_for(task, 10)
    assert "the console is stopping" in result.detail and result.exit_status == 143
    assert audit_records(config)[-1]["outcome"] == "cancelled"


async def test_the_read_model_shows_the_running_migration_and_each_last_result(
        tmp_path: Path, client: FakeDockerClient):
    client.daemon.script.update(frames=[(b"working\n", None)], hang=True)
    config = action_config(tmp_path)
    containers = FakeContainers()
    service = make_service(config, client, containers=containers)
    changes: list[Change] = []
    service.subscribe(changes.append)
    assert service.snapshot().servers["alpha"] == ServerActions("alpha")

    task = asyncio.create_task(service.migrate("alpha"))
    await wait_for(lambda: service.running_migration("alpha") is not None
                   and service.running_migration("alpha").pid is not None)
    running = service.snapshot().servers["alpha"].migration
    assert running is not None and running.plan.target == "app" and running.pid_known
    assert running.state == "running"
    with pytest.raises(dataclasses.FrozenInstanceError):
        running.state = "done"  # type: ignore[misc]
    with pytest.raises(TypeError):
        service.snapshot().servers["alpha"] = ServerActions("alpha")  # type: ignore[index]
    service.cancel_migration("alpha")
    migrated = await asyncio.wait_for(task, 10)
    restarted = await service.restart("alpha", "abc123")

    entry = service.snapshot().servers["alpha"]
    assert entry.migration is None
    assert entry.migrate is migrated and entry.restart is restarted
    assert entry.test_login is None
    assert changes and all(c == Change("actions", "alpha") for c in changes)


async def test_an_exception_escaping_an_action_still_ends_its_audit_record(tmp_path: Path):
    """The intent is never left alone by a bug: an "error" outcome names the type only."""
    config = action_config(tmp_path)
    audit = AuditLog(config.console.audit_log, user="tester", hostname="console-box")
    with pytest.raises(ZeroDivisionError):
        async with audited(audit, "restart", "alpha", "crm-backend-1", container_id="x"):
            raise ZeroDivisionError(f"the value {PASSWORD} must never be written")
    intent, outcome = audit_records(config)
    assert (intent["phase"], outcome["phase"]) == ("intent", "outcome")
    assert outcome["id"] == intent["id"] and outcome["outcome"] == "error"
    assert outcome["detail"] == "failed: ZeroDivisionError" and outcome["ok"] is False
    assert PASSWORD not in config.console.audit_log.read_text()


async def test_a_cancelled_action_gets_a_cancelled_outcome_with_its_fields(tmp_path: Path):
    config = action_config(tmp_path)
    audit = AuditLog(config.console.audit_log, user="tester", hostname="console-box")
    entered = asyncio.Event()

    async def action() -> None:
        async with audited(audit, "migrate", "alpha", "app") as record:
            record.on_cancel = lambda: {"exit_status": 143, "detail": "stopped waiting"}
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(action())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _, outcome = audit_records(config)
    assert outcome["outcome"] == "cancelled" and outcome["exit_status"] == 143
    assert outcome["detail"] == "stopped waiting"


async def test_no_migration_configured_is_refused(tmp_path: Path):
    config = action_config(tmp_path)
    config = dataclasses.replace(config, servers=(dataclasses.replace(config.servers[0],
                                                                      migrate=None),))
    with pytest.raises(ActionRefused, match="no migration is configured for alpha"):
        await make_service(config).migrate("alpha")


async def test_plan_says_what_runs_where(tmp_path: Path):
    service = make_service(action_config(tmp_path, command=("alembic", "upgrade", "head it")))
    plan = service.plan("alpha")
    assert plan is not None
    assert plan.command_text == "alembic upgrade 'head it'"
    assert plan.where == "in container app on alpha (docker exec)"


# --------------------------------------------------------------------------- migrate (host)


async def test_host_migration_separates_streams_and_reports_exit(tmp_path: Path):
    script = "echo out1; echo err1 >&2; printf 'no newline'; exit 4"
    config = action_config(tmp_path, container=None, command=("sh", "-c", script))
    service = make_service(config)
    seen: list[OutputLine] = []
    result = await asyncio.wait_for(service.migrate("alpha", seen.append), 20)
    assert result.exit_status == 4 and result.target == "host"
    lines = {(x.stream, x.text) for x in seen}
    assert {("stdout", "out1"), ("stderr", "err1"), ("stdout", "no newline")} <= lines


async def test_host_migration_cancel_kills_the_command_and_its_children(tmp_path: Path):
    marker = f"ops-test-{os.getpid()}-{time.monotonic_ns()}"
    script = f"echo started; sleep 300 & exec sleep 301 # {marker}"
    config = action_config(tmp_path, container=None, command=("sh", "-c", script))
    service = make_service(config)
    seen: list[OutputLine] = []
    task = asyncio.create_task(service.migrate("alpha", seen.append))
    await wait_for(lambda: any(x.text == "started" for x in seen), timeout=20)
    assert service.cancel_migration("alpha")
    result = await asyncio.wait_for(task, 20)
    assert result.exit_status == 143 and "cancelled" in result.detail
    await asyncio.sleep(0.3)
    leftover = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


# --------------------------------------------------------------------------- test-login


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("OPS_LOGIN_USER", "admin@example.com")
    monkeypatch.setenv("OPS_LOGIN_PASSWORD", PASSWORD)


async def test_login_accepted_reports_claims_and_expiry(tmp_path: Path, creds):
    async with LoginServer(good_login) as server:
        config = login_config(tmp_path, server.url)
        result = await make_service(config).test_login("alpha")
    assert server.requests == [{"email": "admin@example.com", "password": PASSWORD}]
    assert result.ok and result.klass == "accepted" and result.status == 200
    assert result.latency_ms is not None and result.latency_ms >= 0
    token = result.token
    assert token is not None
    assert (token.alg, token.iss, token.sub) == ("HS256", "crm-backend", "admin@example.com")
    assert token.iat is not None and token.exp is not None
    assert 14 * 60 < token.time_left() <= 15 * 60
    assert ("role", "admin") in token.claims
    assert result.token_preview.endswith("…") and len(result.token_preview) == 13
    assert result.signature is None


@pytest.mark.parametrize(("status", "klass"), [
    (401, "rejected_401"), (403, "forbidden"), (502, "proxy_502"), (500, "app_5xx"),
    (503, "app_5xx"), (404, "unexpected_status"),
])
async def test_login_classification_by_status(tmp_path: Path, creds, status: int, klass: str):
    async with LoginServer(lambda body: (status, b'{"detail": "no"}')) as server:
        result = await make_service(login_config(tmp_path, server.url)).test_login("alpha")
    assert (result.ok, result.klass, result.status) == (False, klass, status)


async def test_login_refused_when_nothing_listens(tmp_path: Path, creds):
    async with LoginServer(good_login) as server:
        url = server.url
    result = await make_service(login_config(tmp_path, url)).test_login("alpha")
    assert result.klass == "refused" and result.status is None


async def test_login_timeout(tmp_path: Path, creds):
    async with LoginServer(lambda body: None) as server:
        config = login_config(tmp_path, server.url, timeout=0.3)
        result = await make_service(config).test_login("alpha")
    assert result.klass == "timeout" and "0.3" in result.reason


async def test_login_2xx_without_token(tmp_path: Path, creds):
    async with LoginServer(lambda body: (200, b'{"ok": true}')) as server:
        result = await make_service(login_config(tmp_path, server.url)).test_login("alpha")
    assert not result.ok and result.klass == "no_token"


async def test_missing_credential_variable_is_named_and_nothing_is_sent(tmp_path: Path,
                                                                        monkeypatch):
    monkeypatch.setenv("OPS_LOGIN_USER", "admin@example.com")
    monkeypatch.delenv("OPS_LOGIN_PASSWORD", raising=False)
    async with LoginServer(good_login) as server:
        config = login_config(tmp_path, server.url)
        with pytest.raises(ActionRefused, match="OPS_LOGIN_PASSWORD is not set"):
            await make_service(config).test_login("alpha")
    assert server.requests == []
    assert [r["phase"] for r in audit_records(config)] == ["refused"]


async def test_password_and_token_never_reach_audit_or_result(tmp_path: Path, creds):
    token_seen: list[str] = []

    def echo(body: dict) -> tuple[int, bytes]:
        token = issue_token()
        token_seen.append(token)
        return 200, json.dumps({"access_token": token, "echo": body}).encode()

    async with LoginServer(echo) as server:
        config = login_config(tmp_path, server.url)
        result = await make_service(config).test_login("alpha")
    text = config.console.audit_log.read_text()
    assert PASSWORD not in text and token_seen[0] not in text
    assert PASSWORD not in repr(result) and token_seen[0] not in repr(result)
    records = audit_records(config)
    assert [r["phase"] for r in records] == ["intent", "outcome"]
    assert records[1]["klass"] == "accepted" and records[1]["status"] == 200


async def test_error_bodies_that_echo_the_password_are_scrubbed(tmp_path: Path, creds):
    def echo_422(body: dict) -> tuple[int, bytes]:
        return 422, json.dumps({"detail": [{"input": body}]}).encode()

    async with LoginServer(echo_422) as server:
        result = await make_service(login_config(tmp_path, server.url)).test_login("alpha")
    assert PASSWORD not in result.body_preview and "•••" in result.body_preview


async def test_signature_verified_against_every_place(tmp_path: Path, creds,
                                                      client: FakeDockerClient):
    env_file = tmp_path / "crm.env"
    env_file.write_text(f"JWT_SECRET={SECRET}\n")
    client.daemon.add("crm-backend-1", {"JWT_SECRET": SECRET})

    async with LoginServer(good_login) as server:
        config = login_config(tmp_path, server.url, verify_with_secret="JWT_SECRET")
        config = dataclasses.replace(config, servers=(dataclasses.replace(
            config.servers[0], secrets=SecretsConfig(env_files=(str(env_file),),
                                                     containers=("crm-backend-1",))),))
        service = make_service(config, client)
        valid = await service.test_login("alpha")
        env_file.write_text("JWT_SECRET=the-file-was-edited-but-the-backend-not-recreated\n")
        drift = await service.test_login("alpha")
        env_file.unlink()
        client.daemon.docs.clear()
        missing = await service.test_login("alpha")

    assert valid.ok and valid.signature is not None and valid.signature.verdict == "valid"
    assert valid.signature.text.startswith("signature valid")
    assert not drift.ok and drift.signature is not None
    assert drift.signature.text.startswith("signature INVALID: the secret differs")
    assert str(env_file) in drift.signature.text
    assert "valid with container:crm-backend-1" in drift.signature.text
    assert missing.signature is not None and missing.signature.verdict == "unavailable"
    assert "not found" in missing.signature.text
    text = config.console.audit_log.read_text()
    assert SECRET not in text and "the-file-was-edited" not in text
    assert [r.get("signature") for r in audit_records(config) if r["phase"] == "outcome"] \
        == ["valid", "invalid", "unavailable"]


async def test_default_secret_reader_uses_env_files_and_container_env(tmp_path: Path,
                                                                      creds,
                                                                      client: FakeDockerClient):
    env_file = tmp_path / "app.env"
    env_file.write_text(f"JWT_SECRET='{SECRET}'\nOTHER=1\n")
    client.daemon.add("crm-backend-1", {"PATH": "/bin",
                                       "JWT_SECRET": "not-the-same-secret-at-all"})
    async with LoginServer(good_login) as server:
        config = login_config(tmp_path, server.url, verify_with_secret="JWT_SECRET")
        config = dataclasses.replace(config, servers=(dataclasses.replace(
            config.servers[0], secrets=SecretsConfig(env_files=(str(env_file),),
                                                     containers=("crm-backend-1",))),))
        result = await make_service(config, client).test_login("alpha")
    assert result.signature is not None and result.signature.verdict == "invalid"
    assert result.signature.places == ((str(env_file), "valid"),
                                       ("container:crm-backend-1", "invalid"))


class DownHost(LocalHost):
    """A server whose link never comes up (still "connecting")."""

    def __init__(self, server: ServerConfig) -> None:
        super().__init__(server)
        self._init_status(ConnectionStatus(ConnState.CONNECTING, "ssh handshake"))
        self._up_event.clear()


async def test_a_server_that_never_comes_up_fails_clearly(tmp_path: Path, creds, monkeypatch):
    monkeypatch.setattr("console.engine.actions.service.CONNECT_WAIT", 0.2)
    config = login_config(tmp_path, "http://127.0.0.1:9/login")
    login = dataclasses.replace(config.servers[0].test_login, from_="server")
    server = dataclasses.replace(config.servers[0], host="10.0.0.1", test_login=login)
    config = dataclasses.replace(config, servers=(server,))
    service = ActionService(config, {"alpha": DownHost(server)},
                            audit=AuditLog(config.console.audit_log))
    result = await asyncio.wait_for(service.test_login("alpha"), 5)
    assert result.klass == "unreachable" and "connecting" in result.reason
    migration = await asyncio.wait_for(service.migrate("alpha"), 5)
    assert not migration.ok and "could not start" in migration.detail
    assert [r.get("outcome") for r in audit_records(config) if r["phase"] != "intent"] == [
        "failed", "error"]


def test_classify_login_status_table():
    assert classify_login_status(201, True)[0] == "accepted"
    assert classify_login_status(302, False)[0] == "redirect"
    assert "502" in classify_login_status(502, False)[1]


def test_inspect_token_without_verification_and_bad_tokens():
    info = inspect_token(issue_token(secret="whatever-else-entirely-0123456789abcdef"))
    assert info.sub == "admin@example.com" and not info.expired
    expired = inspect_token(issue_token(exp=int(time.time()) - 60))
    assert expired.expired and expired.time_left() < 0
    with pytest.raises(ValueError, match="not a readable JWT"):
        inspect_token("not-a-jwt")


def test_verify_signature_verdicts():
    token = issue_token()
    assert verify_signature(token, SECRET).verdict == "valid"
    bad = verify_signature(token, SECRET + "x", "JWT_SECRET in .env")
    assert bad.text == "signature INVALID: the secret differs (JWT_SECRET in .env)"
    assert bad.place == "JWT_SECRET in .env"
    expired = issue_token(exp=int(time.time()) - 3600)
    assert verify_signature(expired, SECRET).verdict == "valid"  # the signature, not expiry
    unsigned = jwt.encode({"sub": "x"}, key=None, algorithm="none")
    assert verify_signature(unsigned, SECRET).verdict == "invalid"


def test_token_preview_is_short():
    assert token_preview("abcdefghijklmnopqrstuvwxyz") == "abcdefghijkl…"
    assert token_preview("short") == "…"


# --------------------------------------------------------------------------- kill -9


def test_kill_9_during_a_host_migration_leaves_the_intent(tmp_path: Path):
    """The console process dies mid-migration: the log parses and holds the intent."""
    audit_path = tmp_path / "audit.jsonl"
    marker = f"ops-kill9-{os.getpid()}-{time.monotonic_ns()}"
    code = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from console.config import Config, ConsoleSettings, MigrateAction, ServerConfig
        from console.engine.actions import ActionService
        from console.engine.hosts import LocalHost

        server = ServerConfig(name="alpha", migrate=MigrateAction(
            command=("sh", "-c", "echo started; sleep 120 # {marker}")))
        config = Config(ConsoleSettings(audit_log=Path({str(audit_path)!r})), (server,))
        service = ActionService(config, {{"alpha": LocalHost(server)}})

        def show(line):
            print(line.stream, line.text, flush=True)

        asyncio.run(service.migrate("alpha", show))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
        assert lines.get(timeout=30).strip() == "stdout started"
        proc.kill()
        proc.wait(timeout=10)
    finally:
        kill_leftovers(proc, marker)
    read = read_audit(audit_path)
    assert read.skipped_lines == 0
    (entry,) = read.entries
    assert entry.action == "migrate" and entry.outcome == "unknown"
    assert entry.intent["command"] == ["sh", "-c", f"echo started; sleep 120 # {marker}"]


def kill_leftovers(proc: subprocess.Popen, marker: str) -> None:
    """Kill what the dead console left behind: its migration, found by our unique marker."""
    if proc.poll() is None:
        proc.kill()
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    for pid in found.stdout.split():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(pid), signal.SIGKILL)


# --------------------------------------------------------------------------- helpers


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
