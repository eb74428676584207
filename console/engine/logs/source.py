"""Sources: one container's log or one host file each, with its ring buffer and resume state.

Resume without gaps or duplicates
---------------------------------
Opening a source does not replay history: the first read asks for at most
``INITIAL_TAIL`` lines from the last ``INITIAL_WINDOW_S`` seconds. Every later read
(reconnect, container restart) asks for ``since=<timestamp of the last line seen>`` with
nanoseconds. Docker's ``since`` is inclusive (and only to the second in some versions), so
while resuming, lines older than that timestamp are dropped and lines *at* it are dropped
when their text was already seen at it. Once a newer line arrives nothing is filtered, so
lines whose timestamps are slightly out of order (stdout vs stderr) are never lost.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime

from console.engine import dockerapi
from console.engine.logs.model import SourceStatus
from console.engine.logs.stamps import NS, since_text
from console.models import LogLine, utcnow

__all__ = [
    "DEFAULT_BUFFER_LINES",
    "INITIAL_TAIL",
    "INITIAL_WINDOW_S",
    "Ingest",
    "Source",
    "SourceRegistry",
]

INITIAL_WINDOW_S = 900.0
"""A source opened for the first time is read back this far (and ``check`` counts over it)."""
INITIAL_TAIL = 1000
"""...but at most this many lines of that history."""
DEFAULT_BUFFER_LINES = 10_000
"""The ring buffer of a source whose server is not configured (lines fed from elsewhere)."""

Reader = dockerapi.StreamPump | asyncio.Task[None]
"""What reads a source: a container's reader thread, or the task that follows a file (or
opens a container's reader)."""


class Source:
    """Mutable state of one source. Reader threads touch only the ingest fields (under the
    store's lock) and the resume fields (only ever one reader at a time per source)."""

    def __init__(self, server: str, name: str, kind: str, maxlen: int) -> None:
        self.server = server
        self.name = name
        self.kind = kind
        self.buffer: deque[LogLine] = deque(maxlen=maxlen)
        self.ingested = 0
        self.delivered = 0
        self.skipped = 0
        self.cut = 0
        self.state = "starting"
        self.detail = ""
        self.since = utcnow()
        # resume (reader side)
        self.last_ns = 0
        self.boundary: set[str] = set()
        self.resume_ns = 0
        self.opened_ns = 0
        self.offset: tuple[str, int] | None = None  # files: (inode, byte offset)
        # loop side
        self.reader: Reader | None = None
        self.container_id = ""
        self.read_key: tuple[str, str] | None = None  # (id, state) last read once
        self.failures = 0
        self.retry: asyncio.TimerHandle | None = None

    def set_state(self, state: str, detail: str = "") -> bool:
        """Change the state; True when it changed (the listeners are told)."""
        if (state, detail) == (self.state, self.detail):
            return False
        if state != self.state:
            self.since = utcnow()
        self.state, self.detail = state, detail
        return True

    def status(self) -> SourceStatus:
        return SourceStatus(self.server, self.name, self.kind, self.state, self.detail,
                            self.since, self.ingested, self.skipped, self.cut)

    def stop_reader(self) -> None:
        """Cancel a scheduled retry and stop whatever reads this source (on the loop)."""
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        reader, self.reader = self.reader, None
        if isinstance(reader, dockerapi.StreamPump):
            reader.stop()
        elif isinstance(reader, asyncio.Task):
            reader.cancel()

    # -- resume ------------------------------------------------------------------------

    def since_param(self, now_ns: int, window_s: float,
                    tail: int | None = INITIAL_TAIL) -> tuple[str, str]:
        """(since, tail) for the next read, and arm the duplicate filter."""
        if self.last_ns:
            self.resume_ns = self.last_ns
            return since_text(self.last_ns), "all"
        if self.opened_ns:  # read before but saw nothing: everything since is new
            self.resume_ns = 0
            return since_text(self.opened_ns - 5 * NS), "all"
        self.opened_ns = now_ns
        self.resume_ns = 0
        return since_text(now_ns - int(window_s * NS)), "all" if tail is None else str(tail)

    def advance(self, newest: int, at_newest: Iterable[str]) -> None:
        """``accept`` for a whole block in one step, when no resume boundary is armed (the
        common case: every line is new). ``newest`` is the block's newest time and
        ``at_newest`` the texts at exactly that time: the same end state as calling
        ``accept`` line by line, without touching every line."""
        if newest > self.last_ns:
            self.last_ns = newest
            self.boundary = set(at_newest)
        elif newest == self.last_ns:
            self.boundary.update(at_newest)

    def accept(self, ns: int, text: str) -> bool:
        """False for a line this source already delivered (resume boundary only)."""
        if self.resume_ns:
            if ns < self.resume_ns:
                return False
            if ns == self.resume_ns:
                if text in self.boundary:
                    return False
            else:
                self.resume_ns = 0
        if ns > self.last_ns:
            self.last_ns = ns
            self.boundary = {text}
        elif ns == self.last_ns:
            self.boundary.add(text)
        return True


Ingest = Callable[[Source, list[datetime], list[str]], None]
"""Where a reader hands a block of one source's lines (times, texts); any thread."""


class SourceRegistry:
    """Every source by (server, name), created on first use, in the order first seen."""

    def __init__(self, buffer_lines: Mapping[str, int]) -> None:
        self._buffer_lines = dict(buffer_lines)
        self._sources: dict[tuple[str, str], Source] = {}

    def get(self, server: str, name: str, kind: str) -> Source:
        """The source, created (with its server's ``buffer_lines``) if it is new."""
        key = (server, name)
        src = self._sources.get(key)
        if src is None:
            maxlen = self._buffer_lines.get(server, DEFAULT_BUFFER_LINES)
            src = Source(server, name, kind, maxlen)
            self._sources[key] = src
        return src

    def __iter__(self) -> Iterator[Source]:
        return iter(self._sources.values())

    def of_server(self, server: str, kind: str) -> list[Source]:
        return [s for s in self._sources.values() if s.server == server and s.kind == kind]

    def statuses(self) -> list[SourceStatus]:
        return [src.status() for src in self._sources.values()]
