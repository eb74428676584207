"""Prometheus's HTTP API: instant queries, active targets and its own alert list.

A round asks four instant queries, whatever the number of targets: a fleet of 500 probes
costs the same requests as a fleet of five. Each query reads several metrics at once
(``{__name__=~"a|b"}``) and its answer is split back by ``__name__``: over loopback, each
request cost httpx about as much CPU as decoding its answer, so nine queries a round took
twice the CPU of three carrying the same series.

The series that only explain a failure (the phases, the DNS and regexp results) are asked
for the failing probes alone: in a healthy fleet of 500 probes they were three quarters of
each round's JSON, and a probe that succeeds is classified without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from console.engine.fleet_sources.answers import SourceError, get_json

__all__ = ["PROBE_METRICS", "QUERY_GROUPS", "Key", "PrometheusAPI", "QueryGroup", "TargetInfo",
           "Vector", "parse_duration"]


@dataclass(frozen=True, slots=True)
class QueryGroup:
    """Metrics read in one instant query.

    ``how`` None: every series with all its labels (the metrics that name the rows; their
    labels are what the operator groups by). ``how`` "max" or "min": Prometheus aggregates
    each metric to one series per target (and per ``by`` label), which halves the JSON.
    Several series of one target: the worst of them (the earliest certificate expiry, the
    highest of the rest)."""

    metrics: tuple[str, ...]
    how: str | None = None
    by: str | None = None
    failing_only: bool = False  # only the series of probes whose probe_success is 0

    def expr(self, selector: str = "") -> str:
        """The query, narrowed by ``selector`` (a label selector such as ``{env="prod"}``)."""
        inner = selector.strip()[1:-1].strip() if selector.strip() else ""
        if len(self.metrics) == 1:
            series = _series(self.metrics[0], inner)
            labels: tuple[str, ...] = ("job", "instance")
        else:
            # Metric names are [a-zA-Z_:][a-zA-Z0-9_:]*: nothing in them needs escaping.
            names = "|".join(self.metrics)
            series = "{" + ", ".join([f'__name__=~"{names}"', *([inner] if inner else [])]) + "}"
            labels = ("__name__", "job", "instance")
        if self.failing_only:
            series = f"{series} and on (job, instance) {_series('probe_success', inner)} == 0"
        if self.how is None:
            return series
        by = ", ".join((*labels, *((self.by,) if self.by else ())))
        return f"{self.how} by ({by}) ({series})"


def _series(metric: str, inner: str) -> str:
    return f"{metric}{{{inner}}}" if inner else metric


# The blackbox_exporter series the fleet view reads, and ``up`` for every target.
QUERY_GROUPS = (
    QueryGroup(("up", "probe_success")),
    QueryGroup(("probe_http_status_code", "probe_duration_seconds"), how="max"),
    QueryGroup(("probe_http_duration_seconds", "probe_dns_lookup_time_seconds",
                "probe_ip_protocol", "probe_failed_due_to_regex"), how="max", by="phase",
               failing_only=True),
    QueryGroup(("probe_ssl_earliest_cert_expiry",), how="min"),
)
PROBE_METRICS = tuple(m for group in QUERY_GROUPS for m in group.metrics)


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

    async def query(self, group: QueryGroup, selector: str = "") -> dict[str, Vector]:
        """One instant query, read by metric and target. Only what a row uses is taken from
        each series: 500 targets times nine metrics is 4,500 series a round, and building a
        labelled sample of each cost more than decoding the JSON."""
        expr = group.expr(selector)
        data = await self._data("/api/v1/query", {"query": expr})
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise SourceError(f"query {expr!r}: expected an instant vector")
        vectors = {metric: Vector() for metric in group.metrics}
        only = vectors[group.metrics[0]] if len(group.metrics) == 1 else None
        labels, by = group.how is None, group.by
        for item in data.get("result") or []:
            try:
                metric = item["metric"]
                vector = only or vectors.get(metric.get("__name__"))
                if vector is None:
                    continue  # a series of a metric not asked for, or without its name
                value = float(item["value"][1])
                job, instance = metric.get("job", ""), metric.get("instance", "")
                key = (job if type(job) is str else str(job),
                       instance if type(instance) is str else str(instance))
                if labels:
                    vector.labels[key] = _labels(metric)
                if by is not None and (part := metric.get(by)) is not None:
                    vector.parts.setdefault(key, {})[
                        part if type(part) is str else str(part)] = value
            except (KeyError, IndexError, TypeError, ValueError, AttributeError):
                continue  # one malformed series must not hide the others
            vector.values[key] = value
        return vectors

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
