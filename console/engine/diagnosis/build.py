"""``DiagnosisInput`` from the live services: the one module that knows their read models.

Everything else in the diagnosis sees only ``DiagnosisInput``. What is read of each service
is declared here as a small Protocol, so a renamed read model changes this file and no rule.
Log lines are bounded (the last ``MAX_LINES`` of each server within the window): the rules
need the recent past, and a diagnosis after every change event must stay cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from console.config import Config
from console.engine.diagnosis.model import (
    DiagnosisInput,
    Endpoint,
    LoginCheck,
    ServerInput,
    Volume,
)
from console.engine.fleet_sources.model import Alert
from console.models import (
    ConnectionStatus,
    ConnState,
    ContainerInfo,
    HealthResult,
    LogLine,
    SecretStatus,
)

if TYPE_CHECKING:
    from console.engine.fleet import FleetView

__all__ = ["MAX_LINES", "from_fleet", "from_snapshots"]

MAX_LINES = 2000  # per server


class ContainersPart(Protocol):
    @property
    def state(self) -> str: ...
    @property
    def containers(self) -> tuple[ContainerInfo, ...]: ...


class EndpointLike(Protocol):
    @property
    def server(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def result(self) -> HealthResult | None: ...
    @property
    def changed_at(self) -> datetime | None: ...


class VolumeLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def project(self) -> str | None: ...
    @property
    def ok(self) -> bool: ...
    @property
    def used_by(self) -> tuple[str, ...]: ...
    @property
    def detail(self) -> str: ...


class SecretsPart(Protocol):
    @property
    def statuses(self) -> tuple[SecretStatus, ...]: ...
    @property
    def volumes(self) -> Sequence[VolumeLike]: ...


class SignatureLike(Protocol):
    @property
    def verdict(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def places(self) -> tuple[tuple[str, str], ...]: ...


class LoginLike(Protocol):
    @property
    def klass(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def checked_at(self) -> datetime: ...
    @property
    def signature(self) -> SignatureLike | None: ...


def _place(place: str) -> str:
    """The test-login's 'container crm-backend-1' in the secrets pane's spelling."""
    if place.startswith("container "):
        return "container:" + place.removeprefix("container ")
    return place


def login_check(result: LoginLike | None) -> LoginCheck | None:
    if result is None:
        return None
    signature = result.signature
    return LoginCheck(
        klass=result.klass, ok=result.ok, reason=result.reason, checked_at=result.checked_at,
        status=result.status,
        signature=signature.verdict if signature is not None else None,
        signature_text=signature.text if signature is not None else "",
        signature_places=tuple((_place(p), v) for p, v in signature.places)
        if signature is not None else (),
    )


def _recent_lines(lines: Iterable[LogLine], server: str, cutoff: datetime) -> tuple[LogLine, ...]:
    mine = [line for line in lines if line.server == server and line.time >= cutoff]
    return tuple(mine[-MAX_LINES:])


def from_snapshots(
    config: Config,
    now: datetime,
    *,
    connections: Mapping[str, ConnectionStatus],
    containers: Mapping[str, ContainersPart],
    endpoints: Iterable[EndpointLike],
    secrets: Mapping[str, SecretsPart],
    lines: Sequence[LogLine],
    logins: Mapping[str, LoginLike | None] | None = None,
    window_s: int = 900,
    alerts: Sequence[Alert] = (),
) -> DiagnosisInput:
    """One frozen input from the services' current read models (no I/O)."""
    cutoff = now - timedelta(seconds=window_s)
    by_server: dict[str, list[Endpoint]] = {}
    for state in endpoints:
        by_server.setdefault(state.server, []).append(
            Endpoint(state.name, state.url, state.result, state.changed_at))
    servers: list[ServerInput] = []
    for server in config.servers:
        name = server.name
        part_c = containers.get(name)
        part_s = secrets.get(name)
        server_lines = _recent_lines(lines, name, cutoff)
        counts: dict[str, int] = {}
        for line in server_lines:
            if line.rule is not None:
                counts[line.rule] = counts.get(line.rule, 0) + 1
        servers.append(ServerInput(
            name=name,
            connection=connections.get(name, ConnectionStatus(ConnState.CONNECTING)),
            containers_state=part_c.state if part_c is not None else "connecting",
            containers=part_c.containers if part_c is not None else (),
            endpoints=tuple(by_server.get(name, ())),
            secrets=part_s.statuses if part_s is not None else (),
            volumes=tuple(Volume(v.name, v.ok, v.project, tuple(v.used_by), v.detail)
                          for v in (part_s.volumes if part_s is not None else ())),
            log_lines=server_lines,
            auth_counts=tuple(sorted(counts.items())),
            window_s=window_s,
            login=login_check((logins or {}).get(name)),
            env_files=server.secrets.env_files,
            required=server.secrets.required,
            compose_project=server.compose_project,
        ))
    return DiagnosisInput(tuple(servers), now, alerts=tuple(alerts))


def from_fleet(fleet: FleetView, now: datetime, window_s: int = 900,
               lines: Sequence[LogLine] | None = None) -> DiagnosisInput:
    """``from_snapshots`` over a running ``Fleet``'s services.

    ``lines``: the recent log lines when the caller keeps them itself (the TUI's strip keeps
    the last ones of each server from the log batches, cheaper than copying every buffer).
    A fleet lacking a service (the UI shell's test fleets) gives that service's part empty.
    """
    containers = fleet.containers
    health = fleet.health
    secrets = fleet.secrets
    logs = fleet.logs
    actions = fleet.actions
    sources = fleet.fleet_sources
    if lines is None:
        lines = logs.buffered() if logs is not None else []
    return from_snapshots(
        fleet.config, now,
        connections={name: host.status for name, host in fleet.hosts.items()},
        containers=containers.snapshot().servers if containers is not None else {},
        endpoints=health.snapshot().endpoints if health is not None else (),
        secrets=secrets.snapshot().servers if secrets is not None else {},
        lines=lines,
        logins={name: entry.test_login for name, entry in actions.snapshot().servers.items()}
        if actions is not None else {},
        window_s=window_s,
        alerts=sources.snapshot().alerts if sources is not None else (),
    )
