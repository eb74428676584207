"""Alerts firing in the monitoring engines the team already runs.

The page the operator got is an Alertmanager alert, so what is firing belongs on the first
screen with its own words (the ``summary`` annotation). One finding per alert name, its
severity the worst of the alert's instances, each instance an evidence row in the fleet
view. The console cannot know what an alert's fix is, so the fix is manual and says where
to look: the fleet view's row and the alert's own summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from console.engine.diagnosis.common import Candidate, clip
from console.engine.diagnosis.model import Evidence, Finding, Fix
from console.engine.fleet_sources.model import Alert

__all__ = ["alerts_firing"]


def alerts_firing(alerts: Iterable[Alert], now: datetime) -> list[Candidate]:
    groups: dict[tuple[str, str], list[Alert]] = {}
    for alert in alerts:
        if alert.state == "firing":
            groups.setdefault((alert.source, alert.name), []).append(alert)
    return [_finding(source, name, group) for (source, name), group in sorted(groups.items())]


def _finding(source: str, name: str, group: list[Alert]) -> Candidate:
    group.sort(key=lambda a: (-int(a.severity), a.instance or ""))
    worst = group[0]
    where = worst.instance or "(no instance label)"
    more = f" and {len(group) - 1} more" if len(group) > 1 else ""
    said = f": {clip(worst.summary, 100)}" if worst.summary else ""
    evidence = tuple(
        Evidence("fleet", (a.source, a.instance or ""),
                 clip(f"{a.instance or name}: {a.summary or a.name} ({a.severity.label})"))
        for a in group)
    starts = [a.starts_at for a in group if a.starts_at is not None]
    finding = Finding(
        id="alert_firing", severity=worst.severity, server=source, target=name,
        summary=f"{source}: {name} firing for {where}{more}{said}",
        evidence=evidence,
        fix=Fix("manual", name, f"an alert of {source}'s Alertmanager: open the fleet view "
                "(key 5) on its targets and act on what its summary names"),
        since=min(starts) if starts else None)
    return Candidate(finding, frozenset({("alert", source, name)}))
