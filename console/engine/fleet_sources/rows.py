"""One round of query results joined into one row per target.

Every series is keyed by its ``job`` and ``instance`` labels, the pair Prometheus itself
uses for a target; blackbox_exporter's relabelling puts the probed URL in ``instance``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from console.engine.fleet_sources.classify import (
    ProbeMetrics,
    classify_probe,
    classify_scrape_error,
)
from console.engine.fleet_sources.model import ProbeRow
from console.engine.fleet_sources.prometheus import Key, TargetInfo, Vector

__all__ = ["Key", "build_rows"]

_HIDDEN_LABELS = frozenset({"__name__", "phase"})
_NONE = Vector()


def _key(labels: Mapping[str, str]) -> Key:
    return labels.get("job", ""), labels.get("instance", "")


def build_rows(source: str, results: Mapping[str, Vector], targets: Sequence[TargetInfo],
               now: datetime, before: Mapping[tuple[str, str, str], ProbeRow] | None = None
               ) -> list[ProbeRow]:
    """``results``: metric name -> its answer this round (a missing metric: no series).

    ``before``: last round's rows by key; a row keeps its ``since`` while its class and
    ``up`` are what they were."""
    before = before or {}
    info = {_key(t.labels): t for t in targets}
    up = results.get("up", _NONE)
    success = results.get("probe_success", _NONE)
    status = results.get("probe_http_status_code", _NONE).values
    duration = results.get("probe_duration_seconds", _NONE).values
    ip_protocol = results.get("probe_ip_protocol", _NONE).values
    regex = results.get("probe_failed_due_to_regex", _NONE).values
    cert = results.get("probe_ssl_earliest_cert_expiry", _NONE).values
    phases = results.get("probe_http_duration_seconds", _NONE).parts
    rows = []
    for key in sorted(up.values.keys() | success.values.keys()):
        labels = {k: v for k, v in (up.labels.get(key) or success.labels[key]).items()
                  if k not in _HIDDEN_LABELS}
        up_value = up.values.get(key)
        is_probe = key in success.values
        target = info.get(key)
        metrics = ProbeMetrics(
            success=success.values.get(key), status=status.get(key),
            duration_s=duration.get(key), ip_protocol=ip_protocol.get(key),
            regex_failed=regex.get(key), cert_expiry_epoch=cert.get(key),
            phases_s=phases.get(key, {}), timeout_s=target.timeout_s if target else None,
            https=key[1].lower().startswith("https://"))
        rows.append(_row(source, key, labels, None if up_value is None else up_value == 1,
                         is_probe, metrics, target, now, before.get((source, *key))))
    return rows


def _row(source: str, key: Key, labels: dict[str, str], up: bool | None, is_probe: bool,
         metrics: ProbeMetrics, target: TargetInfo | None, now: datetime,
         old: ProbeRow | None) -> ProbeRow:
    last_error = target.last_error if target else ""
    if up is False:
        klass, reason = classify_scrape_error(last_error)
        if is_probe:
            reason = f"the probe itself was not scraped: {reason}"
        ok = False
    elif is_probe:
        ok, klass, reason = classify_probe(metrics, now)
    else:
        ok, klass, reason = True, "ok", "up: Prometheus scrapes it"
    cert = (datetime.fromtimestamp(metrics.cert_expiry_epoch, UTC)
            if metrics.cert_expiry_epoch else None)
    return ProbeRow(
        source=source, job=key[0], instance=key[1], labels=labels, up=up, is_probe=is_probe,
        ok=ok, klass=klass, reason=reason,
        status=int(metrics.status) if metrics.status else None,
        latency_ms=None if metrics.duration_s is None else metrics.duration_s * 1000,
        phases_ms={p: v * 1000 for p, v in metrics.phases_s.items()}, cert_expires_at=cert,
        since=old.since if old is not None and (old.klass, old.up) == (klass, up) else now)
