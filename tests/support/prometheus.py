"""Answers recorded from the lab's real Prometheus, blackbox_exporter and Alertmanager
(tests/data/prometheus/), served through ``httpx.MockTransport``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

DATA = Path(__file__).resolve().parents[1] / "data" / "prometheus"


def recorded(name: str) -> object:
    return json.loads((DATA / name).read_text())


def recorded_now() -> datetime:
    """The time the answers were recorded at (the queries' own evaluation time)."""
    answer = recorded("query_up.json")
    return datetime.fromtimestamp(answer["data"]["result"][0]["value"][0], UTC)


def metrics_of(request: httpx.Request) -> list[str]:
    """The metrics an instant query asks for: ``up``, ``min by (job, instance) (m{...})`` or
    ``max by (__name__, ...) ({__name__=~"a|b", ...})``."""
    expr = request.url.params["query"]
    if names := re.search(r'__name__=~"([^"]*)"', expr):
        return names.group(1).split("|")
    inner = expr.rpartition("(")[2] if expr.endswith(")") else expr
    return [inner.rstrip(")").partition("{")[0]]


def _target(series: dict[str, Any]) -> tuple[str, str]:
    return series["metric"].get("job", ""), series["metric"].get("instance", "")


def query_answer(metrics: list[str], *, failing_only: bool = False) -> dict[str, object]:
    """The recorded answers of ``metrics`` as one, each series named as Prometheus names
    it when a query groups by ``__name__``; ``failing_only`` keeps the probes whose
    recorded ``probe_success`` is 0, as ``and on (job, instance) probe_success == 0`` does."""
    failing = {_target(s) for s in _result("probe_success") if s["value"][1] == "0"}
    result = []
    for metric in metrics:
        for series in _result(metric):
            if failing_only and _target(series) not in failing:
                continue
            result.append({**series, "metric": {"__name__": metric, **series["metric"]}})
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def _result(metric: str) -> list[dict[str, Any]]:
    answer: Any = recorded(f"query_{metric}.json")
    return list(answer["data"]["result"])


def lab_handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/api/v1/query":
        failing_only = "probe_success == 0" in request.url.params["query"]
        return httpx.Response(200, json=query_answer(metrics_of(request),
                                                     failing_only=failing_only))
    if path == "/api/v1/targets":
        return httpx.Response(200, json=recorded("targets.json"))
    if path == "/api/v2/alerts":
        return httpx.Response(200, json=recorded("alertmanager_alerts.json"))
    if path == "/api/v1/alerts":
        return httpx.Response(200, json=recorded("prometheus_alerts.json"))
    return httpx.Response(404)
