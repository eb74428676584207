"""Container sources: the container service's rows, turned into one reader per container.

Which containers: ``[servers.logs] containers``, else every container the container service
shows for the server (it already applies ``compose_project``). Its change notifications
start and stop readers, so a new or restarted container is picked up within an event, with
no polling. A running container is followed; a stopped one is read once (that is where
``RuntimeError: JWT_SECRET not configured`` lives after a crash). A read that fails is
retried with a growing delay; a container removed under a reader says so in words.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol

from console.config import ServerConfig
from console.engine import dockerapi
from console.engine.contracts import Change, ChangeListener, Unsubscribe
from console.engine.host_api import Host
from console.engine.logs.docker_reader import ContainerReader, DockerLogsAPI
from console.engine.logs.source import Ingest, Source, SourceRegistry
from console.engine.shared import (
    REFRESH_CONNECT_TIMEOUT,
    RETRY_MIN,
    LazyDockerClients,
    is_not_found,
    retry_delay,
)
from console.models import ContainerInfo

__all__ = ["ContainerSources", "ContainerView", "ServerContainersView"]


class ServerContainersView(Protocol):
    """What the log service reads of one server's part of the container snapshot."""

    @property
    def state(self) -> str: ...  # connecting | ok | unavailable

    @property
    def error(self) -> str: ...

    @property
    def containers(self) -> Sequence[ContainerInfo]: ...


class ContainerView(Protocol):
    """What the log service needs of the container service: its rows, and a ``Change``
    naming the server whose rows changed; start/stop/refresh when it owns one."""

    def subscribe(self, listener: ChangeListener) -> Unsubscribe: ...

    def snapshot(self) -> Mapping[str, ServerContainersView]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def refresh(self) -> None: ...


StatusChanged = Callable[[str], None]
"""Called on the loop with a server's name when one of its sources changed state."""


