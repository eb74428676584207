"""The line store: classify and keep every source's lines, the auth events, their counts.

Each source keeps a ``deque(maxlen=buffer_lines)``; ``collect`` hands out what arrived since
the last call, and a line that left its ring buffer before it could be delivered is
*counted* (``LogBatch.skipped``), never dropped silently. Auth events are kept apart as
well (``events``) so a flood of ordinary lines cannot push them out of view, and counted
per minute for ``rule_counts`` over a window longer than the events kept, and for the
pane's sparkline. Ingest runs in any thread; one lock guards the buffers and the counts.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import attrgetter

from console.engine.logs.model import LogBatch
from console.engine.logs.source import Source, SourceRegistry
from console.engine.rules import RuleSet
from console.models import LogLine, Severity, utcnow

__all__ = ["EVENTS_KEPT", "MINUTES_KEPT", "LogStore"]

EVENTS_KEPT = 5000
MINUTES_KEPT = 180

_LogLineFields = tuple[str, str, datetime, str, str | None, Severity | None, int]
_new_line: Callable[[_LogLineFields], LogLine] = functools.partial(tuple.__new__, LogLine)
"""A LogLine from a tuple of its seven fields, without a Python-level call."""


class LogStore:
    """The ring buffers of ``sources``, classified by each server's ``rules``."""

    def __init__(self, sources: SourceRegistry, rules: Mapping[str, RuleSet],
                 events_kept: int) -> None:
        self.sources = sources
        self._rules = rules
        self._lock = threading.Lock()
        self._seq = 0
        self._events: deque[LogLine] = deque(maxlen=max(EVENTS_KEPT, events_kept))
        self._events_ingested = 0
        self._events_delivered = 0
        self._minutes: dict[int, dict[tuple[str, str], int]] = {}
        self.skipped_total = 0

    # -- ingest (any thread) -----------------------------------------------------------

    def ingest(self, src: Source, times: Sequence[datetime], texts: list[str]) -> None:
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

    def _add_events(self, events: list[LogLine]) -> None:
        self._events.extend(events)
        self._events_ingested += len(events)
        for line in events:
            minute = int(line.time.timestamp() // 60)
            per = self._minutes.setdefault(minute, {})
            key = (line.server, line.rule or "")
            per[key] = per.get(key, 0) + 1

    # -- delivery ----------------------------------------------------------------------

    def collect(self) -> LogBatch | None:
        """Everything ingested since the last call (None: nothing), marked delivered."""
        runs: list[list[LogLine]] = []
        skipped = 0
        with self._lock:
            for src in self.sources:
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

    # -- views (no I/O) ----------------------------------------------------------------

    def buffered(self, auth_only: bool = False) -> list[LogLine]:
        """Everything in the buffers (or the kept auth events), oldest first."""
        with self._lock:
            if auth_only:
                return list(self._events)
            runs = [list(src.buffer) for src in self.sources]
        merged = list(itertools.chain.from_iterable(runs))
        merged.sort(key=attrgetter("seq"))
        return merged

    def events_since(self, cutoff: datetime, server: str | None) -> list[LogLine]:
        """The kept auth events whose line time is ``cutoff`` or later, oldest first."""
        with self._lock:
            return [e for e in self._events
                    if e.time >= cutoff and (server is None or e.server == server)]

    def rule_counts(self, window_s: float, server: str | None = None,
                    now: datetime | None = None) -> dict[str, int]:
        """Auth events per rule whose line time is within the last ``window_s`` seconds."""
        now = now or utcnow()
        cutoff = now - timedelta(seconds=window_s)
        with self._lock:
            events = list(self._events)
            complete = self._events_ingested <= len(events) or (
                bool(events) and events[0].time <= cutoff)
            if not complete:
                return self._counts_from_minutes(cutoff, server)
        counts: dict[str, int] = {}
        for line in events:
            if line.time >= cutoff and line.rule is not None and (
                    server is None or line.server == server):
                counts[line.rule] = counts.get(line.rule, 0) + 1
        return counts

    def _counts_from_minutes(self, cutoff: datetime, server: str | None) -> dict[str, int]:
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


def _tail(items: deque[LogLine], count: int) -> list[LogLine]:
    """The last ``count`` items of a deque, without copying the rest."""
    if count <= 0:
        return []
    if count >= len(items):
        return list(items)
    out = list(itertools.islice(reversed(items), count))
    out.reverse()
    return out
