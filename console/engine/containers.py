"""ContainerService: every server's containers, live from the Docker events stream.

Why events and not polling: a poll loop over 50 servers costs CPU while nothing happens
(lazydocker #115) and still shows a restart seconds late. Instead, per server:

1. open the events stream (``type=container``) in its own thread, and wait until it is open;
2. list every container and inspect each (the list API lacks health, RestartCount and
   StartedAt), so nothing that happens between the two steps is missed;
3. for each event, re-inspect just that container;
4. when the stream ends (the SSH link dropped, dockerd restarted), mark the server's rows
   stale with the reason, wait for the host to be up again, and start over at 1 - which is
   the full refresh after a reconnect. Failures back off exponentially; an idle fleet does
   no work at all.

Blocking SDK calls go through ``dockerapi.run_blocking``; the only thread per server is the
events reader.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.config import Config, ServerConfig
from console.engine import dockerapi
from console.engine.host_api import Host
from console.engine.listeners import Listeners
from console.engine.shared import (
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    REFRESH_CONNECT_TIMEOUT,
    LazyDockerClients,
    is_not_found,
    retry_delay,
)
from console.models import ConnectionStatus, ContainerInfo, utcnow

__all__ = [
    "COMPOSE_PROJECT_LABEL",
    "COMPOSE_SERVICE_LABEL",
    "ContainerService",
    "ServerContainers",
    "container_from_inspect",
    "group_by_project",
    "parse_docker_time",
]

log = logging.getLogger(__name__)

# Events that cannot change what the pane shows; re-inspecting on them is wasted work
# (every `docker exec`, e.g. a migration or a health check, emits three).
# What changes a row. Asked of the daemon as a filter, so it never sends the rest: a
# healthcheck's exec_create/exec_start/exec_die every few seconds per container would
# otherwise cross the SSH link and be decoded only to be dropped (idle CPU, issue 8). The
# daemon matches "health_status" against "health_status: healthy" and the like.
WATCHED_EVENTS = ("create", "start", "restart", "stop", "die", "kill", "pause", "unpause",
                  "oom", "destroy", "rename", "update", "health_status")
_IGNORED_ACTION_PREFIXES = ("exec_", "attach", "detach", "resize", "top", "archive-path",
                            "extract-to-dir", "export", "commit", "copy", "create-exec")
RESTART_STOP_TIMEOUT = 10

Callback = Callable[[str], None]


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class ServerContainers:
    """One server's part of the snapshot.

    ``state``: ``connecting`` (nothing known yet), ``ok`` (live), ``unavailable`` (Docker or
    the server cannot be reached; ``error`` says why in words). When a server is lost after
    having been seen, its last known containers are kept with ``stale=True`` so the operator
    still sees what was running, clearly marked.
    """

    server: str
    state: str = "connecting"
    error: str = ""
    containers: tuple[ContainerInfo, ...] = ()
    stale: bool = False
    since: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok" and all(c.ok for c in self.containers)


_DOCKER_TIME = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse_docker_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 with nanoseconds ('2024-05-01T10:00:00.123456789Z'); zero is None.

    ``datetime.fromisoformat`` in 3.11 takes at most microseconds, so the fraction is cut.
    """
    if not value or value.startswith("0001-01-01"):
        return None
    match = _DOCKER_TIME.match(value.strip())
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    text = whole + (f".{fraction[:6].ljust(6, '0')}" if fraction else "")
    text += "+00:00" if zone in (None, "Z") else zone
    return datetime.fromisoformat(text).astimezone(UTC)


def container_from_inspect(server: str, data: Mapping[str, Any]) -> ContainerInfo:
    """A ContainerInfo from ``docker inspect`` output (the low-level API dict)."""
    state = data.get("State") or {}
    config = data.get("Config") or {}
    labels = config.get("Labels") or {}
    health = (state.get("Health") or {}).get("Status") or "none"
    status = state.get("Status") or "unknown"
    exit_code = state.get("ExitCode")
    return ContainerInfo(
        server=server,
        id=str(data.get("Id", "")),
        name=str(data.get("Name", "")).lstrip("/"),
        project=labels.get(COMPOSE_PROJECT_LABEL),
        service=labels.get(COMPOSE_SERVICE_LABEL),
        state=str(status),
        health=str(health),
        restart_count=int(data.get("RestartCount") or 0),
        started_at=parse_docker_time(state.get("StartedAt")),
        image=str(config.get("Image") or data.get("Image") or ""),
        exit_code=int(exit_code) if status in ("exited", "dead") and exit_code is not None
        else None,
    )


