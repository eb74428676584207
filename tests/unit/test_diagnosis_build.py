"""from_snapshots: the live services' read models in, one frozen DiagnosisInput out; and the
diagnosis package's purity (no I/O, no Textual, no asyncio)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime

from console.config import Config, ConsoleSettings, SecretsConfig, ServerConfig
from console.engine.diagnosis import diagnose
from console.engine.diagnosis.build import MAX_LINES, from_snapshots
from console.models import ConnectionStatus, ConnState, ContainerInfo, HealthResult
from tests.support.diagnosis import (
    NGINX_REFUSED,
    NOW,
    SERVER,
    ago,
    container,
    endpoint,
    line,
    lines,
    nginx,
    secret,
)


@dataclass(frozen=True)
class _Containers:
    state: str
    containers: tuple[ContainerInfo, ...]


@dataclass(frozen=True)
class _Endpoint:
    server: str
    name: str
    url: str
    result: HealthResult | None
    changed_at: datetime | None


@dataclass(frozen=True)
class _Volume:
    name: str
    project: str | None
    ok: bool
    used_by: tuple[str, ...]
    detail: str


@dataclass(frozen=True)
class _Secrets:
    statuses: tuple[object, ...]
    volumes: tuple[_Volume, ...]


@dataclass(frozen=True)
class _Signature:
    verdict: str
    text: str
    places: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Login:
    klass: str
    ok: bool
    reason: str
    status: int | None
    checked_at: datetime
    signature: _Signature | None


def _config() -> Config:
    return Config(ConsoleSettings(), (ServerConfig(
        SERVER, compose_project="crm",
        secrets=SecretsConfig(env_files=("/srv/crm/.env",), required=("JWT_SECRET",))),
        ServerConfig("idle")))


def test_from_snapshots_copies_every_pane_and_diagnoses_incident_000() -> None:
    ep = endpoint("login api", "proxy_bad_gateway", 502)
    log = lines("crm-nginx-1", NGINX_REFUSED, "upstream_error", 5)
    inp = from_snapshots(
        _config(), NOW,
        connections={SERVER: ConnectionStatus(ConnState.UP, since=ago(600))},
        containers={SERVER: _Containers("ok", (container("crm-backend-1", "exited",
                                                         exit_code=1), nginx()))},
        endpoints=[_Endpoint(SERVER, ep.name, ep.url, ep.result, ep.since)],
        secrets={SERVER: _Secrets((secret("JWT_SECRET", "/srv/crm/.env", "present",
                                          fingerprint="a"),),
                                  (_Volume("crm_pgdata", "crm", True, ("crm-db-1",), ""),))},
        lines=[*log, line("crm-nginx-1", "old", age=3600), line("x", "other", server="idle")],
        logins={SERVER: _Login("accepted", True, "ok", 200, ago(30), _Signature(
            "valid", "signature valid", (("container crm-backend-1", "valid"),)))},
    )
    first, idle = inp.servers
    assert first.name == SERVER and idle.name == "idle"
    assert idle.connection.state is ConnState.CONNECTING and idle.containers_state == "connecting"
    assert len(first.log_lines) == 5  # the hour-old line is outside the window
    assert first.auth_counts == (("upstream_error", 5),)
    assert first.volumes[0].present and first.env_files == ("/srv/crm/.env",)
    assert first.required == ("JWT_SECRET",)
    assert first.login is not None and first.login.signature_places == (
        ("container:crm-backend-1", "valid"),)
    assert [f.id for f in diagnose(inp)] == ["backend_down_behind_proxy"]


def test_from_snapshots_bounds_the_lines_per_server() -> None:
    many = [line("b", f"line {i}", age=100, seq=i) for i in range(MAX_LINES + 50)]
    inp = from_snapshots(_config(), NOW, connections={}, containers={}, endpoints=[],
                         secrets={}, lines=many)
    kept = inp.servers[0].log_lines
    assert len(kept) == MAX_LINES and kept[-1].seq == MAX_LINES + 49


def test_the_rules_import_no_io_no_ui_and_no_asyncio() -> None:
    code = ("import sys, console.engine.diagnosis as d, console.engine.diagnosis.engine; "
            "bad = [m for m, mod in sys.modules.items() if mod is not None and ("
            "m.split('.')[0] in ('textual', 'rich', 'asyncio', 'docker', 'httpx', 'asyncssh', "
            "'socket') or m.startswith('console.ui'))]; "
            "print(','.join(sorted(bad)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
