"""Fakes for the containers service and the UI shell: a Host, a docker client, a Fleet.

The fake docker client behaves like the SDK where the service depends on it: the low-level
``api.containers`` / ``api.inspect_container`` / ``api.restart`` calls, and an ``events()``
stream that *blocks* its reading thread until an event is pushed or it is closed from
another thread, exactly like ``CancellableStream``.
"""

from __future__ import annotations

import copy
import queue
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.config import Config, ConsoleSettings, ServerConfig
from console.engine.actions import ActionService
from console.engine.audit import AuditLog
from console.engine.containers import (
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    ContainerService,
)
from console.engine.dockerapi import DockerClients
from console.engine.fleet_sources import FleetSourceService
from console.engine.health import EndpointState, HealthSnapshot
from console.engine.host_api import Host, HostUnavailable, StatusListener
from console.engine.listeners import Listeners
from console.engine.logs import INITIAL_WINDOW_S, LogService
from console.engine.secrets import SecretsSnapshot, ServerSecrets, VolumeStatus
from console.models import (
    CommandResult,
    ConnectionStatus,
    ConnState,
    HealthResult,
    SecretStatus,
)

FROZEN_NOW = datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC)


class FakeNotFound(Exception):
    """Shaped like docker.errors.NotFound for the service's 404 check."""

    class _Response:
        status_code = 404

    response = _Response()


