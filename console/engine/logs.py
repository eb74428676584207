"""LogService: container logs and host files, classified, redacted, kept in ring buffers.

Sources
-------
* **Containers** are read through the Docker API (``/containers/{id}/logs`` with
  ``timestamps=1``) in one reader thread each (``dockerapi.pump_stream``). Which containers:
  ``[servers.logs] containers``, else every container the ContainerService shows for the
  server (it already applies ``compose_project``); its change notifications start and stop
  readers, so a new or restarted container is picked up within an event, with no polling.
  A running container is followed; a stopped one is read once (that is where
  ``RuntimeError: JWT_SECRET not configured`` lives after a crash).
* **Host files** are followed with ``tail -F -n 0 PATH`` over the host (rotation and
  truncation are tail's job). After a lost link the follow restarts at the byte where it
  stopped when the file is unchanged, and says so when it cannot.

Resume without gaps or duplicates
---------------------------------
Opening a source does not replay history: the first read asks for at most
``INITIAL_TAIL`` lines from the last ``INITIAL_WINDOW_S`` seconds. Every later read
(reconnect, container restart) asks for ``since=<timestamp of the last line seen>`` with
nanoseconds. Docker's ``since`` is inclusive (and only to the second in some versions), so
while resuming, lines older than that timestamp are dropped and lines *at* it are dropped
when their text was already seen at it. Once a newer line arrives nothing is filtered, so
lines whose timestamps are slightly out of order (stdout vs stderr) are never lost.

Reading fast, and staying bounded
---------------------------------
The reader thread takes whatever the socket has (``read1``) and handles that whole batch at
once: one split of the HTTP chunks, Docker's frames and the stamps (``_FastFrames``, one
regular expression, checked by sums; anything unusual goes to ``_Dechunker`` and
``DockerLogDecoder``), one classification pass (``RuleSet.classify``, which also redacts),
one lock. During a backlog a helper thread reads ahead (``_read_ahead``) so that dockerd
never waits on a full socket while lines are classified. A line longer than
``MAX_LINE_BYTES`` is cut at ingest with a visible marker, so a 1 MB line costs 16 KB.
Each source keeps a ``deque(maxlen=buffer_lines)``. Subscribers get coalesced ``LogBatch``es
at most every ``flush_interval`` seconds; a line that left its ring buffer before it could be
delivered is *counted* (``LogBatch.skipped``), never dropped silently. Auth events are kept
apart as well (``events``) so a flood of ordinary lines cannot push them out of view, and
counted per minute for ``auth_summary`` and the pane's sparkline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import itertools
import logging
import os
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any, Generic, TypeVar

from console.config import Config, ServerConfig
from console.engine import dockerapi
from console.engine.contracts import Change
from console.engine.host_api import Host, HostUnavailable
from console.engine.redact import TRIGGERS, redact, redact_line
from console.engine.rules import LineRewrite, RuleError, RuleSet
from console.models import LogLine, Severity, utcnow
from console.textsafe import make_visible

__all__ = [
    "INITIAL_TAIL",
    "INITIAL_WINDOW_S",
    "MAX_LINE_BYTES",
    "DockerLogDecoder",
    "LineAssembler",
    "LogBatch",
    "LogService",
    "SourceStatus",
    "export_lines",
    "format_line",
    "tune_gc",
]

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 * 1024
INITIAL_WINDOW_S = 900.0
INITIAL_TAIL = 1000
EVENTS_KEPT = 5000
MINUTES_KEPT = 180
FLUSH_INTERVAL = 0.1
RETRY_MIN = 1.0
RETRY_MAX = 30.0
REFRESH_CONNECT_TIMEOUT = 10.0
FILE_REFRESH_LINES = 5000
READ_SIZE = 256 * 1024
BACKLOG_BYTES = 16 * 1024  # a read this large means the sender is ahead: read ahead
READ_AHEAD_BYTES = 4 * 1024 * 1024  # read ahead at most this much per source
READ_AHEAD_PAUSE = 0.001  # seconds between two small reads ahead
CAUGHT_UP_S = 0.5  # no backlog-sized read for this long: the helper has caught up
SLICE = 256  # lines handled between two GIL hand-overs
_NS = 1_000_000_000

Subscriber = Callable[["LogBatch"], None]
T = TypeVar("T")
_new_line: Callable[[tuple[Any, ...]], LogLine] = functools.partial(tuple.__new__, LogLine)
"""A LogLine from a tuple of its seven fields, without a Python-level call."""


GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """Collect the youngest objects every 10,000 allocations instead of every 700, and
    move everything alive at start-up (Textual, the config) out of the collector's walks.

    A flood allocates several objects a line (the split row, its LogLine, the batch
    lists), hundreds of thousands a second: at the default threshold a collection ran
    every hundred-odd lines. Measured on the 500k-line ingest benchmark: 3.42 s with the
    default, 3.22 s at 10,000, 3.21 s at 50,000; RSS with 50 servers grew by 36 MB at
    50,000. For the interactive console only (``run_tui``), not the headless commands.
    """
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def _cut_marker(dropped: int) -> bytes:
    return f" … [{dropped:,} bytes cut]".encode()


# --------------------------------------------------------------------------- decoding


class LineAssembler:
    """Bytes in any chunking -> complete lines (without ``\\n``), each at most ``max_bytes``.

    The unfinished tail is kept for the next chunk, but never more than ``max_bytes`` of it:
    a line that never ends (or is 1 MB long) costs ``max_bytes`` of memory, and what was cut
    is announced in the line itself.
    """

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pending = bytearray()
        self._dropped = 0
        self.cut_lines = 0

    def feed(self, data: bytes) -> list[bytes]:
        parts = data.split(b"\n")
        rest = parts.pop()
        lines: list[bytes] = []
        if parts:
            first = None
            if self._pending or self._dropped:
                self._append(parts[0])
                first = self._take()
            limit = self.max_bytes
            lines = [p if len(p) <= limit else self._cut(p, len(p) - limit) for p in parts]
            if first is not None:
                lines[0] = first
        self._append(rest)
        return lines

    def flush(self) -> list[bytes]:
        """The unfinished last line, when the stream ends."""
        return [self._take()] if self._pending or self._dropped else []

    def _append(self, data: bytes) -> None:
        room = self.max_bytes - len(self._pending)
        if len(data) <= room:
            self._pending += data
        else:
            self._pending += data[:max(room, 0)]
            self._dropped += len(data) - max(room, 0)

    def _take(self) -> bytes:
        line = bytes(self._pending)
        if self._dropped:
            line += _cut_marker(self._dropped)
            self.cut_lines += 1
        self._pending.clear()
        self._dropped = 0
        return line

    def _cut(self, line: bytes, dropped: int) -> bytes:
        self.cut_lines += 1
        return line[:self.max_bytes] + _cut_marker(dropped)


class _Dechunker:
    """HTTP/1.1 chunked transfer decoding over raw reads (``done`` at the last chunk)."""

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0  # bytes of the current chunk still to come
        self._skip = 0  # CRLF after a chunk still to skip
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos = 0
        size = len(buf)
        while pos < size and not self.done:
            if self._left:
                take = min(self._left, size - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._skip = 2
                continue
            if self._skip:
                take = min(self._skip, size - pos)
                pos += take
                self._skip -= take
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            length = int(buf[pos:eol].split(b";", 1)[0] or b"0", 16)
            pos = eol + 2
            if length == 0:
                self.done = True
            self._left = length
        self._buf = buf[pos:] if not self.done else b""
        return b"".join(out)


class DockerLogDecoder:
    """Docker's log stream -> records ``b"<RFC3339Nano> <text>"``, one per log line.

    Non-TTY containers multiplex stdout and stderr in frames (8-byte header, then a payload
    that is one log message). Docker splits a message longer than 16 KB into several frames,
    each with the same timestamp and only the last ending in ``\\n``: those are joined here,
    their repeated timestamps removed, and cut at ``max_bytes``. TTY containers send a plain
    byte stream, split on newlines.
    """

    def __init__(self, tty: bool, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.tty = tty
        self.max_bytes = max_bytes
        self._lines = LineAssembler(max_bytes) if tty else None
        self._buf = b""
        self._partial: bytearray | None = None
        self._dropped = 0
        self._cut = 0

    @property
    def cut_lines(self) -> int:
        return self._lines.cut_lines if self._lines is not None else self._cut

    def feed(self, data: bytes) -> list[bytes]:
        if self._lines is not None:
            return [line.rstrip(b"\r") for line in self._lines.feed(data)]
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos = 0
        size = len(buf)
        limit = self.max_bytes + 40  # a frame carries its timestamp too
        while pos + 8 <= size:
            length = int.from_bytes(buf[pos + 4:pos + 8], "big")
            end = pos + 8 + length
            if end > size:
                break
            if length:
                payload = buf[pos + 8:end]
                if self._partial is None and payload[-1] == 10 and length <= limit:
                    out.append(payload[:-1])
                else:
                    self._slow(payload, out)
            pos = end
        self._buf = buf[pos:]
        return out

    def _slow(self, payload: bytes, out: list[bytes]) -> None:
        complete = payload.endswith(b"\n")
        body = payload[:-1] if complete else payload
        if self._partial is None:
            self._partial = bytearray()
            self._add(body)
        else:
            space = body.find(b" ")
            self._add(body[space + 1:] if _looks_like_time(body[:space]) else body)
        if complete:
            record = bytes(self._partial)
            if self._dropped:
                record += _cut_marker(self._dropped)
                self._cut += 1
            out.append(record)
            self._partial = None
            self._dropped = 0

    def _add(self, data: bytes) -> None:
        assert self._partial is not None
        room = self.max_bytes + 40 - len(self._partial)
        if len(data) <= room:
            self._partial += data
        else:
            self._partial += data[:max(room, 0)]
            self._dropped += len(data) - max(room, 0)

    def flush(self) -> list[bytes]:
        if self._lines is not None:
            return self._lines.flush()
        if self._partial is None:
            return []
        record = bytes(self._partial)
        self._partial = None
        return [record]


_STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (.*)$", re.M)
"""A record as Docker sends it with ``timestamps=1``: RFC 3339 in UTC, nanoseconds with
trailing zeros trimmed, a space, the text (never a newline: records are split on them)."""


def _newest(times: Sequence[datetime], texts: Sequence[str], ns_of: Callable[[int], int]
            ) -> tuple[int, list[str]]:
    """The block's newest time in nanoseconds and the texts at exactly that time.

    Only the rows at the newest microsecond (``max`` over datetimes runs in C) have their
    nanoseconds worked out: usually one row, where parsing every stamp cost a microsecond
    a line. The newest nanosecond is always among them, truncation keeping the order.
    """
    latest = max(times)
    top = [i for i, time_ in enumerate(times) if time_ == latest]
    nanos = [ns_of(i) for i in top]
    newest = max(nanos)
    return newest, [texts[i] for i, ns in zip(top, nanos, strict=True) if ns == newest]


def _looks_like_time(token: bytes) -> bool:
    return len(token) >= 20 and token[4:5] == b"-" and token[10:11] == b"T"


class _Clock:
    """Docker timestamps -> (nanoseconds since the epoch, datetime), cached per second.

    Parsing a datetime for every line of a flood would cost more than everything else; lines
    of the same second share the expensive part.
    """

    def __init__(self) -> None:
        self._second = ""
        self._base_ns = 0
        self._base: datetime | None = None

    def nanos(self, stamp: str) -> int:
        """Nanoseconds since the epoch of a stamp ``_STAMPED`` accepted."""
        parsed = self.parse(stamp)
        assert parsed is not None  # _STAMPED only lets valid stamps through
        return parsed[0]

    def parse(self, stamp: str) -> tuple[int, datetime] | None:
        second = stamp[:19]
        if second != self._second:
            try:
                base = datetime.fromisoformat(second).replace(tzinfo=UTC)
            except ValueError:
                return None
            self._second, self._base = second, base
            self._base_ns = int(base.timestamp()) * _NS
        base = self._base
        assert base is not None
        rest = stamp[19:]
        if rest == "Z":
            return self._base_ns, base
        if rest[:1] == "." and rest[-1:] == "Z" and rest[1:-1].isdigit():
            frac = int(rest[1:-1].ljust(9, "0")[:9])
            # base has no sub-second part: replace() is base + timedelta, in one call
            return self._base_ns + frac, base.replace(microsecond=frac // 1000)
        try:  # an offset instead of Z: rare, so the slow way
            parsed = datetime.fromisoformat(stamp[:26] + rest[rest.find("+"):] if "+" in rest
                                            else stamp).astimezone(UTC)
        except ValueError:
            return None
        return int(parsed.timestamp()) * _NS + parsed.microsecond * 1000, parsed


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class LogBatch:
    """What subscribers get at most every ``flush_interval`` seconds.

    ``lines``: every new line still in the ring buffers, in arrival order (all servers
    merged). ``events``: the new auth events among them, kept apart so that a flood of
    ordinary lines cannot push them out. ``skipped`` / ``events_skipped``: how many left the
    buffers before they could be delivered (the pane says so).
    """

    lines: list[LogLine]
    events: list[LogLine]
    skipped: int = 0
    events_skipped: int = 0


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One source as the pane's status line shows it."""

    server: str
    name: str
    kind: str  # container | file
    state: str  # starting | following | stopped | lost | missing | error
    detail: str = ""
    since: datetime = field(default_factory=utcnow)
    lines: int = 0
    skipped: int = 0
    cut: int = 0

    @property
    def ok(self) -> bool:
        return self.state in ("following", "stopped", "starting")


