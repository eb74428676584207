"""Alertmanager's ``/api/v2/alerts``, and Prometheus's alert list read the same way.

The page the operator got is an Alertmanager alert, so its own words (``summary``,
``description``) are shown as they came. Silenced and inhibited alerts are left out, as
Alertmanager's own UI leaves them out of what is firing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import httpx

from console.engine.fleet_sources.answers import SourceError, get_json
from console.engine.fleet_sources.model import Alert, alert_severity

__all__ = ["AlertmanagerAPI", "alerts_from_prometheus"]


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _strings(mapping: object) -> dict[str, str]:
    if not isinstance(mapping, Mapping):
        return {}
    return {str(k): str(v) for k, v in mapping.items()}


def _alert(source: str, labels: dict[str, str], annotations: dict[str, str], state: str,
           starts: object) -> Alert:
    summary = annotations.get("summary") or annotations.get("description") or ""
    return Alert(source=source, name=labels.get("alertname", "(unnamed alert)"),
                 severity=alert_severity(labels.get("severity")), state=state,
                 labels=labels, starts_at=_time(starts), summary=summary)


class AlertmanagerAPI:
    def __init__(self, client: httpx.AsyncClient, base_url: str, *,
                 headers: Mapping[str, str] | None = None,
                 auth: httpx.BasicAuth | None = None) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self._auth = auth

    async def firing(self, source: str) -> list[Alert]:
        answer = await get_json(self._client, f"{self._base}/api/v2/alerts",
                                params={"active": "true", "silenced": "false",
                                        "inhibited": "false"},
                                headers=self._headers, auth=self._auth)
        if not isinstance(answer, list):
            raise SourceError("/api/v2/alerts: expected a list of alerts")
        alerts = []
        for item in answer:
            if not isinstance(item, dict):
                continue
            status = item.get("status") if isinstance(item.get("status"), dict) else {}
            if status and status.get("state") not in (None, "active"):
                continue
            alerts.append(_alert(source, _strings(item.get("labels")),
                                 _strings(item.get("annotations")), "firing",
                                 item.get("startsAt")))
        return alerts


def alerts_from_prometheus(source: str, raw: Iterable[dict[str, Any]]) -> list[Alert]:
    """Prometheus's list: ``firing`` and ``pending`` (not yet for its ``for:`` time)."""
    return [_alert(source, _strings(item.get("labels")), _strings(item.get("annotations")),
                   str(item.get("state", "firing")), item.get("activeAt"))
            for item in raw if item.get("state") in ("firing", "pending")]
