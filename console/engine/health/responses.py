"""Judging an HTTP answer: ok, a body that says otherwise, the app's 5xx, or the proxy's own.

"Request failed with status code 502" told the operator nothing during an outage with nginx
up and the backend stopped. Every answer here ends in one stable word, the *class*
(``check --json`` consumers and the panes' colours match on it), and a plain sentence
("nginx answered 502: proxy up, backend down").
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from console.config import HealthCheck
from console.engine.health.answer import (
    BODY_PREVIEW_BYTES,
    BODY_READ_LIMIT,
    NOT_JSON,
    Answer,
    clip,
    parse_json,
    status_text,
)
from console.engine.health.proxies import PROXY_STATUS, passed_through, proxy_name
from console.engine.shared import CERT_WARN_DAYS
from console.models import HealthResult

__all__ = [
    "BODY_PREVIEW_BYTES",
    "BODY_READ_LIMIT",
    "KLASS_LABELS",
    "NOT_JSON",
    "Answer",
    "classify_response",
    "clip",
    "parse_json",
    "result_json",
    "severity",
    "status_text",
]

_VALUE_CHARS = 60  # how much of a JSON value a reason may quote

# Stable words (never renamed: ``check --json`` consumers match on them) and the short label
# a pane cell shows for each.
KLASS_LABELS: dict[str, str] = {
    "ok": "ok",
    "body_mismatch": "body mismatch",
    "app_5xx": "app 5xx",
    "proxy_bad_gateway": "proxy 502",
    "proxy_unavailable": "proxy 503",
    "proxy_gateway_timeout": "proxy 504",
    "unauthorized": "401",
    "forbidden": "403",
    "connect_timeout": "connect timeout",
    "read_timeout": "read timeout",
    "refused": "refused",
    "dns": "DNS",
    "tls": "TLS",
    "cert_expiring": "cert expiring",
    "unreachable": "server down",
    "connect_failed": "connect failed",
    "protocol": "bad answer",
    "error": "error",
    "pending": "pending",
}

_SECRET_HEADERS = frozenset({"set-cookie", "authorization", "proxy-authorization", "cookie"})


def severity(klass: str) -> str:
    """``ok``, ``warning``, ``error`` or ``unknown``: how loudly a pane should show it."""
    if klass == "ok":
        return "ok"
    if klass == "pending":
        return "unknown"
    if klass in ("cert_expiring",):
        return "warning"
    return "error"


def result_json(result: HealthResult) -> dict[str, object]:
    """The ``health`` entry of ``check --json``: these keys are the stable contract; new ones
    may be added, none renamed."""
    return {
        "name": result.name,
        "url": result.url,
        "ok": result.ok,
        "status": result.status,
        "class": result.klass,
        "reason": result.reason,
        "latency_ms": None if result.latency_ms is None else round(result.latency_ms, 1),
        "cert_days_left": result.cert_days_left,
        "checked_at": result.checked_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def classify_response(check: HealthCheck, answer: Answer,
                      now: float | None = None) -> tuple[str, str, int | None]:
    """``(klass, reason, cert_days_left)`` for an HTTP answer.

    Order matters: a wrong status says more than a body; the body is only judged when the
    status is the expected one; an expiring certificate is reported only when everything
    else is fine (a 502 is the more urgent news).
    """
    days_left = _days_left(answer.cert_expires_at, now)
    if answer.status != check.expect_status:
        klass, reason = _classify_status(answer, check.expect_status)
        return klass, reason, days_left
    mismatch = _json_mismatch(check.expect_json, answer)
    if mismatch is not None:
        return "body_mismatch", mismatch, days_left
    if check.max_latency_ms is not None and answer.latency_ms > check.max_latency_ms:
        return ("body_mismatch",
                f"answered in {answer.latency_ms:.0f} ms, over the {check.max_latency_ms:g} ms "
                "limit", days_left)
    if days_left is not None and days_left <= CERT_WARN_DAYS:
        return "cert_expiring", _expiry_reason(answer.cert_expires_at, now), days_left
    return "ok", f"{status_text(answer.status)} in {answer.latency_ms:.0f} ms", days_left


def _classify_status(answer: Answer, expected: int) -> tuple[str, str]:
    status = answer.status
    if status == 401:
        challenge = answer.headers.get("www-authenticate", "")
        hint = f" ({clip(challenge, 40)})" if challenge else ""
        return "unauthorized", f"401 Unauthorized: the endpoint wants credentials{hint}"
    if status == 403:
        return "forbidden", "403 Forbidden: the endpoint refuses this client"
    proxy = proxy_name(answer)
    if status in PROXY_STATUS and proxy is not None:
        if not passed_through(answer):
            klass, meaning = PROXY_STATUS[status]
            return klass, f"{proxy} answered {status}: {meaning}"
        detail = _error_detail(answer)
        return "app_5xx", f"the app answered {status_text(status)} through {proxy}{detail}"
    if status >= 500:
        detail = _error_detail(answer)
        return "app_5xx", f"the app answered {status_text(status)}{detail}"
    where = ""
    if 300 <= status < 400 and answer.headers.get("location"):
        where = f" (to {clip(answer.headers['location'], 80)}; redirects are not followed)"
    return "body_mismatch", f"expected status {expected}, got {status_text(status)}{where}"


def _error_detail(answer: Answer) -> str:
    """A short hint from a JSON error body (``{"detail": "JWT_SECRET not configured"}``).

    The first of the usual message keys, then the parts that report a failure
    (``{"status": "degraded", "auth": "unreachable"}`` -> ": degraded (auth: unreachable)"),
    so the reason names the dependency that is down.
    """
    data = parse_json(answer.body) if not answer.truncated else None
    if not isinstance(data, dict):
        return ""
    head = ""
    for key in ("detail", "error", "message", "reason", "status"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            head = f": {clip(value.strip(), 120)}"
            break
    failing = [f"{path}: {clip(value, 40)}" for path, value in _failing_parts(data, "")
               if path not in ("detail", "error", "message", "reason", "status")]
    if failing:
        more = f", +{len(failing) - 3} more" if len(failing) > 3 else ""
        head += f" ({', '.join(failing[:3])}{more})"
    return head


_FAILURE_WORDS = ("down", "unreachable", "unavailable", "error", "fail", "unhealthy",
                  "timeout", "timed out", "refused", "degraded", "missing", "critical",
                  "disconnected", "not configured", "offline")


def _failing_parts(data: Mapping[str, object], path: str,
                   depth: int = 0) -> Iterator[tuple[str, str]]:
    """``(key path, value)`` of each string in a health document that reports a failure.

    ``{"checks": {"db": {"status": "DOWN"}}}`` gives ``("checks.db", "DOWN")``: a nested
    ``status`` is named after the part it describes.
    """
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered and any(word in lowered for word in _FAILURE_WORDS):
                yield (path if key == "status" and path else where), value.strip()
        elif isinstance(value, dict) and depth < 3:
            yield from _failing_parts(value, where, depth + 1)


def _json_mismatch(expect: Mapping[str, Any] | None, answer: Answer) -> str | None:
    if not expect:
        return None
    if answer.truncated:
        return f"body is over {BODY_READ_LIMIT // 1024} KiB, too big to check as JSON"
    data = parse_json(answer.body)
    if data is NOT_JSON:
        kind = answer.headers.get("content-type", "no Content-Type").split(";")[0]
        return f"body is not JSON ({clip(kind, 40)}, {len(answer.body)} bytes)"
    problems = list(_compare(expect, data, ""))
    if not problems:
        return None
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more


def _compare(expect: Mapping[str, Any], actual: object, path: str) -> Iterator[str]:
    """Each way ``actual`` fails to contain ``expect`` (a subset match, nested by key)."""
    if not isinstance(actual, dict):
        where = f"body key {path!r}" if path else "body"
        yield f"{where} is {_json_kind(actual)}, expected a JSON object"
        return
    for key, want in expect.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in actual:
            yield f"body has no key {where!r} (expected {_short(want)})"
            continue
        got = actual[key]
        if isinstance(want, Mapping):
            yield from _compare(want, got, where)
        elif not _same_json(got, want):
            yield f"body key {where!r} is {_short(got)}, expected {_short(want)}"


def _same_json(got: object, want: object) -> bool:
    """JSON equality: ``true`` is not ``1``, but ``1`` equals ``1.0``."""
    if isinstance(got, bool) != isinstance(want, bool):
        return False
    return bool(got == want)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _short(value: object) -> str:
    return clip(json.dumps(value, ensure_ascii=False, default=str), _VALUE_CHARS)


def _days_left(expires_at: float | None, now: float | None = None) -> int | None:
    if expires_at is None:
        return None
    return round((expires_at - (time.time() if now is None else now)) / 86400)


def _expiry_reason(expires_at: float | None, now: float | None) -> str:
    assert expires_at is not None
    seconds = expires_at - (time.time() if now is None else now)
    when = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if seconds < 86400:
        return f"TLS certificate expires in {max(0, int(seconds // 3600))} h ({when})"
    days = round(seconds / 86400)
    return f"TLS certificate expires in {days} day{'s' if days != 1 else ''} ({when})"

