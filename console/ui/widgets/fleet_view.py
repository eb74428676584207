"""What the fleet pane shows, worked out without Textual: rows, order, filter and groups.

Kept apart from the widget so the ordering rules (what an operator must see first) are
tested on plain data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from console.config import ServerConfig
from console.engine.fleet_sources import Alert, FleetSourcesSnapshot, ProbeRow
from console.engine.health import KLASS_LABELS
from console.models import Severity

__all__ = ["FleetLine", "GROUPS", "fleet_lines", "matching_server", "target_host"]

GROUPS = ("none", "job", "instance", "env", "source")


@dataclass(frozen=True, slots=True)
class FleetLine:
    """One target as a row: everything the pane prints, and how it ranks."""

    key: tuple[str, str, str]
    group: str
    target: str
    up: str
    state: str
    latency: str
    alerts: str
    held_s: float
    reason: str
    rank: int  # lower is worse: it sorts first
    ok: bool


def _worst(alerts: Sequence[Alert]) -> Severity | None:
    firing = [a.severity for a in alerts if a.state == "firing"]
    return max(firing) if firing else None


def _rank(row: ProbeRow, worst: Severity | None) -> int:
    if worst is not None:
        return 50 - int(worst)  # a firing critical (40) ranks 10, a warning (20) ranks 30
    if row.up is False:
        return 35
    return 40 if not row.ok else 90


def _alerts_cell(alerts: Sequence[Alert]) -> str:
    firing = [a for a in alerts if a.state == "firing"]
    if not firing:
        pending = sum(1 for a in alerts if a.state == "pending")
        return f"{pending} pending" if pending else "-"
    worst = max(firing, key=lambda a: a.severity)
    more = f" +{len(firing) - 1}" if len(firing) > 1 else ""
    return f"{worst.severity.label} {worst.name}{more}"


def fleet_lines(snapshot: FleetSourcesSnapshot, now: datetime, *, group: str = "none",
                pattern: str = "") -> list[FleetLine]:
    """Rows sorted worst first (firing alerts, down, failing, fine), then by name.

    ``pattern`` is a case-insensitive regex over the target, job, class and reason; an
    invalid one matches as a plain substring instead of hiding every row.
    """
    by_instance: dict[str, list[Alert]] = {}
    for alert in snapshot.alerts:
        by_instance.setdefault(alert.instance or "", []).append(alert)
    match = _matcher(pattern)
    lines = []
    for row in snapshot.targets:
        alerts = by_instance.get(row.instance, [])
        text = " ".join((row.instance, row.job, row.klass, row.reason,
                         " ".join(a.name for a in alerts)))
        if not match(text):
            continue
        lines.append(FleetLine(
            key=row.key, group=_group_of(row, group), target=row.instance,
            up={True: "up", False: "DOWN", None: "-"}[row.up],
            state=KLASS_LABELS.get(row.klass, row.klass) if row.is_probe or not row.ok
            else "up",
            latency="-" if row.latency_ms is None else f"{row.latency_ms:.0f} ms",
            alerts=_alerts_cell(alerts),
            held_s=max(0.0, (now - row.since).total_seconds()), reason=row.reason,
            rank=_rank(row, _worst(alerts)), ok=row.ok))
    lines.sort(key=lambda line: (line.group, line.rank, line.target))
    return lines


def _group_of(row: ProbeRow, group: str) -> str:
    if group == "none":
        return ""
    if group == "source":
        return row.source
    if group == "job":
        return row.job
    if group == "instance":
        return target_host(row.instance)
    return row.labels.get(group, f"(no {group})")


def _matcher(pattern: str) -> Callable[[str], bool]:
    if not pattern:
        return lambda text: True
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error:
        needle = pattern.lower()
        return lambda text: needle in text.lower()
    return lambda text: compiled.search(text) is not None


def target_host(instance: str) -> str:
    """The host name in an ``instance`` label: a URL's host, or ``host:port``'s host."""
    if "://" in instance:
        return urlsplit(instance).hostname or instance
    host, _, port = instance.rpartition(":")
    return host if host and port.isdigit() else instance


def matching_server(instance: str, servers: Iterable[ServerConfig]) -> ServerConfig | None:
    """The configured server a target belongs to: by ``prometheus_instance``, else host."""
    servers = list(servers)
    for server in servers:
        if server.prometheus_instance and server.prometheus_instance == instance:
            return server
    host = target_host(instance)
    for server in servers:
        if not server.is_local and server.host == host:
            return server
    return None
