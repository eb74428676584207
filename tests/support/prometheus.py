"""Answers recorded from the lab's real Prometheus, blackbox_exporter and Alertmanager
(tests/data/prometheus/), served through ``httpx.MockTransport``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx

DATA = Path(__file__).resolve().parents[1] / "data" / "prometheus"


def recorded(name: str) -> object:
    return json.loads((DATA / name).read_text())


def recorded_now() -> datetime:
    """The time the answers were recorded at (the queries' own evaluation time)."""
    answer = recorded("query_up.json")
    return datetime.fromtimestamp(answer["data"]["result"][0]["value"][0], UTC)


def metric_of(request: httpx.Request) -> str:
    """The metric an instant query asks for (``up``, or ``max by (job, instance) (m{...})``)."""
    expr = request.url.params["query"]
    inner = expr.rpartition("(")[2] if expr.endswith(")") else expr
    return inner.rstrip(")").partition("{")[0]


def lab_handler(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/api/v1/query":
        return httpx.Response(200, json=recorded(f"query_{metric_of(request)}.json"))
    if path == "/api/v1/targets":
        return httpx.Response(200, json=recorded("targets.json"))
    if path == "/api/v2/alerts":
        return httpx.Response(200, json=recorded("alertmanager_alerts.json"))
    if path == "/api/v1/alerts":
        return httpx.Response(200, json=recorded("prometheus_alerts.json"))
    return httpx.Response(404)