class ContainerSources(LazyDockerClients):
    """The readers of every configured server's containers, kept in step with the rows."""

    def __init__(self, servers: Mapping[str, ServerConfig], hosts: Mapping[str, Host],
                 sources: SourceRegistry, containers: ContainerView, *,
                 clients: dockerapi.DockerClients | None, ingest: Ingest,
                 on_status: StatusChanged, initial_window_s: float,
                 initial_tail: int | None) -> None:
        self._servers = servers
        self._hosts = hosts
        self._sources = sources
        self.containers = containers
        self._clients = clients
        self._ingest = ingest
        self._on_status = on_status
        self._initial_window_s = initial_window_s
        self._initial_tail = initial_tail
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None

    # -- life cycle (loop) -------------------------------------------------------------

    def attach(self) -> None:
        """Listen to the container service; ``follow`` then starts a server's readers."""
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self.containers.subscribe(self._on_containers)

    def follow(self, server: str) -> None:
        """Start (or stop) ``server``'s readers to match the container rows now."""
        self._reconcile_server(server)

    def halt(self) -> list[asyncio.Task[None]]:
        """Stop listening and reading; returns the tasks still to be awaited (cancelled)."""
        self._running = False
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for src in self._sources:
            if src.kind == "container":
                src.stop_reader()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        self._tasks.clear()
        return tasks

    # -- following (loop) --------------------------------------------------------------

    def _on_containers(self, change: Change) -> None:
        """The container service changed a server's rows (every server's: ``server`` None)."""
        for server in [change.server] if change.server is not None else list(self._servers):
            self._reconcile_server(server)

    def _reconcile_server(self, server: str) -> None:
        """Start/stop ``server``'s readers to match its container rows."""
        if not self._running or server not in self._servers:
            return
        snap = self.containers.snapshot().get(server)
        if snap is None:
            return
        changed = False
        if snap.state != "ok":
            reason = snap.error or snap.state
            for src in self._sources.of_server(server, "container"):
                changed |= src.set_state("lost" if snap.state != "connecting" else "starting",
                                         reason)
            if changed:
                self._on_status(server)
            return
        for name, info in self._wanted(server, snap.containers):
            changed |= self._reconcile(self._sources.get(server, name, "container"), info)
        if changed:
            self._on_status(server)

    def _wanted(self, server: str, rows: Iterable[ContainerInfo]
                ) -> list[tuple[str, ContainerInfo | None]]:
        by_name = {info.name: info for info in rows}
        names = self._servers[server].logs.containers
        if names is None:
            names = tuple(sorted(by_name))
            for src in self._sources.of_server(server, "container"):  # gone from the server
                if src.name not in by_name:
                    names += (src.name,)
        return [(name, by_name.get(name)) for name in names]

    def _reconcile(self, src: Source, info: ContainerInfo | None) -> bool:
        if info is None:
            return src.set_state("missing", "no such container")
        running = info.state == "running"
        if src.reader is not None and src.container_id == info.id:
            if running or not isinstance(src.reader, dockerapi.StreamPump):
                return False
            return src.set_state("stopped", _describe_stopped(info))  # reader drains, ends
        if src.reader is not None:  # recreated under the same name
            src.stop_reader()
        key = (info.id, info.state)
        if not running and src.read_key == key:
            return src.set_state("stopped", _describe_stopped(info))
        if src.retry is not None:
            return False  # a retry is scheduled; it will read the newest state
        src.container_id = info.id
        src.read_key = key
        self._start_reader(src, follow=running)
        return src.set_state("following" if running else "stopped",
                             "" if running else _describe_stopped(info))

    def _start_reader(self, src: Source, follow: bool) -> None:
        host = self._hosts[src.server]
        task = asyncio.create_task(self._open(src, host, follow),
                                   name=f"logs:{src.server}:{src.name}")
        src.reader = task
        self._tasks.append(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    def _reader(self, src: Source, api: DockerLogsAPI, follow: bool, window_s: float,
                tail: str | None = None) -> ContainerReader:
        return ContainerReader(src, api, follow, window_s, ingest=self._ingest,
                               initial_tail=self._initial_tail, tail=tail)

    async def _open(self, src: Source, host: Host, follow: bool) -> None:
        """Get the client (async), then hand the blocking read to its own thread."""
        try:
            client = await self.clients.get(host)
        except Exception as exc:  # noqa: BLE001 - shown, then retried
            self._reader_ended(src, follow, exc)
            return
        if src.reader is not asyncio.current_task():
            return  # stopped meanwhile
        reader = self._reader(src, client.api, follow, self._initial_window_s)
        pump = dockerapi.pump_stream(
            reader.open, lambda _item: None,
            lambda error: self._reader_ended(src, follow, error),
            name=f"docker-logs:{src.server}:{src.name}")
        pump.opened.add_done_callback(_consume)  # failures arrive through on_end
        src.reader = pump

    def _reader_ended(self, src: Source, follow: bool, error: BaseException | None) -> None:
        """A read ended: the container stopped, the link dropped, or it was a one-shot read."""
        src.reader = None
        if not self._running:
            return
        if error is not None and is_not_found(error):
            # Removed under us (docker rm): say so in words, not as a Docker error with a
            # 64-digit id; the retry re-reads the container list, which drops or re-adds it.
            delay = RETRY_MIN
            changed = src.set_state("missing", "container removed")
            src.read_key = None
            if self._loop is not None:
                src.retry = self._loop.call_later(delay, self._retry, src)
        elif error is not None:
            src.failures += 1
            detail = dockerapi.describe_docker_error(error)
            delay = retry_delay(src.failures - 1)
            changed = src.set_state("error", f"{detail}; retry in {delay:.0f}s")
            src.read_key = None
            if self._loop is not None:
                src.retry = self._loop.call_later(delay, self._retry, src)
        else:
            src.failures = 0
            if follow:
                src.read_key = None  # stream ended: read once more when it has stopped
            changed = False
        if changed:
            self._on_status(src.server)
        if error is None:
            self._reconcile_server(src.server)

    def _retry(self, src: Source) -> None:
        src.retry = None
        self._reconcile_server(src.server)

    # -- refresh (headless) ------------------------------------------------------------

    async def listed(self, *, owned: bool) -> Mapping[str, ServerContainersView]:
        """The container rows to read. An ``owned`` service is refreshed here; a shared one
        is being refreshed by the Fleet at the same time: wait for it rather than list
        everything twice."""
        containers = self.containers

        def pending() -> bool:
            snap = containers.snapshot()
            return any(snap.get(n) is None or snap[n].state == "connecting"
                       for n in self._servers)

        if owned:
            await containers.refresh()
        elif pending():
            changed = asyncio.Event()
            unsubscribe = containers.subscribe(lambda _server: changed.set())
            try:
                deadline = asyncio.get_running_loop().time() + REFRESH_CONNECT_TIMEOUT + 10
                while pending() and asyncio.get_running_loop().time() < deadline:
                    changed.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), 1.0)
            finally:
                unsubscribe()
            if pending():
                await containers.refresh()
        return containers.snapshot()

    def mark_lost(self, server: str, reason: str) -> None:
        for src in self._sources.of_server(server, "container"):
            src.set_state("lost", reason)

    def refresh_jobs(self, server: str, snap: ServerContainersView | None, window_s: float
                     ) -> list[Awaitable[None]]:
        """One read of the last ``window_s`` seconds per wanted container of ``server``."""
        jobs: list[Awaitable[None]] = []
        if snap is not None and snap.state == "ok":
            host = self._hosts[server]
            for cname, info in self._wanted(server, snap.containers):
                src = self._sources.get(server, cname, "container")
                if info is None:
                    src.set_state("missing", "no such container")
                    continue
                jobs.append(self._refresh_one(src, host, info, window_s))
        return jobs

    async def _refresh_one(self, src: Source, host: Host, info: ContainerInfo,
                           window_s: float) -> None:
        try:
            client = await self.clients.get(host)
            reader = self._reader(src, client.api, False, window_s, tail="all")
            await dockerapi.run_blocking(reader.read_all)
            src.set_state("following" if info.state == "running" else "stopped", "")
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            src.set_state("error", dockerapi.describe_docker_error(exc))


def _consume(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _describe_stopped(info: ContainerInfo) -> str:
    code = info.exit_code
    return f"container {info.state}" + (f" (exit code {code})" if code is not None else "")
