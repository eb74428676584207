"""Fixed snapshots for the diagnosis tests: the incidents, written as the panes show them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from console.engine.diagnosis import (
    DiagnosisInput,
    Endpoint,
    Finding,
    LoginCheck,
    ServerInput,
    Volume,
    diagnose,
)
from console.models import (
    ConnectionStatus,
    ConnState,
    ContainerInfo,
    HealthResult,
    LogLine,
    SecretStatus,
    Severity,
)
from tests.support.clock import FROZEN_NOW

NOW = FROZEN_NOW
SERVER = "crm-prod"


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def container(name: str, state: str = "running", *, service: str | None = None,
              project: str | None = "crm", image: str = "crm/backend:1.4",
              health: str = "none", restarts: int = 0, exit_code: int | None = None,
              started: float = 3600.0, server: str = SERVER) -> ContainerInfo:
    if service is None:
        service = name.split("-")[1] if name.count("-") >= 2 else name
    return ContainerInfo(server=server, id=f"id-{name}", name=name, project=project,
                         service=service, state=state, health=health, restart_count=restarts,
                         started_at=ago(started), image=image, exit_code=exit_code)


def nginx(name: str = "crm-nginx-1", project: str | None = "crm") -> ContainerInfo:
    return container(name, service="nginx", project=project, image="nginx:1.27")


def endpoint(name: str, klass: str, status: int | None = None, *, url: str | None = None,
             reason: str = "", body: Any = None, cert_days: int | None = None,
             since: float = 240.0, server: str = SERVER) -> Endpoint:
    url = url or f"http://127.0.0.1:8080/{name.replace(' ', '-')}"
    raw = b"" if body is None else (body if isinstance(body, bytes) else
                                    json.dumps(body).encode())
    result = HealthResult(server=server, name=name, url=url, ok=klass == "ok", klass=klass,
                          reason=reason or f"{klass} reason", status=status, latency_ms=3.0,
                          checked_at=ago(2), cert_days_left=cert_days, body_preview=raw)
    return Endpoint(name, url, result, ago(since))


def line(source: str, text: str, rule: str | None = None, *, age: float = 30.0, seq: int = 0,
         server: str = SERVER) -> LogLine:
    severity = Severity.ERROR if rule else None
    return LogLine(server, source, ago(age), text, rule, severity, seq)


def lines(source: str, text: str, rule: str | None, count: int, *, age: float = 60.0,
          server: str = SERVER) -> list[LogLine]:
    return [line(source, text, rule, age=age - i, seq=i, server=server) for i in range(count)]


def secret(name: str, place: str, status: str, *, fingerprint: str | None = None,
           drift: bool = False, detail: str = "", server: str = SERVER) -> SecretStatus:
    ok = status == "present" and not drift
    return SecretStatus(server, name, place, status, ok, detail, fingerprint, drift)


def server(name: str = SERVER, *, conn: ConnState = ConnState.UP, conn_since: float = 3600,
           conn_detail: str = "", **parts: Any) -> ServerInput:
    parts.setdefault("env_files", ("/srv/crm/.env",))
    for key in ("containers", "endpoints", "secrets", "volumes", "log_lines"):
        if key in parts:
            parts[key] = tuple(parts[key])
    return ServerInput(name=name, connection=ConnectionStatus(conn, conn_detail, ago(conn_since)),
                       **parts)


def run(*servers: ServerInput) -> tuple[Finding, ...]:
    return diagnose(DiagnosisInput(tuple(servers), NOW))


def ids(findings: tuple[Finding, ...]) -> list[str]:
    return [f.id for f in findings]


def only(findings: tuple[Finding, ...], finding_id: str) -> Finding:
    matching = [f for f in findings if f.id == finding_id]
    assert len(matching) == 1, f"expected one {finding_id}, got {ids(findings)}"
    return matching[0]


NGINX_REFUSED = (
    '2026/11/24 07:56:01 [error] 29#29: *14 connect() failed (111: Connection refused) while '
    'connecting to upstream, client: 172.18.0.1, server: _, request: "POST /api/v1/auth/login '
    'HTTP/1.1", upstream: "http://backend:8000/api/v1/auth/login", host: "localhost:8080"')
NGINX_REFUSED_IP = NGINX_REFUSED.replace("http://backend:8000", "http://172.18.0.3:8000")
JWT_CRASH = "RuntimeError: CRITICAL: JWT_SECRET not configured"


def incident_000(**overrides: Any) -> ServerInput:
    """nginx up, the backend exited: every login is 502."""
    parts: dict[str, Any] = {
        "containers": [container("crm-backend-1", "exited", exit_code=1), nginx(),
                       container("crm-db-1", image="postgres:16")],
        "endpoints": [endpoint("login api", "proxy_bad_gateway", 502,
                               reason="nginx answered 502: proxy up, backend down"),
                      endpoint("home", "ok", 200)],
        "log_lines": lines("crm-nginx-1", NGINX_REFUSED, "upstream_error", 14),
    }
    parts.update(overrides)
    return server(**parts)


def incident_002(**overrides: Any) -> ServerInput:
    """JWT_SECRET missing in the env file: the backend crash-loops at startup."""
    parts: dict[str, Any] = {
        "containers": [container("crm-backend-1", "restarting", restarts=7, exit_code=1),
                       nginx()],
        "endpoints": [endpoint("login api", "proxy_bad_gateway", 502)],
        "secrets": [secret("JWT_SECRET", "/srv/crm/.env", "missing", detail="not set here"),
                    secret("JWT_SECRET", "container:crm-backend-1", "missing",
                           detail="not set here")],
        "log_lines": [*lines("crm-backend-1", JWT_CRASH, "secret_missing", 7),
                      *lines("crm-nginx-1", NGINX_REFUSED, "upstream_error", 5)],
        "required": ("JWT_SECRET",),
    }
    parts.update(overrides)
    return server(**parts)


def login(klass: str = "accepted", *, ok: bool = True, status: int | None = 200,
          signature: str | None = None, places: tuple[tuple[str, str], ...] = (),
          text: str = "") -> LoginCheck:
    return LoginCheck(klass=klass, ok=ok, reason=f"{klass} reason", checked_at=ago(60),
                      status=status, signature=signature, signature_text=text,
                      signature_places=places)


def volume(name: str, present: bool, used_by: tuple[str, ...] = ()) -> Volume:
    return Volume(name, present, "crm", used_by,
                  "declared in the compose file but absent from docker volume ls")