class _Source:
    """Mutable state of one source. Reader threads touch only the ingest fields (under the
    service lock) and the resume fields (only ever one reader at a time per source)."""

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
        self.reader: Any = None  # StreamPump or asyncio.Task
        self.container_id = ""
        self.read_key: tuple[str, str] | None = None  # (id, state) last read once
        self.failures = 0
        self.retry: asyncio.TimerHandle | None = None

    def set_state(self, state: str, detail: str = "") -> bool:
        if (state, detail) == (self.state, self.detail):
            return False
        if state != self.state:
            self.since = utcnow()
        self.state, self.detail = state, detail
        return True

    def status(self) -> SourceStatus:
        return SourceStatus(self.server, self.name, self.kind, self.state, self.detail,
                            self.since, self.ingested, self.skipped, self.cut)

    # -- resume ------------------------------------------------------------------------

    def since_param(self, now_ns: int, window_s: float,
                    tail: int | None = INITIAL_TAIL) -> tuple[str, str]:
        """(since, tail) for the next read, and arm the duplicate filter."""
        if self.last_ns:
            self.resume_ns = self.last_ns
            return _since_text(self.last_ns), "all"
        if self.opened_ns:  # read before but saw nothing: everything since is new
            self.resume_ns = 0
            return _since_text(self.opened_ns - 5 * _NS), "all"
        self.opened_ns = now_ns
        self.resume_ns = 0
        return _since_text(now_ns - int(window_s * _NS)), "all" if tail is None else str(tail)

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