def _sort_key(info: ContainerInfo) -> tuple[str, str, str]:
    return (info.project or "\uffff", info.service or "", info.name)


# --------------------------------------------------------------------------- per server


class _Server:
    """Mutable live state for one server; only touched on the event loop."""

    def __init__(self, config: ServerConfig, host: Host) -> None:
        self.config = config
        self.host = host
        self.containers: dict[str, ContainerInfo] = {}
        self.state = "connecting"
        self.error = ""
        self.stale = False
        self.since = utcnow()
        self.updated_at: datetime | None = None
        self.restarting: set[str] = set()
        self.dirty: set[str] = set()
        self.destroyed: set[str] = set()  # ids are never reused; cleared on each full list
        self.drain_task: asyncio.Task[None] | None = None
        self.pump: dockerapi.StreamPump | None = None
        self.stream_ended: asyncio.Event = asyncio.Event()
        self.host_up: asyncio.Event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def filters(self) -> dict[str, Any]:
        project = self.config.compose_project
        return {"label": f"{COMPOSE_PROJECT_LABEL}={project}"} if project else {}

    def wanted(self, info: ContainerInfo) -> bool:
        project = self.config.compose_project
        return project is None or info.project == project

    def view(self, info: ContainerInfo) -> ContainerInfo:
        """The row as shown: a container being restarted by us says so until the call ends."""
        if info.id in self.restarting and info.state != "restarting":
            return dataclasses.replace(info, state="restarting")
        return info

    def snapshot(self) -> ServerContainers:
        rows = tuple(sorted((self.view(c) for c in self.containers.values()), key=_sort_key))
        return ServerContainers(server=self.config.name, state=self.state, error=self.error,
                                containers=rows, stale=self.stale, since=self.since,
                                updated_at=self.updated_at)


# --------------------------------------------------------------------------- service


