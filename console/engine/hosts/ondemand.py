"""A server whose SSH connection opens only when something needs it, and closes when idle.

A fleet of hundreds of hosts is watched through Prometheus and Alertmanager; opening one SSH
connection per host at start-up would cost minutes and a file descriptor each for servers
nobody looks at. ``connect = "on_demand"`` wraps the server's host in ``OnDemandHost``:

- until ``activate()`` its status is IDLE ("not connected (on demand)") and every call
  raises HostUnavailable at once, so the services treat it like a server that is down and
  wait for it without retry traffic;
- ``activate()`` (the operator turned to the server, an action or ``check`` needs it) opens
  the connection; the services then proceed exactly as after a reconnect;
- after ``idle_close_s`` with no call started and none in flight, the connection is closed
  and the host is IDLE again. A followed log file is a call in flight, and the services'
  own rounds (secret scans, health probes) are calls, so a server whose panes are live
  stays connected; Docker's event stream runs over the forwarded socket and is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence

from console.engine.host_api import Host, HostUnavailable, TCPReader, TCPWriter
from console.engine.hosts.status import StatusMixin
from console.engine.terminal import PtyChannel, TerminalHost
from console.models import CommandResult, ConnectionStatus, ConnState

__all__ = ["ON_DEMAND_DETAIL", "OnDemandHost"]

ON_DEMAND_DETAIL = "not connected (on demand)"


class OnDemandHost(StatusMixin, Host):
    """Delegates to a fresh inner Host per activation; IDLE while there is none."""

    def __init__(self, name: str, factory: Callable[[], Host], idle_close_s: float) -> None:
        self.name = name
        self._factory = factory
        self._idle_close_s = idle_close_s
        self._inner: Host | None = None
        self._unsubscribe_inner: Callable[[], None] | None = None
        self._in_flight = 0
        self._last_use = 0.0
        self._idle_task: asyncio.Task[None] | None = None
        self._closed = False
        self._init_status(ConnectionStatus(ConnState.IDLE, ON_DEMAND_DETAIL))

    @property
    def active(self) -> bool:
        return self._inner is not None

    async def start(self) -> None:
        """Nothing to do: the connection opens on ``activate()``."""

    async def activate(self) -> None:
        """Open the connection (in the background, like any host's start) if it is not."""
        if self._closed or self._inner is not None:
            self._touch()
            return
        inner = self._factory()
        self._inner = inner
        self._unsubscribe_inner = inner.add_status_listener(self._forward)
        self._forward(inner.status)
        await inner.start()
        self._touch()

    async def deactivate(self) -> None:
        """Close the connection now and go back to IDLE (the idle timer does this too)."""
        inner, self._inner = self._inner, None
        if self._unsubscribe_inner is not None:
            self._unsubscribe_inner()
            self._unsubscribe_inner = None
        if inner is not None:
            await inner.close()
        if not self._closed:
            self._set_status(ConnState.IDLE, ON_DEMAND_DETAIL)

    async def close(self) -> None:
        self._closed = True
        if self._idle_task is not None:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task
            self._idle_task = None
        await self.deactivate()
        self._set_status(ConnState.LOST, "closed")

    async def wait_up(self, timeout: float | None = None) -> bool:
        # While IDLE this waits for an activation and then for the link, like a down host.
        return await super().wait_up(timeout)

    # -- calls: each one is "use", and none reaches an inactive host ---------------------

    def _host(self) -> Host:
        if self._inner is None:
            raise HostUnavailable(f"server {self.name}: {ON_DEMAND_DETAIL}")
        self._touch()
        return self._inner

    async def run(self, argv: Sequence[str], *, timeout: float | None = 30.0,
                  input: bytes | None = None) -> CommandResult:
        host = self._host()
        self._in_flight += 1
        try:
            return await host.run(argv, timeout=timeout, input=input)
        finally:
            self._done()

    async def stream(self, argv: Sequence[str]) -> AsyncIterator[bytes]:
        host = self._host()
        self._in_flight += 1
        try:
            async for chunk in host.stream(argv):
                yield chunk
        finally:
            self._done()

    async def read_file(self, path: str, *, max_bytes: int = 4 * 1024 * 1024) -> bytes:
        host = self._host()
        self._in_flight += 1
        try:
            return await host.read_file(path, max_bytes=max_bytes)
        finally:
            self._done()

    async def docker_base_url(self) -> str:
        return await self._host().docker_base_url()

    async def open_tcp(self, host: str, port: int) -> tuple[TCPReader, TCPWriter]:
        return await self._host().open_tcp(host, port)

    async def open_terminal(self, argv: Sequence[str], *, term_type: str, columns: int,
                            rows: int) -> PtyChannel:
        """The inner host's PTY (``x``); the connection counts as busy until it is closed."""
        host = self._host()
        if not isinstance(host, TerminalHost):
            raise HostUnavailable(f"server {self.name}: its connection cannot open a terminal")
        self._in_flight += 1
        try:
            channel = await host.open_terminal(argv, term_type=term_type, columns=columns,
                                               rows=rows)
        except BaseException:
            self._done()
            raise
        return _Busy(channel, self._done)

    # -- the idle timer ----------------------------------------------------------------

    def _forward(self, status: ConnectionStatus) -> None:
        if self._inner is not None:
            self._set_status(status.state, status.detail, since=status.since,
                             retry_at=status.retry_at)

    def _touch(self) -> None:
        if self._idle_task is None or self._idle_task.done():
            self._idle_task = asyncio.get_running_loop().create_task(
                self._idle_watch(), name=f"on-demand:{self.name}")
        self._last_use = asyncio.get_running_loop().time()

    def _done(self) -> None:
        self._in_flight -= 1
        self._last_use = asyncio.get_running_loop().time()

    async def _idle_watch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._inner is not None:
            wait = self._last_use + self._idle_close_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if self._in_flight > 0:
                await asyncio.sleep(self._idle_close_s)
                continue
            await self.deactivate()


class _Busy:
    """A PTY channel that tells its on-demand host when it is closed."""

    def __init__(self, channel: PtyChannel, done: Callable[[], None]) -> None:
        self._channel = channel
        self._done: Callable[[], None] | None = done

    def write(self, data: bytes) -> None:
        self._channel.write(data)

    async def read(self, size: int) -> bytes:
        return await self._channel.read(size)

    def resize(self, columns: int, rows: int) -> None:
        self._channel.resize(columns, rows)

    async def wait(self) -> int | None:
        return await self._channel.wait()

    def close(self) -> None:
        self._channel.close()
        done, self._done = self._done, None
        if done is not None:
            done()
