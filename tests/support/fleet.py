"""A fake Fleet with every service, and the fixed services the panes are shown from.

``FakeFleet`` holds the real containers, actions and fleet-sources services over fake
hosts and fake Docker daemons; with ``every_pane`` the other panes get fixed data.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from console.config import Config, ConsoleSettings, ServerConfig
from console.engine.actions import ActionService, ActionsSnapshot
from console.engine.audit import AuditLog
from console.engine.containers import ContainerService
from console.engine.fleet_sources import FleetSourceService
from console.engine.health import EndpointState, HealthSnapshot
from console.engine.logs import INITIAL_WINDOW_S, LogService
from console.engine.secrets import SecretsSnapshot, ServerSecrets, VolumeStatus
from console.models import HealthResult, SecretStatus
from tests.support.clock import FROZEN_NOW
from tests.support.docker import FakeDaemon, fake_clients, standard_daemons
from tests.support.hosts import FakeHost


def make_config(*servers: ServerConfig, read_only: bool = False,
                theme: str = "ops-dark") -> Config:
    servers = servers or (ServerConfig(name="alpha", host="10.0.0.1", compose_project="crm"),
                          ServerConfig(name="bravo", host="10.0.0.2", protected=True))
    return Config(console=ConsoleSettings(read_only=read_only, theme=theme,
                                          audit_log=Path("/nonexistent/audit.jsonl")),
                  servers=tuple(servers), source=Path("/fake/config.toml"))


class BareFleet:
    """A ``FleetView`` holding only what a test gives it; every other service is None.

    None is how the UI is shown a fleet without a service (a pane tested alone), so a
    reader that forgets to allow for it fails here, not only in production.
    """

    def __init__(self, config: Config | None = None, *, hosts: dict[str, Any] | None = None,
                 containers: Any = None, secrets: Any = None, health: Any = None,
                 actions: Any = None, logs: Any = None, fleet_sources: Any = None) -> None:
        self.config = config or make_config()
        self.hosts: dict[str, Any] = hosts if hosts is not None else {}
        self.containers = containers
        self.secrets = secrets
        self.health = health
        self.actions = actions
        self.logs = logs
        self.fleet_sources = fleet_sources
        self.activated: list[str] = []

    async def start(self) -> None:
        return None

    async def activate(self, server: str) -> None:
        self.activated.append(server)

    async def stop(self) -> None:
        return None


class FakeFleet(BareFleet):
    """What the UI needs of a Fleet: config, hosts, services, start/stop, a containers service.

    The containers and actions services are real (over fake hosts and daemons). With
    ``every_pane`` the other panes get fixed data (``StaticHealth``, ``StaticSecrets``,
    ``frozen_logs``); without it they get no service at all, which is how the shell is
    tested alone.
    """

    def __init__(self, config: Config | None = None,
                 hosts: dict[str, FakeHost] | None = None,
                 daemons: dict[str, FakeDaemon] | None = None,
                 every_pane: bool = False, audit_log: Path | None = None) -> None:
        config = config or make_config()
        super().__init__(config, hosts=hosts or {
            s.name: FakeHost(s.name) for s in config.servers})
        self.daemons = daemons if daemons is not None else standard_daemons()
        clients = fake_clients(self.daemons)
        self.containers = ContainerService(self.config, self.hosts, clients=clients)
        # The real actions service, as in a Fleet: every restart is audited, here to
        # ``audit_log`` (default: a file in a temporary directory made on the first record).
        self.audit_log = audit_log or Path(tempfile.gettempdir()) / \
            f"fake-fleet-{uuid.uuid4().hex}" / "audit.jsonl"
        self.actions = ActionService(self.config, self.hosts, containers=self.containers,
                                     clients=clients,
                                     audit=AuditLog(self.audit_log, user="tester",
                                                    hostname="console-box"))
        # The real fleet-sources service: with no [[prometheus]] block it fetches nothing.
        self.fleet_sources = FleetSourceService(self.config)
        self.services: list[Any] = [self.containers, self.actions]
        if every_pane:
            self.health = StaticHealth()
            self.secrets = StaticSecrets()
            self.logs = frozen_logs(self.config, self.hosts)
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True
        for host in self.hosts.values():
            await host.start()
        for service in self.services:
            await service.start()

    async def refresh(self) -> None:
        for service in self.services:
            await service.refresh()

    async def stop(self) -> None:
        self.stopped = True
        for service in reversed(self.services):
            await service.stop()
        for host in self.hosts.values():
            await host.close()


# --------------------------------------------------------------------------- other panes
#
# The snapshots show every pane as the operator sees it, from fixed data: a health service
# and a secrets service that only hold states, and the real LogService fed lines with fixed
# times and asked about "now" at the frozen clock.


class StaticService:
    """What a pane needs of a service that never changes: subscribe and a snapshot."""

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        return lambda: None

    def request_refresh(self, server: str | None = None) -> None:
        return None

    async def start(self) -> None:
        return None

    async def refresh(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class NoActions(StaticService):
    """An actions service that has done nothing yet: tests add the one action they watch."""

    def snapshot(self) -> ActionsSnapshot:
        return ActionsSnapshot(servers={})


class NoContainers(StaticService):
    """A ContainerService with nothing listed and nothing followed: a LogService over it
    reads only what a test feeds it, or the host files it is configured with."""

    def snapshot(self) -> dict[str, Any]:
        return {}


def probe_state(server: str, name: str, klass: str, *, ok: bool, status: int | None,
           reason: str, latency: float | None, history: tuple[float | None, ...],
           changed_s: int) -> EndpointState:
    url = f"http://127.0.0.1:8080/{name}"
    result = HealthResult(server=server, name=name, url=url, ok=ok, klass=klass,
                          reason=reason, status=status, latency_ms=latency,
                          checked_at=FROZEN_NOW - timedelta(seconds=3))
    return EndpointState(server=server, name=name, url=url, from_="server", discovered=False,
                         result=result, latencies=history, runs=len(history),
                         changed_at=FROZEN_NOW - timedelta(seconds=changed_s))


class StaticHealth(StaticService):
    """Three probes: one fine, one a 502 from the proxy (incident 000), one timing out."""

    def __init__(self) -> None:
        self.states = [
            probe_state("alpha", "backend", "ok", ok=True, status=200, reason="200 OK in 7 ms",
                   latency=7.0, history=(6.0, 7.5, 9.0, 7.0), changed_s=4 * 3600),
            probe_state("alpha", "login via nginx", "proxy_bad_gateway", ok=False, status=502,
                   reason="nginx answered 502: backend unreachable", latency=3.1,
                   history=(8.0, 9.0, 3.0, 3.1), changed_s=95),
            probe_state("bravo", "backend", "read_timeout", ok=False, status=None,
                   reason="no answer within 3 s", latency=None,
                   history=(12.0, None, None), changed_s=40),
        ]

    def snapshot(self) -> HealthSnapshot:
        return HealthSnapshot(endpoints=tuple(self.states))


def secret_status(server: str, name: str, place: str, status: str, *, detail: str = "",
            drift: bool = False) -> SecretStatus:
    return SecretStatus(server=server, name=name, place=place, status=status,
                        ok=status == "present", detail=detail, drift=drift)


class StaticSecrets(StaticService):
    """A secret missing after a deploy (incident 003) and JWT_SECRET drifting between servers."""

    def __init__(self) -> None:
        alpha_env, alpha_box = "/srv/crm/.env", "container:crm-backend-1"
        bravo_env = "/srv/crm2/.env"
        self.servers = {
            "alpha": ServerSecrets(
                server="alpha", state="ok", places=(alpha_env, alpha_box),
                statuses=(
                    secret_status("alpha", "JWT_SECRET", alpha_env, "present", drift=True),
                    secret_status("alpha", "JWT_SECRET", alpha_box, "present", drift=True),
                    secret_status("alpha", "SERVICE_SECRET", alpha_env, "present"),
                    secret_status("alpha", "SERVICE_SECRET", alpha_box, "missing",
                            detail="not in the container's environment"),
                ),
                volumes=(VolumeStatus("alpha", "crm_dbdata", "crm", "present", True,
                                      used_by=("crm-backend-1",)),),
                since=FROZEN_NOW, checked_at=FROZEN_NOW - timedelta(seconds=10)),
            "bravo": ServerSecrets(
                server="bravo", state="ok", places=(bravo_env,),
                statuses=(
                    secret_status("bravo", "JWT_SECRET", bravo_env, "present", drift=True),
                    secret_status("bravo", "SERVICE_SECRET", bravo_env, "weak",
                            detail="a known placeholder"),
                ),
                since=FROZEN_NOW, checked_at=FROZEN_NOW - timedelta(seconds=10)),
        }

    drifting = {"JWT_SECRET": "A = alpha crm/.env, alpha crm-backend-1; B = bravo crm2/.env"}

    def snapshot(self) -> SecretsSnapshot:
        return SecretsSnapshot(dict(self.servers), dict(self.drifting))


class FrozenLogService(LogService):
    """The real log pipeline, asked for counts and rates at the frozen clock."""

    def rule_counts(self, window_s: float = INITIAL_WINDOW_S, server: str | None = None,
                    now: datetime | None = None) -> dict[str, int]:
        return super().rule_counts(window_s, server, now or FROZEN_NOW)

    def rate_per_minute(self, minutes: int = 30, server: str | None = None,
                        now: datetime | None = None) -> list[int]:
        return super().rate_per_minute(minutes, server, now or FROZEN_NOW)


AUTH_LINES = [
    ("alpha", "crm-nginx-1", 300, '172.18.0.1 - - "POST /api/v1/auth/login HTTP/1.1" 502 157'),
    ("alpha", "crm-backend-1", 240, "[AUTH] Login failed: invalid password for ana@example.com"),
    ("alpha", "crm-backend-1", 200, "[AUTH] JWT expired for user 17"),
    ("bravo", "crm2-backend-1", 150, "RuntimeError: JWT_SECRET not configured"),
    ("alpha", "crm-backend-1", 90, "[AUTH] Login failed: user not found: [bold]x[/bold]"),
    ("alpha", "crm-nginx-1", 30, '172.18.0.1 - - "POST /api/v1/auth/login HTTP/1.1" 401 43'),
]


def frozen_logs(config: Config, hosts: dict[str, Any]) -> FrozenLogService:
    """A LogService holding AUTH_LINES (seconds before the frozen clock), following nothing."""
    service = FrozenLogService(config, hosts, containers=StaticService())
    for server, source, ago, text in AUTH_LINES:
        service.feed(server, source, [text], times=[FROZEN_NOW - timedelta(seconds=ago)])
    return service
