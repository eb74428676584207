"""Findings as plain data and plain text: the shapes ``check --json``, ``check`` and
``report`` print. Server-sent text inside them (container names, log quotes) is left as it
is: each printer makes it printable or escapes it for its own medium."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from console.engine.diagnosis.model import Finding
from console.engine.diagnosis.tracker import Tracked, format_duration
from console.models import Severity

__all__ = ["finding_json", "fix_text", "held_text", "serious"]

SERIOUS = Severity.WARNING


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def fix_text(finding: Finding) -> str:
    """'press r: restart crm-backend-1 (why)' or 'by hand: <exact words>'."""
    fix = finding.fix
    if fix.action == "manual":
        return f"by hand: {fix.why}"
    return f"press {fix.key}: {fix.action.replace('_', '-')} {fix.target} ({fix.why})"


def finding_json(item: Finding | Tracked, now: datetime | None = None) -> dict[str, Any]:
    """The ``findings`` entry of ``check --json`` (SPEC "Diagnosis"), with the episode."""
    tracked = item if isinstance(item, Tracked) else None
    finding = item.finding if isinstance(item, Tracked) else item
    doc: dict[str, Any] = {
        "id": finding.id,
        "severity": finding.severity.label,
        "server": finding.server,
        "target": finding.target,
        "summary": finding.summary,
        "evidence": [{"pane": e.pane, "row": list(e.row), "text": e.text}
                     for e in finding.evidence],
        "fix": {"action": finding.fix.action, "target": finding.fix.target,
                "key": finding.fix.key, "why": finding.fix.why},
        "since": _iso(tracked.started if tracked is not None else finding.since),
        "related": list(finding.related),
    }
    if tracked is not None and now is not None:
        doc["held_for_s"] = round(tracked.held_s(now), 1)
        doc["cleared_at"] = _iso(tracked.cleared)
    elif now is not None:
        held = None if finding.since is None else max(0.0, (now - finding.since).total_seconds())
        doc["held_for_s"] = None if held is None else round(held, 1)
    return doc


def held_text(doc: dict[str, Any]) -> str:
    """'held for 4 min' from a finding document, or '' when nobody knows since when."""
    held = doc.get("held_for_s")
    return "" if held is None else f"held for {format_duration(held)}"


def serious(findings: Iterable[Finding]) -> bool:
    """True when any finding is a warning or worse: ``check`` then exits 1."""
    return any(f.severity >= SERIOUS for f in findings)