class FakeHost(Host):
    """A host whose connection state the test drives with ``set_state``."""

    def __init__(self, name: str, state: ConnState = ConnState.UP, detail: str = "",
                 since: datetime | None = None, retry_at: datetime | None = None) -> None:
        self.name = name
        self._status = ConnectionStatus(state, detail, since or FROZEN_NOW, retry_at)
        self._listeners: Listeners[ConnectionStatus] = Listeners(f"fake host {name}")
        self.started = False
        self.closed = False

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    def set_state(self, state: ConnState, detail: str = "", since: datetime | None = None,
                  retry_at: datetime | None = None) -> None:
        self._status = ConnectionStatus(state, detail, since or datetime.now(UTC), retry_at)
        self._listeners.emit(self._status)

    def add_status_listener(self, listener: StatusListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    async def start(self) -> None:
        self.started = True

    async def wait_up(self, timeout: float | None = None) -> bool:
        return self._status.is_up

    async def close(self) -> None:
        self.closed = True

    async def run(self, argv: Sequence[str], *, timeout: float | None = 30.0,
                  input: bytes | None = None) -> CommandResult:
        raise HostUnavailable("fake host runs nothing")

    def stream(self, argv: Sequence[str]) -> AsyncIterator[bytes]:
        raise HostUnavailable("fake host streams nothing")

    async def read_file(self, path: str, *, max_bytes: int = 4 * 1024 * 1024) -> bytes:
        raise FileNotFoundError(path)

    async def docker_base_url(self) -> str:
        if not self._status.is_up:
            raise HostUnavailable(f"{self.name} is down")
        return f"unix:///fake/{self.name}.sock"

    async def open_tcp(self, host: str, port: int) -> Any:
        raise HostUnavailable("fake host opens no TCP")


def inspect_doc(cid: str, name: str, *, project: str | None = "crm", service: str | None = None,
                state: str = "running", health: str | None = "healthy", restarts: int = 0,
                started: datetime | None = None, image: str = "ops-lab-app:1",
                exit_code: int = 0) -> dict[str, Any]:
    """A ``docker inspect`` document with just the fields the service reads."""
    labels = {}
    if project:
        labels[COMPOSE_PROJECT_LABEL] = project
    if service:
        labels[COMPOSE_SERVICE_LABEL] = service
    started = started or FROZEN_NOW - timedelta(hours=3, minutes=5)
    state_doc: dict[str, Any] = {
        "Status": state,
        "ExitCode": exit_code,
        "StartedAt": started.strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
    }
    if health:
        state_doc["Health"] = {"Status": health}
    return {"Id": cid, "Name": f"/{name}", "Image": "sha256:" + "0" * 64,
            "RestartCount": restarts, "State": state_doc,
            "Config": {"Image": image, "Labels": labels}}


class FakeEventStream:
    """Blocks the reading thread like the SDK's stream; ``close()`` ends it from any thread."""

    _END = object()

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self.closed = threading.Event()

    def push(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def end(self) -> None:
        """The daemon went away: the stream stops without anyone closing it."""
        self._queue.put(self._END)

    def close(self) -> None:
        self.closed.set()
        self._queue.put(self._END)

    def __iter__(self) -> FakeEventStream:
        return self

    def __next__(self) -> Any:
        item = self._queue.get()
        if item is self._END:
            raise StopIteration
        return item


class FakeAPI:
    def __init__(self, daemon: FakeDaemon) -> None:
        self._daemon = daemon

    def containers(self, all: bool = False, filters: dict[str, Any] | None = None
                   ) -> list[dict[str, Any]]:
        self._daemon.calls.append(("containers", filters))
        self._daemon.check()
        docs = list(self._daemon.docs.values())
        label = (filters or {}).get("label")
        if label:
            key, _, value = label.partition("=")
            docs = [d for d in docs if d["Config"]["Labels"].get(key) == value]
        return [{"Id": d["Id"], "Names": [d["Name"]]} for d in docs]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        self._daemon.calls.append(("inspect", cid))
        self._daemon.check()
        if cid not in self._daemon.docs:
            raise FakeNotFound(cid)
        return copy.deepcopy(self._daemon.docs[cid])

    def restart(self, cid: str, timeout: int = 10) -> None:
        self._daemon.calls.append(("restart", cid))
        self._daemon.check()
        gate = self._daemon.restart_gate
        if gate is not None:
            gate.wait(10)
        doc = self._daemon.docs[cid]
        doc["State"]["StartedAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        doc["State"]["Status"] = "running"
        if "Health" in doc["State"]:
            doc["State"]["Health"]["Status"] = "starting"


class FakeDockerClient:
    def __init__(self, daemon: FakeDaemon) -> None:
        self.api = FakeAPI(daemon)
        self._daemon = daemon
        self.closed = False

    def events(self, decode: bool = False, filters: dict[str, Any] | None = None
               ) -> FakeEventStream:
        self._daemon.check()
        stream = FakeEventStream()
        self._daemon.streams.append(stream)
        self._daemon.event_filters.append(filters)
        return stream

    def close(self) -> None:
        self.closed = True


class FakeDaemon:
    """One server's Docker: containers by id, open event streams, a switch to break it."""

    def __init__(self, docs: list[dict[str, Any]] | None = None) -> None:
        self.docs: dict[str, dict[str, Any]] = {d["Id"]: d for d in docs or []}
        self.streams: list[FakeEventStream] = []
        self.event_filters: list[Any] = []
        self.calls: list[tuple[str, Any]] = []
        self.broken: Exception | None = None
        self.restart_gate: threading.Event | None = None

    def check(self) -> None:
        if self.broken is not None:
            raise self.broken

    def emit(self, cid: str, action: str) -> None:
        for stream in self.streams:
            if not stream.closed.is_set():
                stream.push({"Type": "container", "Action": action, "id": cid,
                             "Actor": {"ID": cid, "Attributes": {}}})

    @property
    def live_stream(self) -> FakeEventStream | None:
        live = [s for s in self.streams if not s.closed.is_set()]
        return live[-1] if live else None


def fake_clients(daemons: dict[str, FakeDaemon]) -> DockerClients:
    """A DockerClients whose factory maps ``unix:///fake/<server>.sock`` to that daemon."""

    def factory(base_url: str, timeout: float) -> FakeDockerClient:
        server = Path(base_url.removeprefix("unix://")).stem
        daemon = daemons[server]
        daemon.check()
        return FakeDockerClient(daemon)

    return DockerClients(factory=factory)


def make_config(*servers: ServerConfig, read_only: bool = False,
                theme: str = "ops-dark") -> Config:
    servers = servers or (ServerConfig(name="alpha", host="10.0.0.1", compose_project="crm"),
                          ServerConfig(name="bravo", host="10.0.0.2", protected=True))
    return Config(console=ConsoleSettings(read_only=read_only, theme=theme,
                                          audit_log=Path("/nonexistent/audit.jsonl")),
                  servers=tuple(servers), source=Path("/fake/config.toml"))


def standard_daemons() -> dict[str, FakeDaemon]:
    """Deterministic data for the shell tests and snapshots."""
    alpha = FakeDaemon([
        inspect_doc("a1" * 32, "crm-backend-1", service="backend", health="healthy"),
        inspect_doc("a2" * 32, "crm-nginx-1", service="nginx", health=None, restarts=2,
                    started=FROZEN_NOW - timedelta(days=2, hours=4), image="ops-lab-app:1"),
        inspect_doc("a3" * 32, "crm-worker-1", service="worker", state="exited", health=None,
                    exit_code=137),
    ])
    bravo = FakeDaemon([
        inspect_doc("b1" * 32, "crm2-backend-1", project="crm2", service="backend",
                    health="unhealthy", restarts=5,
                    started=FROZEN_NOW - timedelta(minutes=7)),
        inspect_doc("b2" * 32, "loose-container", project=None, health="starting",
                    image="busybox:latest", started=FROZEN_NOW - timedelta(seconds=20)),
    ])
    return {"alpha": alpha, "bravo": bravo}


class FakeFleet:
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
        self.config = config or make_config()
        self.hosts: dict[str, FakeHost] = hosts or {
            s.name: FakeHost(s.name) for s in self.config.servers}
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


def _probe(server: str, name: str, klass: str, *, ok: bool, status: int | None,
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
            _probe("alpha", "backend", "ok", ok=True, status=200, reason="200 OK in 7 ms",
                   latency=7.0, history=(6.0, 7.5, 9.0, 7.0), changed_s=4 * 3600),
            _probe("alpha", "login via nginx", "proxy_bad_gateway", ok=False, status=502,
                   reason="nginx answered 502: backend unreachable", latency=3.1,
                   history=(8.0, 9.0, 3.0, 3.1), changed_s=95),
            _probe("bravo", "backend", "read_timeout", ok=False, status=None,
                   reason="no answer within 3 s", latency=None,
                   history=(12.0, None, None), changed_s=40),
        ]

    def snapshot(self) -> HealthSnapshot:
        return HealthSnapshot(endpoints=tuple(self.states))


def _secret(server: str, name: str, place: str, status: str, *, detail: str = "",
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
                    _secret("alpha", "JWT_SECRET", alpha_env, "present", drift=True),
                    _secret("alpha", "JWT_SECRET", alpha_box, "present", drift=True),
                    _secret("alpha", "SERVICE_SECRET", alpha_env, "present"),
                    _secret("alpha", "SERVICE_SECRET", alpha_box, "missing",
                            detail="not in the container's environment"),
                ),
                volumes=(VolumeStatus("alpha", "crm_dbdata", "crm", "present", True,
                                      used_by=("crm-backend-1",)),),
                since=FROZEN_NOW, checked_at=FROZEN_NOW - timedelta(seconds=10)),
            "bravo": ServerSecrets(
                server="bravo", state="ok", places=(bravo_env,),
                statuses=(
                    _secret("bravo", "JWT_SECRET", bravo_env, "present", drift=True),
                    _secret("bravo", "SERVICE_SECRET", bravo_env, "weak",
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
