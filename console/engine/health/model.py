"""The health read model: each endpoint's last result and a little history, frozen.

``HealthService.snapshot()`` returns one ``HealthSnapshot``; the pane, ``check``, ``report``
and the diagnosis read it and nothing else. ``HealthChange`` tells listeners which endpoint
was just probed, with its new state, so a pane can redraw at once when a class changed.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from console.config import HealthCheck
from console.engine.contracts import Change
from console.models import HealthResult, utcnow

__all__ = [
    "HISTORY",
    "EndpointState",
    "HealthChange",
    "HealthSnapshot",
    "ProbeTarget",
    "Track",
    "expected_latency",
]

HISTORY = 30


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One endpoint to watch on one server (from the config, or found by discovery)."""

    server: str
    check: HealthCheck
    discovered: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.server, self.check.name)


@dataclass(frozen=True, slots=True)
class EndpointState:
    """What the pane shows for one endpoint: the last result and a little history."""

    server: str
    name: str
    url: str
    from_: str
    discovered: bool
    result: HealthResult | None
    latencies: tuple[float | None, ...] = ()  # oldest first; None where the probe failed
    changed_at: datetime | None = None  # when ``klass`` last changed (first result counts)
    runs: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.server, self.name)

    @property
    def klass(self) -> str:
        return self.result.klass if self.result is not None else "pending"

    @property
    def ok(self) -> bool | None:
        return None if self.result is None else self.result.ok

    def since_change(self, now: datetime | None = None) -> float | None:
        if self.changed_at is None:
            return None
        return max(0.0, ((now or utcnow()) - self.changed_at).total_seconds())


class Track:
    """Mutable per-endpoint history, owned by the service; ``view()`` freezes it."""

    __slots__ = ("changed_at", "latencies", "result", "runs", "target")

    def __init__(self, target: ProbeTarget, history: int) -> None:
        self.target = target
        self.result: HealthResult | None = None
        self.latencies: deque[float | None] = deque(maxlen=history)
        self.changed_at: datetime | None = None
        self.runs = 0

    def record(self, result: HealthResult) -> None:
        if self.result is None or self.result.klass != result.klass:
            self.changed_at = result.checked_at
        self.result = result
        self.latencies.append(result.latency_ms if result.status is not None else None)
        self.runs += 1

    def view(self) -> EndpointState:
        check = self.target.check
        return EndpointState(
            server=self.target.server, name=check.name, url=check.url, from_=check.from_,
            discovered=self.target.discovered, result=self.result,
            latencies=tuple(self.latencies), changed_at=self.changed_at, runs=self.runs,
        )


def expected_latency(track: Track) -> float:
    """For ordering a round: the slowest endpoints are sent first, so the round ends when
    the slowest answer arrives rather than after it waited behind everyone else's send.
    Endpoints never probed sort first (they may be slow); a failed probe counts as its
    timeout."""
    if track.result is None:
        return math.inf
    if track.result.status is None:
        return track.target.check.timeout * 1000
    return track.result.latency_ms or 0.0


def _no_notes() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Every endpoint in config order (discovered ones after), and what discovery found.

    ``discovery_notes``: per zero-config server, what discovery found or why it could not
    look ("2 health endpoints found on 3 published ports").
    """

    endpoints: tuple[EndpointState, ...] = ()
    discovery_notes: Mapping[str, str] = field(default_factory=_no_notes)

    @property
    def results(self) -> tuple[HealthResult, ...]:
        """The latest result of every endpoint that has one."""
        return tuple(e.result for e in self.endpoints if e.result is not None)

    def endpoint(self, server: str, name: str) -> EndpointState | None:
        return next((e for e in self.endpoints if e.key == (server, name)), None)


@dataclass(frozen=True, slots=True)
class HealthChange(Change):
    """An endpoint was probed (or found): its new state, for a pane deciding to redraw now."""

    endpoint: EndpointState | None = None