def _since_text(ns: int) -> str:
    ns = max(ns, 0)
    return f"{ns // _NS}.{ns % _NS:09d}"


# --------------------------------------------------------------------------- service


class LogService:
    """Every server's log sources, merged, classified by the auth rules, redacted."""

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 containers: Any = None, clients: dockerapi.DockerClients | None = None,
                 flush_interval: float = FLUSH_INTERVAL,
                 initial_window_s: float = INITIAL_WINDOW_S,
                 initial_tail: int | None = INITIAL_TAIL) -> None:
        self.config = config
        self.hosts = hosts
        self.flush_interval = flush_interval
        self.initial_window_s = initial_window_s
        self.initial_tail = initial_tail
        self._clients = clients
        self._containers = containers
        self._own_containers = containers is None
        self.problems: list[str] = []
        self._rules = {s.name: self._rules_for(s) for s in config.servers}
        self._servers = {s.name: s for s in config.servers if s.name in hosts}
        self._sources: dict[tuple[str, str], _Source] = {}
        self._lock = threading.Lock()
        self._seq = 0
        maxlen = max((s.logs.buffer_lines for s in config.servers), default=10_000)
        self._events: deque[LogLine] = deque(maxlen=max(EVENTS_KEPT, maxlen))
        self._events_ingested = 0
        self._events_delivered = 0
        self._minutes: dict[int, dict[tuple[str, str], int]] = {}
        self.skipped_total = 0
        self._subscribers: list[Subscriber] = []
        self._status_subscribers: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_pending = False
        self._last_flush = 0.0
        self._running = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._unsubscribe: list[Callable[[], None]] = []

    def _rules_for(self, server: ServerConfig) -> RuleSet:
        rewrite = LineRewrite(TRIGGERS, redact_line)
        try:
            return RuleSet.from_config(server.logs, rewrite=rewrite)
        except RuleError as exc:
            self.problems.append(f"{server.name}: {exc}; using the built-in rules only")
            return RuleSet.default(rewrite=rewrite)

    # -- plumbing ----------------------------------------------------------------------

    @property
    def clients(self) -> dockerapi.DockerClients:
        if self._clients is None:
            self._clients = dockerapi.default_clients()
        return self._clients

    @property
    def containers(self) -> Any:
        if self._containers is None:
            from console.engine.containers import ContainerService

            self._containers = ContainerService(self.config, self.hosts, clients=self._clients)
        return self._containers

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """``callback(LogBatch)`` on the event loop, coalesced; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._discard(self._subscribers, callback)

    def subscribe_status(self, callback: Callable[[], None]) -> Callable[[], None]:
        """``callback()`` on the loop when a source's state changes (``sources()``)."""
        self._status_subscribers.append(callback)
        return lambda: self._discard(self._status_subscribers, callback)

    @staticmethod
    def _discard(items: list[Any], item: Any) -> None:
        with contextlib.suppress(ValueError):
            items.remove(item)

    def _source(self, server: str, name: str, kind: str) -> _Source:
        key = (server, name)
        src = self._sources.get(key)
        if src is None:
            maxlen = self._servers[server].logs.buffer_lines if server in self._servers \
                else 10_000
            src = _Source(server, name, kind, maxlen)
            self._sources[key] = src
        return src

    # -- views (no I/O) ----------------------------------------------------------------

    def sources(self) -> list[SourceStatus]:
        return [src.status() for src in self._sources.values()]

    def buffered(self, auth_only: bool = False) -> list[LogLine]:
        """Everything in the buffers (or the kept auth events), oldest first."""
        with self._lock:
            if auth_only:
                return list(self._events)
            runs = [list(src.buffer) for src in self._sources.values()]
        merged = list(itertools.chain.from_iterable(runs))
        merged.sort(key=attrgetter("seq"))
        return merged

    def snapshot(self) -> dict[str, Any]:
        return {"sources": self.sources(), "skipped": self.skipped_total,
                "counts": self.rule_counts()}

    def rule_counts(self, window_s: float = INITIAL_WINDOW_S, server: str | None = None,
                    now: datetime | None = None) -> dict[str, int]:
        """Auth events per rule whose line time is within the last ``window_s`` seconds."""
        now = now or utcnow()
        cutoff = now - timedelta(seconds=window_s)
        with self._lock:
            events = list(self._events)
            complete = self._events_ingested <= len(events) or (
                bool(events) and events[0].time <= cutoff)
            if not complete:
                return self._counts_from_minutes(cutoff, now, server)
        counts: dict[str, int] = {}
        for line in events:
            if line.time >= cutoff and (server is None or line.server == server):
                counts[line.rule] = counts.get(line.rule, 0) + 1  # type: ignore[index]
        return counts

    def _counts_from_minutes(self, cutoff: datetime, now: datetime,
                             server: str | None) -> dict[str, int]:
        """Approximate to the minute; used only when an event flood overran the buffer."""
        first = int(cutoff.timestamp() // 60)
        counts: dict[str, int] = {}
        for minute, per in self._minutes.items():
            if minute >= first:
                for (srv, rule), n in per.items():
                    if server is None or srv == server:
                        counts[rule] = counts.get(rule, 0) + n
        return counts

    def rate_per_minute(self, minutes: int = 30, server: str | None = None,
                        now: datetime | None = None) -> list[int]:
        """Auth events per minute, oldest first, the last entry being the current minute."""
        current = int((now or utcnow()).timestamp() // 60)
        with self._lock:
            rows = {m: per for m, per in self._minutes.items() if m > current - minutes}
        return [sum(n for (srv, _), n in rows.get(m, {}).items()
                    if server is None or srv == server)
                for m in range(current - minutes + 1, current + 1)]

    def auth_summary(self, window_s: float = INITIAL_WINDOW_S, server: str | None = None,
                     recent: int = 20, now: datetime | None = None) -> dict[str, Any]:
        """The ``auth_events`` object of ``check --json`` (SPEC): counts, and the ``recent``
        events oldest first (the last one is the newest)."""
        now = now or utcnow()
        cutoff = now - timedelta(seconds=window_s)
        with self._lock:
            events = [e for e in self._events
                      if e.time >= cutoff and (server is None or e.server == server)]
        latest = events[-recent:] if recent else []
        return {
            "window_s": int(window_s),
            "counts": self.rule_counts(window_s, server, now),
            "recent": [{
                "time": e.time.isoformat().replace("+00:00", "Z"),
                "server": e.server,
                "source": e.source,
                "rule": e.rule,
                "severity": e.severity.label if e.severity is not None else None,
                "line": make_visible(e.text, 500),
            } for e in latest],
        }

    # -- ingest (any thread) -----------------------------------------------------------

    def feed(self, server: str, source: str, texts: Iterable[str],
             times: Sequence[datetime] | None = None, kind: str = "container") -> None:
        """Ingest lines from elsewhere (tests, benchmarks, a future source kind): cut,
        classified and redacted exactly like the lines the readers bring. Any thread."""
        limit = MAX_LINE_BYTES + 128  # room for a decoder's own cut marker
        rows = [t if len(t) <= limit else t[:MAX_LINE_BYTES] +
                f" … [{len(t) - MAX_LINE_BYTES:,} chars cut]" for t in texts]
        stamps = list(times) if times is not None else [utcnow()] * len(rows)
        self._ingest(self._source(server, source, kind), stamps, rows)

    def _ingest(self, src: _Source, times: Sequence[datetime], texts: list[str]) -> None:
        """Classify (and redact, in place) a batch of one source's lines and store them."""
        if not texts:
            return
        found = dict(self._rules[src.server].classify_lines(texts))
        count = len(texts)
        with self._lock:
            first = self._seq + 1
            self._seq += count
        rules: list[str | None] = [None] * count
        severities: list[Severity | None] = [None] * count
        for i, rule in found.items():
            rules[i], severities[i] = rule.name, rule.severity
        # built by map/zip in C: a Python-level constructor call per line cost as much as
        # classifying an ordinary line
        lines = list(map(_new_line, zip(itertools.repeat(src.server), itertools.repeat(src.name),
                                        times, texts, rules, severities,
                                        range(first, first + count))))
        events = [lines[i] for i in found]
        with self._lock:
            src.buffer.extend(lines)
            src.ingested += count
            if events:
                self._add_events(events)
        self._wake()

    def _add_events(self, events: list[LogLine]) -> None:
        self._events.extend(events)
        self._events_ingested += len(events)
        for line in events:
            minute = int(line.time.timestamp() // 60)
            per = self._minutes.setdefault(minute, {})
            key = (line.server, line.rule or "")
            per[key] = per.get(key, 0) + 1

    def _wake(self) -> None:
        """Ask the loop for a flush; coalesced, so a flood costs one call per interval."""
        loop = self._loop
        if loop is None or self._wake_pending:
            return
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._arm_flush)
        except RuntimeError:  # the loop is closed
            self._wake_pending = False

    def _arm_flush(self) -> None:
        assert self._loop is not None
        delay = self._last_flush + self.flush_interval - self._loop.time()
        self._loop.call_later(max(delay, 0.0), self._flush)

    def _flush(self) -> None:
        assert self._loop is not None
        self._wake_pending = False
        self._last_flush = self._loop.time()
        batch = self._collect()
        if batch is None:
            return
        for callback in list(self._subscribers):
            try:
                callback(batch)
            except Exception:  # one broken subscriber must not stop the others
                log.exception("logs subscriber failed")

    def _collect(self) -> LogBatch | None:
        runs: list[list[LogLine]] = []
        skipped = 0
        with self._lock:
            for src in self._sources.values():
                new = src.ingested - src.delivered
                if not new:
                    continue
                available = min(new, len(src.buffer))
                runs.append(_tail(src.buffer, available))
                src.skipped += new - available
                skipped += new - available
                src.delivered = src.ingested
            new_events = self._events_ingested - self._events_delivered
            available = min(new_events, len(self._events))
            events = _tail(self._events, available)
            events_skipped = new_events - available
            self._events_delivered = self._events_ingested
            self._prune_minutes()
        if not runs and not new_events:
            return None
        self.skipped_total += skipped
        lines = runs[0] if len(runs) == 1 else sorted(
            itertools.chain.from_iterable(runs), key=attrgetter("seq"))
        return LogBatch(lines, events, skipped, events_skipped)

    def _prune_minutes(self) -> None:
        if len(self._minutes) > MINUTES_KEPT:
            for minute in sorted(self._minutes)[:-MINUTES_KEPT]:
                del self._minutes[minute]

    def _status_changed(self) -> None:
        for callback in list(self._status_subscribers):
            try:
                callback()
            except Exception:
                log.exception("logs status subscriber failed")

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Follow every source in the background; returns at once."""
        if self._running:
            return
        self._running = True
        self._loop = asyncio.get_running_loop()
        containers = self.containers
        self._unsubscribe.append(containers.subscribe(self._on_containers))
        if self._own_containers:
            await containers.start()
        for name, server in self._servers.items():
            self._on_containers(name)
            for path in server.logs.files:
                src = self._source(name, path, "file")
                src.reader = asyncio.create_task(self._follow_file(src, self.hosts[name]),
                                                 name=f"logs:{name}:{path}")
                self._tasks.append(src.reader)

    async def stop(self) -> None:
        self._running = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for src in self._sources.values():
            self._stop_reader(src)
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._own_containers and self._containers is not None:
            await self._containers.stop()

    def _stop_reader(self, src: _Source) -> None:
        if src.retry is not None:
            src.retry.cancel()
            src.retry = None
        reader, src.reader = src.reader, None
        if isinstance(reader, dockerapi.StreamPump):
            reader.stop()
        elif isinstance(reader, asyncio.Task):
            reader.cancel()

    # -- containers (loop) -------------------------------------------------------------

    def _on_containers(self, change: str | Change) -> None:
        """The ContainerService changed this server's rows: start/stop readers to match."""
        server = change.server if isinstance(change, Change) else change
        if not self._running or server not in self._servers:
            return
        snap = self.containers.snapshot().get(server)
        if snap is None:
            return
        changed = False
        if snap.state != "ok":
            reason = snap.error or snap.state
            for src in self._container_sources(server):
                changed |= src.set_state("lost" if snap.state != "connecting" else "starting",
                                         reason)
            if changed:
                self._status_changed()
            return
        for name, info in self._wanted(server, snap.containers):
            changed |= self._reconcile(self._source(server, name, "container"), info)
        if changed:
            self._status_changed()

    def _container_sources(self, server: str) -> list[_Source]:
        return [s for s in self._sources.values() if s.server == server and s.kind == "container"]

    def _wanted(self, server: str, rows: Iterable[Any]) -> list[tuple[str, Any]]:
        by_name = {info.name: info for info in rows}
        names = self._servers[server].logs.containers
        if names is None:
            names = tuple(sorted(by_name))
            for src in self._container_sources(server):  # gone from the server
                if src.name not in by_name:
                    names += (src.name,)
        return [(name, by_name.get(name)) for name in names]

    def _reconcile(self, src: _Source, info: Any) -> bool:
        if info is None:
            return src.set_state("missing", "no such container")
        running = info.state == "running"
        if src.reader is not None and src.container_id == info.id:
            if running or not isinstance(src.reader, dockerapi.StreamPump):
                return False
            return src.set_state("stopped", _describe_stopped(info))  # reader drains, ends
        if src.reader is not None:  # recreated under the same name
            self._stop_reader(src)
        key = (info.id, info.state)
        if not running and src.read_key == key:
            return src.set_state("stopped", _describe_stopped(info))
        if src.retry is not None:
            return False  # a retry is scheduled; it will read the newest state
        src.container_id = info.id
        src.read_key = key
        self._start_container_reader(src, follow=running)
        return src.set_state("following" if running else "stopped",
                             "" if running else _describe_stopped(info))

    def _start_container_reader(self, src: _Source, follow: bool) -> None:
        host = self.hosts[src.server]
        task = asyncio.create_task(self._open_container(src, host, follow),
                                   name=f"logs:{src.server}:{src.name}")
        src.reader = task
        self._tasks.append(task)
        task.add_done_callback(self._tasks_done)

    def _tasks_done(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _open_container(self, src: _Source, host: Host, follow: bool) -> None:
        """Get the client (async), then hand the blocking read to its own thread."""
        try:
            client = await self.clients.get(host)
        except Exception as exc:  # noqa: BLE001 - shown, then retried
            self._reader_ended(src, follow, exc)
            return
        if src.reader is not asyncio.current_task():
            return  # stopped meanwhile
        reader = _ContainerReader(self, src, client.api, follow, self.initial_window_s)
        pump = dockerapi.pump_stream(
            reader.open, lambda _item: None,
            lambda error: self._reader_ended(src, follow, error),
            name=f"docker-logs:{src.server}:{src.name}")
        pump.opened.add_done_callback(_consume)  # failures arrive through on_end
        src.reader = pump

    def _reader_ended(self, src: _Source, follow: bool, error: BaseException | None) -> None:
        """A read ended: the container stopped, the link dropped, or it was a one-shot read."""
        src.reader = None
        if not self._running:
            return
        gone = getattr(getattr(error, "response", None), "status_code", None) == 404
        if error is not None and gone:
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
            delay = min(RETRY_MIN * 2 ** (src.failures - 1), RETRY_MAX)
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
            self._status_changed()
        if error is None:
            self._on_containers(src.server)

    def _retry(self, src: _Source) -> None:
        src.retry = None
        self._on_containers(src.server)

    # -- files (loop) ------------------------------------------------------------------

    async def _follow_file(self, src: _Source, host: Host) -> None:
        """``tail -F`` over the host, forever; resumes at the byte it stopped at if it can."""
        delay = RETRY_MIN
        while self._running:
            if not await host.wait_up(timeout=None if host.status.is_up else 30.0):
                self._file_state(src, "lost", host.status.describe())
                continue
            argv, note = await self._file_argv(src, host)
            self._file_state(src, "following", note)
            started = asyncio.get_running_loop().time()
            try:
                await self._read_file_stream(src, host, argv)
                detail = "tail ended"
            except asyncio.CancelledError:
                raise
            except HostUnavailable as exc:
                detail = str(exc) or "server unreachable"
            except Exception as exc:  # noqa: BLE001 - shown, then retried
                detail = f"{type(exc).__name__}: {exc}"
            if asyncio.get_running_loop().time() - started > 60:
                delay = RETRY_MIN
            self._file_state(src, "lost", f"{detail}; retry in {delay:.0f}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _file_state(self, src: _Source, state: str, detail: str) -> None:
        if src.set_state(state, detail):
            self._status_changed()

    async def _file_argv(self, src: _Source, host: Host) -> tuple[list[str], str]:
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

    async def _read_file_stream(self, src: _Source, host: Host, argv: list[str]) -> None:
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
            await stream.aclose()  # type: ignore[attr-defined]

    # -- refresh (headless) ------------------------------------------------------------

    async def refresh(self, window_s: float = INITIAL_WINDOW_S) -> None:
        """Read the last ``window_s`` seconds of every source once, without following.

        For ``check`` and ``report``: afterwards ``auth_summary()`` covers the window.
        """
        snapshot = await self._listed_containers()
        await asyncio.gather(*(self._refresh_server(name, snapshot.get(name), window_s)
                               for name in self._servers))
        batch = self._collect()  # mark everything delivered; nobody follows
        del batch

    async def _listed_containers(self) -> dict[str, Any]:
        """The container rows to read. A shared ContainerService is being refreshed by the
        Fleet at the same time: wait for it rather than list everything twice."""
        containers = self.containers

        def pending() -> bool:
            snap = containers.snapshot()
            return any(snap.get(n) is None or snap[n].state == "connecting"
                       for n in self._servers)

        if self._own_containers:
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

    async def _refresh_server(self, name: str, snap: Any, window_s: float) -> None:
        host = self.hosts[name]
        if not await host.wait_up(timeout=REFRESH_CONNECT_TIMEOUT):
            for src in self._container_sources(name):
                src.set_state("lost", host.status.describe())
            return
        jobs = []
        if snap is not None and snap.state == "ok":
            for cname, info in self._wanted(name, snap.containers):
                src = self._source(name, cname, "container")
                if info is None:
                    src.set_state("missing", "no such container")
                    continue
                jobs.append(self._refresh_container(src, host, info, window_s))
        for path in self._servers[name].logs.files:
            jobs.append(self._refresh_file(self._source(name, path, "file"), host, window_s))
        await asyncio.gather(*jobs)

    async def _refresh_container(self, src: _Source, host: Host, info: Any,
                                 window_s: float) -> None:
        try:
            client = await self.clients.get(host)
            reader = _ContainerReader(self, src, client.api, False, window_s, tail="all")
            await dockerapi.run_blocking(reader.read_all)
            src.set_state("following" if info.state == "running" else "stopped", "")
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            src.set_state("error", dockerapi.describe_docker_error(exc))

    async def _refresh_file(self, src: _Source, host: Host, window_s: float) -> None:
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
        times = _file_times(texts, mtime)
        cutoff = utcnow() - timedelta(seconds=window_s)
        keep = [i for i, t in enumerate(times) if t >= cutoff]
        self._ingest(src, [times[i] for i in keep], [texts[i] for i in keep])
        src.cut = assembler.cut_lines
        src.set_state("stopped", "read once")

    # -- export ------------------------------------------------------------------------

    def export(self, lines: Sequence[LogLine], path: str | os.PathLike[str]) -> int:
        """Write lines to a file (blocking: call it from a worker thread)."""
        return export_lines(lines, path)


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _tail(items: deque[LogLine], count: int) -> list[LogLine]:
    if count <= 0:
        return []
    if count >= len(items):
        return list(items)
    out = list(itertools.islice(reversed(items), count))
    out.reverse()
    return out


def _describe_stopped(info: Any) -> str:
    code = getattr(info, "exit_code", None)
    state = getattr(info, "state", "stopped")
    return f"container {state}" + (f" (exit code {code})" if code is not None else "")


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


# Times found at the start of common log lines, for files read once (refresh).
_FILE_TIMES = (
    (re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)"), "%Y-%m-%d %H:%M:%S"),
    (re.compile(r"(\d{4}/\d\d/\d\d) (\d\d:\d\d:\d\d)"), "%Y/%m/%d %H:%M:%S"),
    (re.compile(r"\[(\d\d/\w{3}/\d{4}):(\d\d:\d\d:\d\d)"), "%d/%b/%Y %H:%M:%S"),
)


def _file_times(texts: Sequence[str], fallback: datetime) -> list[datetime]:
    """Each line's own time when it starts with a known format (taken as UTC), else the
    previous line's; lines before any dated one get the file's modification time."""
    times: list[datetime] = []
    current: datetime | None = None
    for text in texts:
        head = text[:64]
        for pattern, fmt in _FILE_TIMES:
            m = pattern.search(head)
            if m:
                with contextlib.suppress(ValueError):
                    current = datetime.strptime(f"{m.group(1)} {m.group(2)}", fmt).replace(
                        tzinfo=UTC)
                break
        times.append(current or fallback)
    return times


class _ContainerReader:
    """One read of one container's log (follow or once), run in its own thread.

    ``open()`` returns the object the StreamPump iterates: iterating does the reading and
    the ingest, yielding nothing; ``close()`` from another thread shuts the socket down,
    which is the only way to interrupt the blocking read.
    """

    def __init__(self, service: LogService, src: _Source, api: Any, follow: bool,
                 window_s: float, tail: str | None = None) -> None:
        self.service = service
        self.src = src
        self.api = api
        self.follow = follow
        self.window_s = window_s
        self.tail = tail
        self._response: Any = None
        self._closed = threading.Event()

    def open(self) -> _ContainerReader:
        container = self.src.container_id or self.src.name
        tty = bool((self.api.inspect_container(container).get("Config") or {}).get("Tty"))
        since, tail = self.src.since_param(int(utcnow().timestamp() * _NS), self.window_s,
                                           self.service.initial_tail)
        params = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": int(self.follow),
                  "tail": self.tail or tail, "since": since}
        url = self.api._url("/containers/{0}/logs", container)
        response = self.api._get(url, params=params, stream=True,
                                 timeout=None if self.follow else 60)
        self.api._raise_for_status(response)
        self._response = response
        self._decoder = DockerLogDecoder(tty)
        if self._closed.is_set():
            self.close()
        return self

    def read_all(self) -> None:
        """One-shot read in the calling thread (refresh)."""
        self.open()
        for _ in self:
            pass

    def __iter__(self) -> Iterator[None]:
        blocks = _log_blocks(self._response, self._decoder)
        for block in _read_ahead(blocks, self.src.name, _block_bytes):
            count = len(block[1]) if isinstance(block, tuple) else len(block)
            for start in range(0, count, SLICE):
                piece = slice(start, start + SLICE)
                if isinstance(block, tuple):
                    self._handle_rows(block[0][piece], block[1][piece])
                else:
                    self._handle(block[piece])
                # Hand the GIL over: a reader that holds it for whole 5 ms switch intervals
                # makes every event-loop turn of the UI wait that long (convoy effect).
                time.sleep(0)
        return
        yield  # a generator, so that the pump can iterate it

    def _handle(self, records: list[bytes]) -> None:
        """Records from the general decoder: ``b"<stamp> <text>"`` each."""
        if not records:
            return
        block = b"\n".join(records).decode("utf-8", "replace")
        rows = _STAMPED.findall(block)
        if len(rows) == len(records):  # every row has Docker's UTC stamp: the C-speed way
            self._handle_rows([row[0] for row in rows], [row[1] for row in rows])
            return
        ns_list, times, texts = self._split(block.split("\n"))
        self._store(times, texts, ns_list.__getitem__)

    def _handle_rows(self, stamps: list[str], texts: list[str]) -> None:
        """Rows already split into Docker's UTC stamps and texts."""
        if not stamps:
            return
        try:
            times = list(map(datetime.fromisoformat, stamps))
        except ValueError:  # digits in the shape of a stamp, not a date: row by row
            ns_list, times, texts = self._split([f"{s} {t}" for s, t in zip(stamps, texts,
                                                                          strict=True)])
            self._store(times, texts, ns_list.__getitem__)
            return
        nanos = self._clock.nanos
        self._store(times, texts, lambda i: nanos(stamps[i]))

    def _store(self, times: list[datetime], texts: list[str],
               ns_of: Callable[[int], int]) -> None:
        src = self.src
        if src.resume_ns:  # a resume boundary is armed: filter line by line
            keep = [i for i in range(len(texts)) if src.accept(ns_of(i), texts[i])]
            times = [times[i] for i in keep]
            texts = [texts[i] for i in keep]
        else:
            src.advance(*_newest(times, texts, ns_of))
        src.cut = self._decoder.cut_lines
        self.service._ingest(src, times, texts)

    def _split(self, rows: list[str]) -> tuple[list[int], list[datetime], list[str]]:
        """Rows some of which have no usable stamp (a TTY stream's odd line, an offset
        instead of Z): parsed one by one, an unstamped row taking the time before it."""
        parse = self._clock.parse
        stamps: list[int] = []
        times: list[datetime] = []
        texts: list[str] = []
        last: tuple[int, datetime] | None = None
        for row in rows:
            stamp, _, text = row.partition(" ")
            parsed = parse(stamp)
            if parsed is None:
                parsed, text = last or (0, utcnow()), row
            last = parsed
            stamps.append(parsed[0])
            times.append(parsed[1])
            texts.append(text)
        return stamps, times, texts

    @property
    def _clock(self) -> _Clock:
        clock = getattr(self, "_clock_obj", None)
        if clock is None:
            clock = self._clock_obj = _Clock()
        return clock

    def close(self) -> None:
        self._closed.set()
        response = self._response
        if response is None:
            return
        from docker.types import CancellableStream

        with contextlib.suppress(Exception):
            CancellableStream(iter(()), response).close()
        with contextlib.suppress(Exception):
            response.close()


def _raw_reads(response: Any) -> tuple[Iterator[bytes], bool]:
    """The response body as it arrives, in reads of whatever the socket has, and whether
    those reads still carry the HTTP/1.1 chunked coding.

    ``read1`` on the connection's buffered reader returns everything already received (up
    to READ_SIZE) and blocks only when nothing is: a flood comes in large reads, a trickle
    line by line without delay. When the connection objects are not the expected ones,
    urllib3's own (slower) chunk reader is used, and the reads are plain body.
    """
    raw = response.raw
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    if not getattr(raw, "chunked", False) or fp is None or not hasattr(fp, "read1"):
        return raw.stream(READ_SIZE, decode_content=False), False
    return iter(functools.partial(fp.read1, READ_SIZE), b""), True


_Block = tuple[list[str], list[str]] | list[bytes]


def _log_blocks(response: Any, decoder: DockerLogDecoder) -> Iterator[_Block]:
    """A Docker log response as blocks of lines, until its end.

    A block is ``(stamps, texts)`` from ``_FastFrames`` (the shape of almost every read),
    or records ``b"<stamp> <text>"`` from ``decoder`` (TTY streams, lines over 16 KB,
    anything unusual). Once the fast path meets a read it cannot vouch for, it hands that
    read and every later one to the general decoders, from the chunk where it stopped.
    """
    reads, chunked = _raw_reads(response)
    fast = _FastFrames(decoder.max_bytes) if chunked and not decoder.tty else None
    dechunk = _Dechunker() if chunked else None
    for data in reads:
        if fast is not None:
            rows = fast.feed(data)
            if rows is not None:
                if rows[0]:
                    yield rows
                if fast.done:
                    return
                continue
            data, fast = fast.rest, None
        records = decoder.feed(dechunk.feed(data) if dechunk is not None else data)
        if records:
            yield records
        if dechunk is not None and dechunk.done:
            break
    records = decoder.flush()
    if records:
        yield records


_FRAME = re.compile(
    rb"([0-9a-fA-F]{1,8})\r\n"  # an HTTP chunk: its size in hex
    rb"[\x01\x02]\x00\x00\x00([\x00-\xff]{4})"  # a Docker frame: stdout/stderr, length
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) ([^\n]*)\n"  # stamp, text
    rb"\r\n"  # the chunk's end
)
_LAST_CHUNK = b"0\r\n\r\n"


class _FastFrames:
    """Docker's chunked, multiplexed log stream in its usual shape, split at C speed.

    dockerd writes one log line per frame and one frame per HTTP chunk, so a read is
    ``<hex size>\\r\\n<8-byte frame header><stamp> <text>\\n\\r\\n`` over and over. One
    regular expression splits every whole chunk of a read into (stamp, text); where a
    Python loop per chunk and per frame cost more than a microsecond a line.

    Nothing is taken on trust: the chunk sizes, the frames' declared lengths and the
    matched bytes must all add up, and the matches must cover the read exactly. Texts
    cannot contain a newline, so a chunk holding two frames, a frame split over chunks or
    a long line's partial frames all break a match, and then ``feed`` returns None: the
    caller hands ``rest`` (from the last whole chunk on) to the general decoders.
    """

    def __init__(self, max_bytes: int) -> None:
        self.limit = max_bytes + 40  # a frame carries its stamp too
        self.rest = b""
        self.done = False

    def feed(self, data: bytes) -> tuple[list[str], list[str]] | None:
        buf = self.rest + data if self.rest else data
        self.rest = buf  # nothing is consumed until a block is vouched for
        done = buf.endswith(_LAST_CHUNK) and (len(buf) == 5 or buf[-7:-5] == b"\r\n")
        if done:
            head, rest = buf[:-5], b""
        else:
            end = buf.rfind(b"\n\r\n") + 3
            head, rest = (buf[:end], buf[end:]) if end >= 3 else (b"", buf)
        if not head:  # no whole chunk yet (or only the last, empty one)
            if len(rest) > self.limit + 32:  # a chunk this long is not one line's frame
                return None
            self.rest, self.done = rest, done
            return [], []
        rows = _FRAME.findall(head)
        if not rows:
            return None
        sizes, lengths, stamps, texts = zip(*rows, strict=True)
        count = len(rows)
        declared = struct.unpack(f">{count}I", b"".join(lengths))
        payload = sum(map(len, stamps)) + sum(map(len, texts)) + 2 * count
        if (sum(declared) != payload or max(declared) > self.limit
                or sum(map(int, sizes, itertools.repeat(16))) != payload + 8 * count
                or sum(map(len, sizes)) + payload + 12 * count != len(head)):
            return None
        self.rest, self.done = rest, done
        return (b"\n".join(stamps).decode("ascii").split("\n"),
                b"\n".join(texts).decode("utf-8", "replace").split("\n"))


def _read_ahead(blocks: Iterator[T], name: str, size: Callable[[T], int] = len
                ) -> Iterator[T]:
    """``blocks``, read in a helper thread while the sender is ahead of us.

    Read and handled in one thread, a flood alternates: while a block is classified and
    stored nobody reads the socket, its buffer (about 200 KB) fills in a millisecond and
    dockerd waits; then dockerd works while we wait. A block of ``BACKLOG_BYTES`` or more
    (by ``size``) means a backlog: a helper thread then keeps reading into a bounded
    ``_Handoff`` while this thread works, so the two overlap. Once the helper has caught
    up (a small read, ``CAUGHT_UP_S`` after the last large one) it ends and reading comes
    back to this thread: a follow that trickles, which is most of them most of the time,
    costs no second thread (every source starts with a large read, its history, and a
    50-server fleet would otherwise keep a hundred helpers).
    """
    while True:
        for block in blocks:
            yield block
            if size(block) >= BACKLOG_BYTES:
                break
        else:
            return
        handoff: _Handoff[T] = _Handoff(READ_AHEAD_BYTES, size)
        threading.Thread(target=_pump, args=(blocks, handoff, size),
                         name=f"read-ahead:{name}", daemon=True).start()
        try:
            while (taken := handoff.take()) is not None:
                yield from taken
        finally:
            handoff.close()
        if not handoff.caught_up:
            return


def _pump(blocks: Iterator[T], handoff: _Handoff[T], size: Callable[[T], int]) -> None:
    """The read-ahead helper's loop (see ``_read_ahead``)."""
    backlog_at = time.monotonic()
    try:
        for block in blocks:
            if not handoff.put(block):
                return
            if size(block) >= BACKLOG_BYTES:
                backlog_at = time.monotonic()
                continue
            if time.monotonic() - backlog_at >= CAUGHT_UP_S:
                handoff.end(None, caught_up=True)  # it must not touch blocks after this
                return
            # let a moment of lines gather in the socket: a read per line costs the GIL
            # as much as handling the line. Longer stalls dockerd: on the 500k-line
            # flood 4 ms took 5.3 s, 2 ms 3.8 s, 1 ms 3.6 s, none 3.8 s.
            time.sleep(READ_AHEAD_PAUSE)
        handoff.end(None)
    except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
        handoff.end(exc)


class _Handoff(Generic[T]):
    """Blocks from the read-ahead helper to the reading thread, at most ``limit`` (by
    ``size``) waiting.

    ``take`` returns every block that arrived since the last call; None at the end (the
    stream's, or the helper's when ``caught_up``), or the helper's exception raised.
    ``close`` (the reader stopped) makes the helper's next ``put`` return False.
    """

    def __init__(self, limit: int, size: Callable[[T], int]) -> None:
        self.limit = limit
        self.size = size
        self._blocks: list[T] = []
        self._waiting = 0
        self._ended = False
        self._error: BaseException | None = None
        self._closed = False
        self.caught_up = False
        self._cond = threading.Condition()

    def put(self, block: T) -> bool:
        with self._cond:
            while self._waiting >= self.limit and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._blocks.append(block)
            self._waiting += self.size(block)
            self._cond.notify_all()
            return True

    def end(self, error: BaseException | None, caught_up: bool = False) -> None:
        with self._cond:
            self._ended, self._error, self.caught_up = True, error, caught_up
            self._cond.notify_all()

    def take(self) -> list[T] | None:
        with self._cond:
            while not self._blocks and not self._ended:
                self._cond.wait()
            if self._blocks:
                blocks, self._blocks, self._waiting = self._blocks, [], 0
                self._cond.notify_all()
                return blocks
            if self._error is not None:
                raise self._error
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._blocks, self._waiting = [], 0
            self._cond.notify_all()


def _block_bytes(block: _Block) -> int:
    """About how many bytes a block of lines holds (its texts)."""
    texts = block[1] if isinstance(block, tuple) else block
    return sum(map(len, texts))


# --------------------------------------------------------------------------- export


def format_line(line: LogLine) -> str:
    """One exported line: time, server, source, rule, then the text made printable."""
    rule = f"[{line.rule}]" if line.rule else "-"
    stamp = line.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = make_visible(redact(line.text), MAX_LINE_BYTES + 64)
    return f"{stamp} {line.server} {make_visible(line.source, 256)} {rule} {text}"


def export_lines(lines: Iterable[LogLine], path: str | os.PathLike[str]) -> int:
    """Write lines to ``path`` (created 0600: logs name people); returns how many.

    Redacted again on the way out and control characters escaped, so the file is safe to
    ``cat`` and holds no secret even if one slipped past ingest.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as out:
        for line in lines:
            out.write(format_line(line) + "\n")
            count += 1
    return count

