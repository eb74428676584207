"""How long each finding has held, and what recovered in the last hour.

``FindingTracker.update(findings, now)`` is pure given ``now``: the tracker keeps, per
finding identity ``(id, server, target)``, when it was first seen (or, earlier, when the
snapshot says its condition began), and when a finding is no longer reported it moves to
the cleared list with its duration, for an hour. A finding that comes back starts a new
episode: its old cleared entry goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from console.engine.diagnosis.engine import sort_findings
from console.engine.diagnosis.model import Finding

__all__ = ["CLEARED_KEPT", "DiagnosisView", "FindingTracker", "Tracked", "format_duration"]

CLEARED_KEPT = timedelta(hours=1)

Key = tuple[str, str, str]


def format_duration(seconds: float) -> str:
    """'35 s', '4 min', '2 h 5 min', '3 d 4 h': short, for a strip cell and a report."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True, slots=True)
class Tracked:
    """A finding with its episode: ``started`` to ``cleared`` (None while it holds)."""

    finding: Finding
    started: datetime
    cleared: datetime | None = None

    @property
    def active(self) -> bool:
        return self.cleared is None

    def held_s(self, now: datetime) -> float:
        end = self.cleared if self.cleared is not None else now
        return max(0.0, (end - self.started).total_seconds())

    def held_for(self, now: datetime) -> str:
        return format_duration(self.held_s(now))


@dataclass(frozen=True, slots=True)
class DiagnosisView:
    """What the strip, the ``d`` screen, ``check`` and ``report`` show."""

    active: tuple[Tracked, ...]  # most severe first
    cleared: tuple[Tracked, ...]  # most recently cleared first
    now: datetime

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(t.finding for t in self.active)


class FindingTracker:
    """Episodes of findings over successive diagnoses. Not thread-safe: one owner."""

    def __init__(self) -> None:
        self._active: dict[Key, Tracked] = {}
        self._cleared: dict[Key, Tracked] = {}

    def update(self, findings: Iterable[Finding], now: datetime) -> DiagnosisView:
        current = {f.key: f for f in findings}
        for key, tracked in list(self._active.items()):
            if key not in current:
                del self._active[key]
                self._cleared[key] = Tracked(tracked.finding, tracked.started, now)
        for key, finding in current.items():
            old = self._active.get(key)
            if old is None:
                self._cleared.pop(key, None)
                started = min(now, finding.since) if finding.since is not None else now
            else:
                started = old.started
                if finding.since is not None and finding.since < started:
                    started = finding.since
            self._active[key] = Tracked(finding, started)
        cutoff = now - CLEARED_KEPT
        self._cleared = {k: t for k, t in self._cleared.items()
                         if t.cleared is not None and t.cleared >= cutoff}
        return self.view(now)

    def view(self, now: datetime) -> DiagnosisView:
        order = {f.key: i for i, f in
                 enumerate(sort_findings(t.finding for t in self._active.values()))}
        active = sorted(self._active.values(), key=lambda t: order[t.finding.key])
        cutoff = now - CLEARED_KEPT
        cleared = sorted((t for t in self._cleared.values()
                          if t.cleared is not None and t.cleared >= cutoff),
                         key=lambda t: t.cleared or now, reverse=True)
        return DiagnosisView(tuple(active), tuple(cleared), now)