class ContainerService(LazyDockerClients):
    """Live container state of every server, and restart.

    ``subscribe(callback)``: ``callback(server_name)`` is called on the event loop whenever
    that server's part of ``snapshot()`` changed.
    """

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 clients: dockerapi.DockerClients | None = None) -> None:
        self.config = config
        self.hosts = hosts
        self._clients = clients
        self._servers: dict[str, _Server] | None = None
        self._listeners: Listeners[str] = Listeners("containers")
        self._unsubscribe_hosts: list[Callable[[], None]] = []
        self._running = False

    # -- plumbing ----------------------------------------------------------------------

    @property
    def servers(self) -> dict[str, _Server]:
        # Built lazily: asyncio.Event needs no loop in 3.11, but keeping construction
        # side-effect free lets the Fleet be built before any loop exists.
        if self._servers is None:
            self._servers = {
                server.name: _Server(server, self.hosts[server.name])
                for server in self.config.servers if server.name in self.hosts
            }
        return self._servers

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """``callback(server)`` on the event loop whenever a server's containers changed."""
        return self._listeners.add(callback)

    def _notify(self, server: str) -> None:
        self._listeners.emit(server)

    def snapshot(self) -> dict[str, ServerContainers]:
        """Per server (config order), its state and containers sorted by project/service."""
        return {name: st.snapshot() for name, st in self.servers.items()}

    def find(self, server: str, container: str) -> ContainerInfo | None:
        """A container of a server by id (or, failing that, by name), as shown."""
        st = self.servers.get(server)
        if st is None:
            return None
        info = st.containers.get(container) or next(
            (c for c in st.containers.values() if c.name == container), None)
        return st.view(info) if info else None

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Follow every server in the background; returns at once."""
        if self._running:
            return
        self._running = True
        for st in self.servers.values():
            if st.host.status.is_up:
                st.host_up.set()
            elif st.host.status.detail:
                self._on_host(st, st.host.status)
            self._unsubscribe_hosts.append(
                st.host.add_status_listener(lambda status, st=st: self._on_host(st, status)))
            st.task = asyncio.create_task(self._supervise(st),
                                          name=f"containers:{st.config.name}")

    async def stop(self) -> None:
        self._running = False
        for unsubscribe in self._unsubscribe_hosts:
            unsubscribe()
        self._unsubscribe_hosts.clear()
        tasks = []
        for st in self.servers.values():
            if st.pump is not None:
                st.pump.stop()
            for task in (st.task, st.drain_task):
                if task is not None and not task.done():
                    task.cancel()
                    tasks.append(task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def refresh(self) -> None:
        """One full listing of every server now (``check``/``report``); no stream."""
        await asyncio.gather(*(self._refresh_once(st) for st in self.servers.values()))

    async def _refresh_once(self, st: _Server) -> None:
        if not await st.host.wait_up(timeout=REFRESH_CONNECT_TIMEOUT):
            self._set_unavailable(st, st.host.status.describe())
            return
        try:
            await self._full_list(st)
        except Exception as exc:  # noqa: BLE001 - any failure is a state to show
            self._set_unavailable(st, self._describe(st, exc))

    # -- following ---------------------------------------------------------------------

    def _on_host(self, st: _Server, status: ConnectionStatus) -> None:
        """Host link changes: a loss is shown at once and ends the stream; up wakes us."""
        if status.is_up:
            st.host_up.set()
            return
        st.host_up.clear()
        if st.pump is not None:
            st.pump.stop()
        if st.state != "connecting" or status.detail:
            reason = f"server {status.state.value}"
            self._set_unavailable(st, f"{reason}: {status.detail}" if status.detail else reason)

    async def _supervise(self, st: _Server) -> None:
        """Connect, list, follow; on any failure wait for the host and back off, forever."""
        attempt = 0
        while self._running:
            if not st.host.status.is_up:
                await st.host_up.wait()
            started = asyncio.get_running_loop().time()
            try:
                await self._follow(st)
                error = "the Docker events stream ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - shown in the pane, then retried
                error = self._describe(st, exc)
            finally:
                if st.pump is not None:
                    st.pump.stop()
                    st.pump = None
            if not self._running:
                return
            if st.host.status.is_up:
                self.clients.invalidate(st.host)
                self._set_unavailable(st, error)
            if asyncio.get_running_loop().time() - started > 60:
                attempt = 0
            await self._sleep_or_host_change(st, retry_delay(attempt))
            attempt += 1

    async def _sleep_or_host_change(self, st: _Server, delay: float) -> None:
        """Back off, but no longer than it takes the host to come back after a loss."""
        if st.host.status.is_up:
            await asyncio.sleep(delay)
        else:
            await st.host_up.wait()

    async def _follow(self, st: _Server) -> None:
        """Open the events stream, then list; returns when the stream ends."""
        client = await self.clients.get(st.host)
        st.stream_ended.clear()
        end_error: list[BaseException | None] = []

        def on_end(error: BaseException | None) -> None:
            end_error.append(error)
            st.stream_ended.set()

        filters: dict[str, Any] = {"type": "container", "event": list(WATCHED_EVENTS),
                                   **st.filters}
        st.pump = dockerapi.pump_stream(
            lambda: client.events(decode=True, filters=filters),
            lambda event: self._on_event(st, event),
            on_end,
            name=f"docker-events:{st.config.name}",
        )
        await st.pump.opened
        await self._full_list(st)
        await st.stream_ended.wait()
        if end_error and end_error[0] is not None:
            raise end_error[0]

    async def _full_list(self, st: _Server) -> None:
        client = await self.clients.get(st.host)
        rows = await dockerapi.run_blocking(client.api.containers, all=True,
                                            filters=st.filters or None)
        ids = [str(row["Id"]) for row in rows]
        inspected = await asyncio.gather(*(self._inspect(st, client, cid) for cid in ids))
        st.containers = {info.id: info for info in inspected
                         if info is not None and st.wanted(info)}
        st.destroyed.clear()
        st.state, st.error, st.stale = "ok", "", False
        st.since = st.updated_at = utcnow()
        self._notify(st.config.name)

    async def _inspect(self, st: _Server, client: Any, container_id: str) -> ContainerInfo | None:
        """Inspect one container; None when it has gone (removed between list and inspect)."""
        try:
            data = await dockerapi.run_blocking(client.api.inspect_container, container_id)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        return container_from_inspect(st.config.name, data)

    # -- events --------------------------------------------------------------------------

    def _on_event(self, st: _Server, event: Any) -> None:
        if not isinstance(event, Mapping) or event.get("Type", "container") != "container":
            return
        action = str(event.get("Action") or event.get("status") or "")
        container_id = str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
        if not container_id or action.startswith(_IGNORED_ACTION_PREFIXES):
            return
        if action == "destroy":
            if st.containers.pop(container_id, None) is not None:
                st.updated_at = utcnow()
                self._notify(st.config.name)
            # An inspect started before the destroy (for its "die") may land after it and
            # would put the row back for good: remember the id so _drain drops that answer.
            st.destroyed.add(container_id)
            st.dirty.discard(container_id)
            return
        self._mark_dirty(st, container_id)

    def _mark_dirty(self, st: _Server, container_id: str) -> None:
        """Queue a re-inspect; one drain task per server keeps them ordered and coalesced."""
        st.dirty.add(container_id)
        if st.drain_task is None or st.drain_task.done():
            st.drain_task = asyncio.create_task(self._drain(st),
                                                name=f"containers-inspect:{st.config.name}")

    async def _drain(self, st: _Server) -> None:
        while st.dirty:
            container_id = st.dirty.pop()
            try:
                client = await self.clients.get(st.host)
                info = await self._inspect(st, client, container_id)
            except Exception as exc:  # noqa: BLE001 - the stream's end reports the outage
                log.debug("inspect %s on %s failed: %s", container_id, st.config.name, exc)
                continue
            if info is None or not st.wanted(info) or container_id in st.destroyed:
                changed = st.containers.pop(container_id, None) is not None
            else:
                changed = st.containers.get(container_id) != info
                st.containers[container_id] = info
            if changed or container_id in st.restarting:
                st.updated_at = utcnow()
                self._notify(st.config.name)

    # -- actions -------------------------------------------------------------------------

    async def restart(self, server: str, container_id: str) -> ContainerInfo | None:
        """Restart one container (docker restart, 10 s to stop) and return its new state.

        The row shows ``restarting`` from the moment this is called until the restart call
        returns; the events stream then brings running / healthy. No audit here: the caller
        (engine.actions) records intent and outcome around this call.
        """
        st = self.servers.get(server)
        if st is None:
            raise KeyError(f"unknown server {server!r}")
        known = self.find(server, container_id)
        if known is not None:
            container_id = known.id  # a name was given: the overlay is keyed by id
        client = await self.clients.get(st.host)
        st.restarting.add(container_id)
        self._notify(server)
        try:
            await dockerapi.run_blocking(client.api.restart, container_id,
                                         timeout=RESTART_STOP_TIMEOUT)
        finally:
            st.restarting.discard(container_id)
            self._notify(server)
        info = await self._inspect(st, client, container_id)
        if info is not None:
            st.containers[container_id] = info
            st.updated_at = utcnow()
            self._notify(server)
        return info

    # -- states --------------------------------------------------------------------------

    def _set_unavailable(self, st: _Server, error: str) -> None:
        if st.state != "unavailable":
            st.since = utcnow()
        st.state, st.error = "unavailable", error
        st.stale = bool(st.containers)
        self._notify(st.config.name)

    def _describe(self, st: _Server, exc: BaseException) -> str:
        return dockerapi.describe_docker_error(exc, st.config.docker_socket)


def group_by_project(containers: Iterable[ContainerInfo]) -> dict[str | None, list[ContainerInfo]]:
    """Containers per compose project (None: not part of one), order kept."""
    groups: dict[str | None, list[ContainerInfo]] = {}
    for info in containers:
        groups.setdefault(info.project, []).append(info)
    return groups

