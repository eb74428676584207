"""Prometheus's HTTP API: instant queries, active targets and its own alert list.

One request per metric per round, whatever the number of targets: a fleet of 500 probes
costs the same nine queries as a fleet of five.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from console.engine.fleet_sources.answers import SourceError, get_json

__all__ = ["PROBE_METRICS", "Key", "PrometheusAPI", "TargetInfo", "Vector", "parse_duration"]

# The blackbox_exporter series the fleet view reads, and ``up`` for every target.
PROBE_METRICS = (
    "up", "probe_success", "probe_http_status_code", "probe_duration_seconds",
    "probe_http_duration_seconds", "probe_dns_lookup_time_seconds", "probe_ip_protocol",
    "probe_failed_due_to_regex", "probe_ssl_earliest_cert_expiry",
)


Key = tuple[str, str]  # (job, instance): the pair Prometheus itself names a target by


@dataclass(slots=True)
class Vector:
    """One instant query's answer by target: each series' value, and its labels when they
    were asked for (only the metric that names the rows needs them)."""

    values: dict[Key, float] = field(default_factory=dict)
    labels: dict[Key, Mapping[str, str]] = field(default_factory=dict)
    # by the label asked for (``phase``), for a metric with one series per target and phase
    parts: dict[Key, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What ``/api/v1/targets`` says of one active target."""

    labels: Mapping[str, str]
    scrape_url: str
    health: str
    last_error: str
    interval_s: float | None
    timeout_s: float | None


def parse_duration(text: str) -> float | None:
    """A Prometheus duration ("15s", "1m30s", "500ms") in seconds; None if unreadable."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
             "y": 31536000.0}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            return None
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    return total if not number else None


def _labels(metric: Any) -> dict[str, str]:
    """A series' labels as text. The decoded JSON object is used as it is when every value
    is already a string (Prometheus's own answers; its keys always are)."""
    if not isinstance(metric, dict):
        raise TypeError("metric is not an object")
    if all(type(v) is str for v in metric.values()):
        return metric
    return {str(k): str(v) for k, v in metric.items()}


class PrometheusAPI:
    """The few endpoints the fleet view reads, each answer checked for Prometheus's shape."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, *,
                 headers: Mapping[str, str] | None = None,
                 auth: httpx.BasicAuth | None = None) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self._auth = auth

    async def _data(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        answer = await get_json(self._client, f"{self._base}{path}", params=params,
                                headers=self._headers, auth=self._auth)
        if not isinstance(answer, dict) or "status" not in answer:
            raise SourceError(f"{path}: not a Prometheus API answer")
        if answer.get("status") != "success":
            error = str(answer.get("error", "unknown error"))[:200]
            raise SourceError(f"{path}: Prometheus said {answer.get('errorType', 'error')}: "
                              f"{error}")
        return answer.get("data")

    async def query(self, expr: str, *, labels: bool = False,
                    by: str | None = None) -> Vector:
        """An instant query, read by target. Only what a row uses is taken from each
        series: 500 targets times nine metrics is 4,500 series a round, and building a
        labelled sample of each cost more than decoding the JSON."""
        data = await self._data("/api/v1/query", {"query": expr})
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise SourceError(f"query {expr!r}: expected an instant vector")
        vector = Vector()
        values, kept, parts = vector.values, vector.labels, vector.parts
        for item in data.get("result") or []:
            try:
                metric = item["metric"]
                value = float(item["value"][1])
                job, instance = metric.get("job", ""), metric.get("instance", "")
                key = (job if type(job) is str else str(job),
                       instance if type(instance) is str else str(instance))
                if labels:
                    kept[key] = _labels(metric)
                if by is not None:
                    part = metric.get(by, "?")
                    parts.setdefault(key, {})[part if type(part) is str else str(part)] = value
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                continue  # one malformed series must not hide the others
            values[key] = value
        return vector

    async def targets(self) -> list[TargetInfo]:
        data = await self._data("/api/v1/targets", {"state": "active"})
        result = []
        for item in (data or {}).get("activeTargets") or []:
            if not isinstance(item, dict):
                continue
            labels = item.get("labels")
            if not isinstance(labels, dict):
                continue
            result.append(TargetInfo(
                labels={str(k): str(v) for k, v in labels.items()},
                scrape_url=str(item.get("scrapeUrl", "")),
                health=str(item.get("health", "unknown")),
                last_error=str(item.get("lastError", "")),
                interval_s=parse_duration(str(item.get("scrapeInterval", ""))),
                timeout_s=parse_duration(str(item.get("scrapeTimeout", "")))))
        return result

    async def alerts(self) -> list[dict[str, Any]]:
        """Prometheus's own ``/api/v1/alerts``: the fallback when no Alertmanager is set."""
        data = await self._data("/api/v1/alerts")
        alerts = (data or {}).get("alerts") if isinstance(data, dict) else None
        return [a for a in alerts or [] if isinstance(a, dict)]
