"""One round of query results joined into one row per target.

Every series is keyed by its ``job`` and ``instance`` labels, the pair Prometheus itself
uses for a target; blackbox_exporter's relabelling puts the probed URL in ``instance``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from console.engine.fleet_sources.classify import (
    ProbeMetrics,
    classify_probe,
    classify_scrape_error,
)
from console.engine.fleet_sources.model import ProbeRow
from console.engine.fleet_sources.prometheus import Sample, TargetInfo

__all__ = ["Key", "build_rows"]

Key = tuple[str, str]  # (job, instance)
_HIDDEN_LABELS = frozenset({"__name__", "phase"})


def _key(labels: Mapping[str, str]) -> Key:
    return labels.get("job", ""), labels.get("instance", "")


def _by_key(samples: Sequence[Sample]) -> dict[Key, Sample]:
    return {_key(s.labels): s for s in samples}


def _value(series: Mapping[Key, Sample], key: Key) -> float | None:
    sample = series.get(key)
    return None if sample is None else sample.value


def build_rows(source: str, results: Mapping[str, Sequence[Sample]],
               targets: Sequence[TargetInfo], now: datetime) -> list[ProbeRow]:
    """``results``: metric name -> its samples this round (a missing metric: no series)."""
    series = {name: _by_key(samples) for name, samples in results.items()
              if name != "probe_http_duration_seconds"}
    phases: dict[Key, dict[str, float]] = defaultdict(dict)
    for sample in results.get("probe_http_duration_seconds", ()):
        phases[_key(sample.labels)][sample.labels.get("phase", "?")] = sample.value
    info = {_key(t.labels): t for t in targets}
    up = series.get("up", {})
    success = series.get("probe_success", {})
    keys = sorted(set(up) | set(success))
    rows = []
    for key in keys:
        labels = dict((up.get(key) or success[key]).labels)
        for hidden in _HIDDEN_LABELS:
            labels.pop(hidden, None)
        rows.append(_row(source, key, labels, series, phases.get(key, {}), info.get(key),
                         now))
    return rows


def _row(source: str, key: Key, labels: dict[str, str], series: Mapping[str, dict[Key, Sample]],
         phases: Mapping[str, float], target: TargetInfo | None, now: datetime) -> ProbeRow:
    up_value = _value(series.get("up", {}), key)
    up = None if up_value is None else up_value == 1
    is_probe = key in series.get("probe_success", {})
    metrics = ProbeMetrics(
        success=_value(series.get("probe_success", {}), key),
        status=_value(series.get("probe_http_status_code", {}), key),
        duration_s=_value(series.get("probe_duration_seconds", {}), key),
        ip_protocol=_value(series.get("probe_ip_protocol", {}), key),
        regex_failed=_value(series.get("probe_failed_due_to_regex", {}), key),
        cert_expiry_epoch=_value(series.get("probe_ssl_earliest_cert_expiry", {}), key),
        phases_s=phases, timeout_s=target.timeout_s if target else None,
        https=key[1].lower().startswith("https://"))
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
        phases_ms={p: v * 1000 for p, v in phases.items()}, cert_expires_at=cert, since=now)
