"""One probe: GET an endpoint within its deadline and turn whatever happens into a result.

Requests share one httpx client per (server, from) (``http_transport.ClientPool``), so
keep-alive connections are reused from one cycle to the next. The response headers and body
kept for the detail view are redacted first: a debug endpoint that echoes its config must
not put a password on the operator's screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from console.config import HealthCheck
from console.engine.health.answer import BODY_PREVIEW_BYTES, BODY_READ_LIMIT, Answer, clip
from console.engine.health.errors import classify_error
from console.engine.health.responses import classify_response
from console.engine.host_api import Host
from console.engine.redact import redact
from console.models import HealthResult

__all__ = ["Phase", "fetch", "internal_error_result", "probe", "unreachable_result"]

_SECRET_HEADERS = frozenset({"set-cookie", "authorization", "proxy-authorization", "cookie"})


@dataclass(slots=True)
class Phase:
    """Where the request is, from httpcore's trace events; read when a deadline hits."""

    name: str = "queued"

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        parts = event.split(".")
        # response_closed is clean-up after a deadline hit: it must not hide where it hit.
        if len(parts) == 3 and parts[2] == "started" and parts[1] != "response_closed":
            self.name = parts[1]


async def probe(client: httpx.AsyncClient, server: str, check: HealthCheck, *,
                via: str | None = None) -> HealthResult:
    """GET ``check.url`` once, within ``check.timeout`` overall, and classify the outcome.

    ``via`` names the server the request is sent from (for the reason text only; the
    client already routes it). Never raises, except for cancellation.
    """
    phase = Phase()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout):
            answer = await fetch(client, check, phase, started)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is a classified result
        latency = (time.perf_counter() - started) * 1000
        klass, reason = classify_error(exc, check, phase=phase.name, via=via)
        return HealthResult(server=server, name=check.name, url=check.url, ok=False,
                            klass=klass, reason=reason, latency_ms=latency)
    klass, reason, days = classify_response(check, answer)
    return HealthResult(
        server=server, name=check.name, url=check.url, ok=klass == "ok", klass=klass,
        reason=redact(reason), status=answer.status, latency_ms=answer.latency_ms,
        cert_days_left=days, headers=_safe_headers(answer.headers),
        body_preview=_redacted_body(answer.body[:BODY_PREVIEW_BYTES]),
    )


def _redacted_body(body: bytes) -> bytes:
    """The body preview with secrets (JWTs, ``password=``, URL credentials) redacted.

    A debug health endpoint that echoes its config must not put a database password on
    the operator's screen. Bytes without any redaction trigger are kept exactly.
    """
    text = body.decode("utf-8", errors="replace")
    cleaned = redact(text)
    return body if cleaned == text else cleaned.encode("utf-8")


_PROBE_HEADERS = {"Accept": "application/json, */*;q=0.5", "User-Agent": "ops-console-probe"}
_URLS: dict[str, httpx.URL] = {}


def _parsed(url: str) -> httpx.URL:
    """Each endpoint URL parsed once: httpx's URL parsing is a fifth of a probe's CPU."""
    parsed = _URLS.get(url)
    if parsed is None:
        if len(_URLS) > 10_000:  # only configured and discovered URLs land here
            _URLS.clear()
        parsed = _URLS[url] = httpx.URL(url)
    return parsed


async def fetch(client: httpx.AsyncClient, check: HealthCheck, phase: Phase,
                 started: float) -> Answer:
    request = client.build_request(
        "GET", _parsed(check.url), timeout=httpx.Timeout(check.timeout),
        headers=_PROBE_HEADERS, extensions={"trace": phase},
    )
    response = await client.send(request, stream=True)
    try:
        phase.name = "body"
        body, truncated = await _read_limited(response, BODY_READ_LIMIT)
        latency = (time.perf_counter() - started) * 1000
        return Answer(status=response.status_code, headers=response.headers, body=body,
                       truncated=truncated, latency_ms=latency,
                       cert_expires_at=_cert_expiry(response))
    finally:
        await response.aclose()


async def _read_limited(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the (decoded) body, and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _cert_expiry(response: httpx.Response) -> float | None:
    """``notAfter`` of the peer certificate (epoch seconds), for https answers.

    ``getpeercert()`` only returns details for a verified certificate, which is the only
    kind whose expiry is worth a warning (an unverified one is already a ``tls`` failure).
    """
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    ssl_object = stream.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    with contextlib.suppress(ValueError, KeyError, TypeError):
        cert = ssl_object.getpeercert()
        if cert and "notAfter" in cert:
            return float(ssl.cert_time_to_seconds(cert["notAfter"]))
    return None


def _safe_headers(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    """Response headers for the detail view: cookie values replaced by their size, tokens in
    other values redacted."""
    out: list[tuple[str, str]] = []
    for name, value in headers.multi_items():
        if name.lower() in _SECRET_HEADERS:
            cookie_name = value.split("=", 1)[0] if "=" in value else ""
            shown = f"{cookie_name}=" if cookie_name else ""
            value = f"{shown}<{len(value)} chars hidden>"
        out.append((name, redact(value)))
    return tuple(out)


def unreachable_result(server: str, check: HealthCheck, host: Host) -> HealthResult:
    status = host.status
    detail = f": {status.detail}" if status.detail else ""
    return HealthResult(server=server, name=check.name, url=check.url, ok=False,
                        klass="unreachable",
                        reason=f"server {server} {status.describe()}{detail}")


def internal_error_result(server: str, check: HealthCheck, exc: BaseException) -> HealthResult:
    return HealthResult(server=server, name=check.name, url=check.url, ok=False, klass="error",
                        reason=f"probe failed inside the console: {type(exc).__name__}: "
                               f"{clip(str(exc), 160)}")

