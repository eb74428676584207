"""Host log files: followed with ``tail -F`` over the host, or read once for ``refresh``.

Rotation and truncation are tail's job (``-F`` reopens the name). After a lost link the
follow restarts at the byte where it stopped when the file is the same file (same inode,
not shorter), and says so when it cannot: lines written between the last read and a
rotation during the outage are in a file whose name is unknown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from console.config import ServerConfig
from console.engine.host_api import Host, HostUnavailable
from console.engine.logs.framing import LineAssembler
from console.engine.logs.source import Ingest, Source, SourceRegistry
from console.engine.logs.stamps import file_times
from console.engine.shared import RETRY_MAX, RETRY_MIN
from console.models import utcnow
from console.textsafe import make_visible

__all__ = ["FILE_REFRESH_LINES", "FileSources"]

FILE_REFRESH_LINES = 5000
"""``refresh`` reads at most this many lines from the end of a file."""


@runtime_checkable
class _Closable(Protocol):
    """``Host.stream``'s iterator: an async generator, closed to kill the remote tail."""

    async def aclose(self) -> None: ...


class FileSources:
    """The ``tail -F`` of every configured file on every server."""

    def __init__(self, servers: Mapping[str, ServerConfig], hosts: Mapping[str, Host],
                 sources: SourceRegistry, *, ingest: Ingest,
                 on_status: Callable[[str], None]) -> None:
        self._servers = servers
        self._hosts = hosts
        self._sources = sources
        self._ingest = ingest
        self._on_status = on_status
        self._running = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle (loop) -------------------------------------------------------------

    def follow(self, server: str) -> None:
        """Follow ``server``'s configured files in the background; returns at once."""
        self._running = True
        for path in self._servers[server].logs.files:
            src = self._sources.get(server, path, "file")
            task = asyncio.create_task(self._follow(src, self._hosts[server]),
                                       name=f"logs:{server}:{path}")
            src.reader = task
            self._tasks.append(task)

    def halt(self) -> list[asyncio.Task[None]]:
        """Stop following; returns the tasks still to be awaited (cancelled)."""
        self._running = False
        for src in self._sources:
            if src.kind == "file":
                src.stop_reader()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        self._tasks.clear()
        return tasks

    # -- following (loop) --------------------------------------------------------------

    async def _follow(self, src: Source, host: Host) -> None:
        """``tail -F`` over the host, forever; resumes at the byte it stopped at if it can."""
        delay = RETRY_MIN
        while self._running:
            if not await host.wait_up(timeout=None if host.status.is_up else 30.0):
                self._state(src, "lost", host.status.describe())
                continue
            argv, note = await self._argv(src, host)
            self._state(src, "following", note)
            started = asyncio.get_running_loop().time()
            try:
                await self._read_stream(src, host, argv)
                detail = "tail ended"
            except asyncio.CancelledError:
                raise
            except HostUnavailable as exc:
                detail = str(exc) or "server unreachable"
            except Exception as exc:  # noqa: BLE001 - shown, then retried
                detail = f"{type(exc).__name__}: {exc}"
            if asyncio.get_running_loop().time() - started > 60:
                delay = RETRY_MIN
            self._state(src, "lost", f"{detail}; retry in {delay:.0f}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _state(self, src: Source, state: str, detail: str) -> None:
        if src.set_state(state, detail):
            self._on_status(src.server)

    async def _argv(self, src: Source, host: Host) -> tuple[list[str], str]:
        """Resume at the byte after the last one read when the file is the same file."""
        stat = await _stat(host, src.name)
        if src.offset is not None and stat is not None:
            inode, offset = src.offset
            if stat[0] == inode and stat[1] >= offset:
                return ["tail", "-F", "-c", f"+{offset + 1}", src.name], ""
        note = ""
        if src.offset is not None:
            note = "file replaced or truncated while disconnected: lines may be missing"
        if stat is not None:
            src.offset = (stat[0], stat[1])
        return ["tail", "-F", "-n", "0", src.name], note

    async def _read_stream(self, src: Source, host: Host, argv: list[str]) -> None:
        assembler = LineAssembler()
        stream = host.stream(argv)
        try:
            async for chunk in stream:
                if src.offset is not None:
                    src.offset = (src.offset[0], src.offset[1] + len(chunk))
                lines = assembler.feed(chunk)
                if lines:
                    src.cut = assembler.cut_lines
                    texts = b"\n".join(lines).decode("utf-8", "replace").split("\n")
                    now = utcnow()
                    await asyncio.to_thread(self._ingest, src, [now] * len(texts), texts)
        finally:
            if isinstance(stream, _Closable):
                await stream.aclose()

    # -- refresh (headless) ------------------------------------------------------------

    def refresh_jobs(self, server: str, window_s: float) -> list[Awaitable[None]]:
        """One read of the last ``window_s`` seconds of each of ``server``'s files."""
        host = self._hosts[server]
        return [self._refresh_one(self._sources.get(server, path, "file"), host, window_s)
                for path in self._servers[server].logs.files]

    async def _refresh_one(self, src: Source, host: Host, window_s: float) -> None:
        try:
            result = await host.run(["tail", "-n", str(FILE_REFRESH_LINES), src.name],
                                    timeout=30.0)
            stat = await _stat(host, src.name)
        except Exception as exc:  # noqa: BLE001
            src.set_state("error", str(exc) or type(exc).__name__)
            return
        if not result.ok:
            src.set_state("error", make_visible(result.stderr.decode("utf-8", "replace"), 200))
            return
        assembler = LineAssembler()
        lines = assembler.feed(result.stdout) + assembler.flush()
        texts = b"\n".join(lines).decode("utf-8", "replace").split("\n") if lines else []
        mtime = datetime.fromtimestamp(stat[2], UTC) if stat else utcnow()
        times = file_times(texts, mtime)
        cutoff = utcnow() - timedelta(seconds=window_s)
        keep = [i for i, t in enumerate(times) if t >= cutoff]
        self._ingest(src, [times[i] for i in keep], [texts[i] for i in keep])
        src.cut = assembler.cut_lines
        src.set_state("stopped", "read once")


async def _stat(host: Host, path: str) -> tuple[str, int, int] | None:
    """(inode, size, mtime) of a file on the host, or None."""
    try:
        result = await host.run(["stat", "-L", "-c", "%i %s %Y", path], timeout=15.0)
    except Exception:  # noqa: BLE001 - resume is best effort
        return None
    parts = result.stdout.decode("ascii", "replace").split()
    if not result.ok or len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return parts[0], int(parts[1]), int(parts[2])
