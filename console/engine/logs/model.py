"""What leaves the log service: its read model, its change events and the batches they carry.

``LogsSnapshot`` is the stable read model that ``check``, ``report``, the logs pane and the
diagnosis read (``LogService.snapshot()``): frozen, built without I/O, a new object on each
call. Lines themselves are not part of it (ten thousand per server would make a snapshot
costly); they reach listeners in ``LogChange.batch`` as they arrive, and ``buffered()``
returns what the ring buffers hold.

Listeners of ``LogService.subscribe`` get two kinds of ``Change``, on the event loop:

- ``LogChange`` (``server`` None: a batch merges every server): new lines, at most every
  ``flush_interval`` seconds. Its payload cannot be re-read later, because lines leave the
  ring buffers, which is why it travels with the event.
- a plain ``Change(service="logs", server=name)``: a source of that server changed state
  (following, lost, stopped, ...); re-read ``snapshot().sources``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from console.engine.contracts import Change
from console.models import LogLine, utcnow

__all__ = ["LogBatch", "LogChange", "LogsSnapshot", "SourceStatus"]


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


@dataclass(frozen=True, slots=True)
class LogBatch:
    """What listeners get at most every ``flush_interval`` seconds.

    ``lines``: every new line still in the ring buffers, in arrival order (all servers
    merged). ``events``: the new auth events among them, kept apart so that a flood of
    ordinary lines cannot push them out. ``skipped`` / ``events_skipped``: how many left the
    buffers before they could be delivered (the pane says so).
    """

    lines: list[LogLine]
    events: list[LogLine]
    skipped: int = 0
    events_skipped: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LogChange(Change):
    """New lines arrived: ``batch`` holds them (``service`` is "logs", ``server`` None)."""

    batch: LogBatch


@dataclass(frozen=True, slots=True)
class LogsSnapshot:
    """The log service's read model (see the module docstring).

    ``sources``: every source, in the order it was first seen. ``skipped``: lines that
    left a ring buffer before they could be delivered, over all sources. ``counts``: auth
    events per rule whose line time is within the last ``window_s`` seconds. ``problems``:
    configuration problems found at start-up (a rule that did not compile), in words.
    """

    sources: tuple[SourceStatus, ...]
    skipped: int
    counts: Mapping[str, int]
    window_s: float
    problems: tuple[str, ...] = ()
