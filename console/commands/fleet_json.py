"""The fleet sources in the check document: ``alerts``, ``probes`` and ``fleet_sources``.

Top-level lists (``check --json`` version 1 only gains fields): ``alerts`` with ``name``,
``severity``, ``state``, ``source``, ``labels``, ``starts_at``, ``summary``; ``probes`` with
``source``, ``instance``, ``ok``, ``class``, ``reason``, ``status``, ``latency_ms``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from console.engine.fleet_sources import Alert, FleetSourcesSnapshot, ProbeRow, SourceState
from console.models import Severity

__all__ = ["fleet_problems", "fleet_sections", "render_fleet_lines"]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def alert_json(alert: Alert) -> dict[str, Any]:
    return {"name": alert.name, "severity": alert.severity.label, "state": alert.state,
            "source": alert.source, "labels": dict(alert.labels),
            "starts_at": _iso(alert.starts_at), "summary": alert.summary}


def probe_json(row: ProbeRow) -> dict[str, Any]:
    return {"source": row.source, "job": row.job, "instance": row.instance, "ok": row.ok,
            "up": row.up, "probe": row.is_probe, "class": row.klass, "reason": row.reason,
            "status": row.status,
            "latency_ms": None if row.latency_ms is None else round(row.latency_ms, 1),
            "cert_expires_at": _iso(row.cert_expires_at), "since": _iso(row.since)}


def source_json(state: SourceState) -> dict[str, Any]:
    return {"name": state.name, "url": state.url, "state": state.state,
            "detail": state.detail, "alerts_detail": state.alerts_detail,
            "alerts_from": state.alerts_from, "interval_s": state.interval_s,
            "updated_at": _iso(state.updated_at)}


def fleet_sections(snapshot: FleetSourcesSnapshot) -> dict[str, Any]:
    return {"fleet_sources": [source_json(s) for s in snapshot.sources],
            "alerts": [alert_json(a) for a in snapshot.alerts],
            "probes": [probe_json(r) for r in snapshot.targets]}


def fleet_problems(snapshot: FleetSourcesSnapshot) -> bool:
    """A firing alert of warning or worse, a failing target, or a source not answering."""
    return (any(a.state == "firing" and a.severity >= Severity.WARNING
                for a in snapshot.alerts)
            or any(not r.ok for r in snapshot.targets)
            or any(s.state != "up" for s in snapshot.sources))


def render_fleet_lines(doc: dict[str, Any], clean: Any) -> list[str]:
    """The check table's fleet block; ``clean`` makes server-sent text printable."""
    if not doc.get("fleet_sources"):
        return []
    out = ["== fleet sources"]
    for source in doc["fleet_sources"]:
        detail = f": {clean(source['detail'])}" if source["detail"] else ""
        out.append(f"   {clean(source['name'])}  {source['state']}{detail}")
        if source["alerts_detail"]:
            out.append(f"     ! {clean(source['alerts_detail'])}")
    firing = [a for a in doc["alerts"] if a["state"] == "firing"]
    out.append(f"   alerts firing: {len(firing)}")
    for alert in firing:
        out.append(f"     {alert['severity']:<8} {clean(alert['name'])}  "
                   f"{clean(alert['labels'].get('instance', ''))}  {clean(alert['summary'])}")
    bad = [p for p in doc["probes"] if not p["ok"]]
    out.append(f"   targets: {len(doc['probes']) - len(bad)} fine, {len(bad)} failing")
    for probe in bad:
        out.append(f"     FAIL {clean(probe['instance']):<40} {probe['class']}: "
                   f"{clean(probe['reason'])}")
    out.append("")
    return out
