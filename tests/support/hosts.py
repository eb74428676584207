"""Fake hosts: a link the test drives, files served from a dict, a local TCP "tunnel"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from console.engine.host_api import Host, HostUnavailable, StatusListener
from console.engine.listeners import Listeners
from console.models import CommandResult, ConnectionStatus, ConnState
from tests.support.clock import FROZEN_NOW

TcpOpener = Callable[[str, int], Awaitable[tuple[object, object]]]


class FakeHost(Host):
    """A host whose link the test drives with ``set_state``; it runs nothing, serves the
    files in ``files`` (an Exception value is raised on read) and names a fake docker
    socket, ``unix:///fake/<name>.sock``, while it is up."""

    def __init__(self, name: str, state: ConnState = ConnState.UP, detail: str = "",
                 since: datetime | None = None, retry_at: datetime | None = None, *,
                 files: dict[str, bytes | Exception] | None = None) -> None:
        self.name = name
        self._status = ConnectionStatus(state, detail, since or FROZEN_NOW, retry_at)
        self._listeners: Listeners[ConnectionStatus] = Listeners(f"fake host {name}")
        self.files: dict[str, bytes | Exception] = files if files is not None else {}
        self.reads: list[str] = []
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
        self.reads.append(path)
        if not self._status.is_up:
            raise HostUnavailable(f"{self.name} is down")
        item = self.files.get(path)
        if item is None:
            raise FileNotFoundError(path)
        if isinstance(item, Exception):
            raise item
        return item[:max_bytes]

    async def docker_base_url(self) -> str:
        if not self._status.is_up:
            raise HostUnavailable(f"{self.name} is down")
        return f"unix:///fake/{self.name}.sock"

    async def open_tcp(self, host: str, port: int) -> Any:
        raise HostUnavailable("fake host opens no TCP")


class TunnelHost(FakeHost):
    """A host whose ``open_tcp`` connects locally, standing in for an SSH channel (the
    httpcore backend and the memory-BIO TLS layer run as they would over one). It has no
    Docker, and ``set_up`` drops or restores the link without telling listeners: a link
    lost unnoticed until the next probe."""

    def __init__(self, name: str = "alpha", *, up: bool = True,
                 open_tcp: TcpOpener | None = None) -> None:
        super().__init__(name)
        self.set_up(up)
        self._open = open_tcp
        self.opened: list[tuple[str, int]] = []

    def set_up(self, up: bool) -> None:
        self._status = ConnectionStatus(ConnState.UP if up else ConnState.LOST,
                                        "" if up else "connection reset by peer")

    async def docker_base_url(self) -> str:
        raise HostUnavailable("no docker here")

    async def open_tcp(self, host: str, port: int) -> Any:
        if not self._status.is_up:
            raise HostUnavailable(f"{self.name}: lost")
        self.opened.append((host, port))
        if self._open is not None:
            return await self._open(host, port)
        return await asyncio.open_connection(host, port)
