"""Health probes that say *which link broke*: DNS, TCP, TLS, proxy, backend or body.

"Request failed with status code 502" told the operator nothing in incident 000. Every
probe here ends in a ``HealthResult`` whose ``klass`` is one stable word (used by
``check --json`` and the pane's colours) and whose ``reason`` is a plain sentence
("nginx answered 502: proxy up, backend down").

Concurrency: in live mode every endpoint has its own task with its own interval, jitter and
deadline (``asyncio.timeout``), so an endpoint that accepts and never answers only ever
delays itself. ``refresh()`` runs one round of every probe at once for ``check``/``report``
and still publishes each result the moment it lands. Requests share one httpx client per
(server, from) (``http_transport.ClientPool``), so keep-alive connections are reused from
one cycle to the next.

Timeouts are told apart by where the request was when the deadline hit, tracked through
httpcore's ``trace`` extension: before the TCP (or TLS) connection existed it is a connect
timeout, after it a read timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import math
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from console.config import Config, HealthCheck, ServerConfig
from console.engine.host_api import Host, HostUnavailable
from console.engine.http_transport import ClientPool
from console.engine.listeners import Listeners
from console.engine.redact import redact
from console.engine.shared import CERT_WARN_DAYS, COMPOSE_PROJECT_LABEL, exception_chain
from console.models import ConnState, HealthResult, utcnow

__all__ = [
    "BODY_PREVIEW_BYTES",
    "CERT_WARN_DAYS",
    "DISCOVERY_PATHS",
    "KLASS_LABELS",
    "EndpointState",
    "HealthService",
    "ProbeTarget",
    "PublishedPort",
    "classify_error",
    "classify_response",
    "discover_checks",
    "parse_published_ports",
    "probe",
    "result_json",
    "severity",
]

log = logging.getLogger(__name__)

BODY_PREVIEW_BYTES = 2048
BODY_READ_LIMIT = 64 * 1024  # enough for any health document; more is not parsed
HISTORY = 30
DISCOVERY_PATHS = ("/health", "/healthz", "/api/health")
DISCOVERY_TIMEOUT = 2.0
DISCOVERY_INTERVAL = 60.0
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

_PROXY_STATUS = {
    502: ("proxy_bad_gateway", "proxy up, backend down"),
    503: ("proxy_unavailable", "proxy up, no backend available"),
    504: ("proxy_gateway_timeout", "proxy up, backend too slow (the proxy gave up waiting)"),
}
# Server header products that are proxies / load balancers, and ones that are app servers
# (a 502 *they* send is the app's own answer, not a gateway error).
_PROXIES = frozenset({
    "nginx", "openresty", "tengine", "angie", "apache", "httpd", "haproxy", "envoy",
    "istio-envoy", "caddy", "traefik", "cloudflare", "varnish", "squid", "awselb", "elb",
    "akamaighost", "cloudfront", "litespeed", "microsoft-iis", "pingora", "kong", "gfe",
    "google", "h2o", "lighttpd",
})
_APP_SERVERS = frozenset({
    "uvicorn", "gunicorn", "hypercorn", "werkzeug", "waitress", "daphne", "granian",
    "basehttp", "python", "simplehttp", "tornadoserver", "kestrel", "jetty", "puma",
    "thin", "webrick", "cowboy", "express", "node", "deno", "gin", "rocket", "actix-web",
    "aiohttp", "sanic", "starlette", "bun",
})
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


# --------------------------------------------------------------------------- targets / state


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One endpoint to watch on one server (from the config, or found by discovery)."""

    server: str
    check: HealthCheck
    discovered: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.server, self.check.name)


@dataclass(frozen=True, slots=True)
class EndpointState:
    """What the pane shows for one endpoint: the last result and a little history."""

    server: str
    name: str
    url: str
    from_: str
    discovered: bool
    result: HealthResult | None
    latencies: tuple[float | None, ...] = ()  # oldest first; None where the probe failed
    changed_at: datetime | None = None  # when ``klass`` last changed (first result counts)
    runs: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.server, self.name)

    @property
    def klass(self) -> str:
        return self.result.klass if self.result is not None else "pending"

    @property
    def ok(self) -> bool | None:
        return None if self.result is None else self.result.ok

    def since_change(self, now: datetime | None = None) -> float | None:
        if self.changed_at is None:
            return None
        return max(0.0, ((now or utcnow()) - self.changed_at).total_seconds())


class _Track:
    """Mutable per-endpoint history, owned by the service; ``view()`` freezes it."""

    __slots__ = ("changed_at", "latencies", "result", "runs", "target")

    def __init__(self, target: ProbeTarget, history: int) -> None:
        self.target = target
        self.result: HealthResult | None = None
        self.latencies: deque[float | None] = deque(maxlen=history)
        self.changed_at: datetime | None = None
        self.runs = 0

    def record(self, result: HealthResult) -> None:
        if self.result is None or self.result.klass != result.klass:
            self.changed_at = result.checked_at
        self.result = result
        self.latencies.append(result.latency_ms if result.status is not None else None)
        self.runs += 1

    def view(self) -> EndpointState:
        check = self.target.check
        return EndpointState(
            server=self.target.server, name=check.name, url=check.url, from_=check.from_,
            discovered=self.target.discovered, result=self.result,
            latencies=tuple(self.latencies), changed_at=self.changed_at, runs=self.runs,
        )


def _expected_latency(track: _Track) -> float:
    """For ordering a round: the slowest endpoints are sent first, so the round ends when
    the slowest answer arrives rather than after it waited behind everyone else's send.
    Endpoints never probed sort first (they may be slow); a failed probe counts as its
    timeout."""
    if track.result is None:
        return math.inf
    if track.result.status is None:
        return track.target.check.timeout * 1000
    return track.result.latency_ms or 0.0


def result_json(result: HealthResult) -> dict[str, Any]:
    """The ``health`` entry of ``check --json`` (SPEC keys; extra fields are additive)."""
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


# --------------------------------------------------------------------------- classification


@dataclass(frozen=True, slots=True)
class _Answer:
    """What came back over HTTP, before it is judged against the check."""

    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    latency_ms: float
    cert_expires_at: float | None = None  # epoch seconds, https only


def classify_response(check: HealthCheck, answer: _Answer,
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
    return "ok", f"{_status_text(answer.status)} in {answer.latency_ms:.0f} ms", days_left


def _classify_status(answer: _Answer, expected: int) -> tuple[str, str]:
    status = answer.status
    if status == 401:
        challenge = answer.headers.get("www-authenticate", "")
        hint = f" ({_clip(challenge, 40)})" if challenge else ""
        return "unauthorized", f"401 Unauthorized: the endpoint wants credentials{hint}"
    if status == 403:
        return "forbidden", "403 Forbidden: the endpoint refuses this client"
    proxy = _proxy_name(answer)
    if status in _PROXY_STATUS and proxy is not None:
        klass, meaning = _PROXY_STATUS[status]
        return klass, f"{proxy} answered {status}: {meaning}"
    if status >= 500:
        detail = _error_detail(answer)
        return "app_5xx", f"the app answered {_status_text(status)}{detail}"
    where = ""
    if 300 <= status < 400 and answer.headers.get("location"):
        where = f" (to {_clip(answer.headers['location'], 80)}; redirects are not followed)"
    return "body_mismatch", f"expected status {expected}, got {_status_text(status)}{where}"


def _proxy_name(answer: _Answer) -> str | None:
    """Who sent a 502/503/504, when it looks like a proxy rather than the app itself.

    A known proxy product in ``Server``, or a ``Via`` header, is proof. Failing that, a 502
    or 504 from anything that is not a known app server is almost always a gateway, so it
    is named after its ``Server`` header (or "a proxy"). A bare 503 stays the app's: health
    endpoints commonly answer 503 themselves when a dependency is down.
    """
    server = answer.headers.get("server", "").strip()
    product = server.split("/")[0].split(" ")[0].lower() if server else ""
    if product in _APP_SERVERS or "x-powered-by" in answer.headers:
        return None
    if product in _PROXIES:
        return _clip(server.split("/")[0].split(" ")[0], 30)
    if b"<center>nginx" in answer.body[:BODY_PREVIEW_BYTES]:
        return "nginx"
    via = answer.headers.get("via", "").strip()
    if via:
        return f"a proxy (Via: {_clip(via, 40)})"
    if answer.status in (502, 504):
        return _clip(server, 30) if server else "a proxy (no Server header)"
    return None


def _error_detail(answer: _Answer) -> str:
    """A short hint from a JSON error body (``{"detail": "JWT_SECRET not configured"}``)."""
    data = _parse_json(answer.body) if not answer.truncated else None
    if isinstance(data, dict):
        for key in ("detail", "error", "message", "reason", "status"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return f": {_clip(value.strip(), 120)}"
    return ""


def _json_mismatch(expect: Mapping[str, Any] | None, answer: _Answer) -> str | None:
    if not expect:
        return None
    if answer.truncated:
        return f"body is over {BODY_READ_LIMIT // 1024} KiB, too big to check as JSON"
    data = _parse_json(answer.body)
    if data is _NOT_JSON:
        kind = answer.headers.get("content-type", "no Content-Type").split(";")[0]
        return f"body is not JSON ({_clip(kind, 40)}, {len(answer.body)} bytes)"
    problems = list(_compare(expect, data, ""))
    if not problems:
        return None
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more


_NOT_JSON = object()


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _NOT_JSON


def _compare(expect: Mapping[str, Any], actual: Any, path: str) -> Iterator[str]:
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


def _same_json(got: Any, want: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, but ``1`` equals ``1.0``."""
    if isinstance(got, bool) != isinstance(want, bool):
        return False
    return bool(got == want)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _short(value: Any) -> str:
    return _clip(json.dumps(value, ensure_ascii=False, default=str), _VALUE_CHARS)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_text(status: int) -> str:
    phrase = httpx.codes.get_reason_phrase(status)
    return f"{status} {phrase}" if phrase else str(status)


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


# -- errors ------------------------------------------------------------------------------

_CONNECT_PHASES = ("queued", "connect_tcp", "start_tls")
_DNS_WORDS = ("name or service not known", "nodename nor servname", "name resolution",
              "no address associated", "unknown host", "could not resolve", "name not known")


def classify_error(exc: BaseException, check: HealthCheck, *, phase: str = "queued",
                   via: str | None = None) -> tuple[str, str]:
    """``(klass, reason)`` for a request that got no HTTP answer."""
    where = _hostport(check.url)
    origin = f" (from {via})" if via else ""
    chain = list(exception_chain(exc))
    for item in chain:
        if isinstance(item, HostUnavailable):
            return "unreachable", f"server unreachable: {_clip(str(item) or 'no connection', 200)}"
    timeout = _timeout_class(chain, phase)
    if timeout is not None:
        return _timeout_reason(timeout, phase, check, where, origin)
    for item in chain:
        if isinstance(item, ssl.SSLCertVerificationError):
            message = item.verify_message or item.reason or str(item)
            return "tls", f"TLS certificate rejected by {where}: {message}"
        if isinstance(item, ssl.SSLError):
            return "tls", f"TLS handshake with {where} failed: {_ssl_reason(item)}"
    for item in chain:
        if isinstance(item, socket.gaierror):
            return "dns", f"DNS lookup of {_hostname(check.url)} failed{origin}: " \
                          f"{_last_clause(str(item.strerror or item))}"
        if isinstance(item, ConnectionRefusedError):
            return "refused", f"connection refused by {where}{origin}: nothing is listening"
        if isinstance(item, PermissionError):
            return "connect_failed", f"not allowed to connect to {where}{origin}: " \
                                     f"{_clip(str(item), 160)}"
    return _classify_by_text(chain, check, where, origin)


def _timeout_class(chain: Sequence[BaseException], phase: str) -> str | None:
    for item in chain:
        if isinstance(item, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return "connect_timeout"
        if isinstance(item, (httpx.ReadTimeout, httpx.WriteTimeout)):
            return "read_timeout"
    head = chain[0] if chain else None
    if isinstance(head, TimeoutError):
        return "connect_timeout" if phase in _CONNECT_PHASES else "read_timeout"
    return None


def _timeout_reason(klass: str, phase: str, check: HealthCheck, where: str,
                    origin: str) -> tuple[str, str]:
    limit = f"{check.timeout:g} s"
    if klass == "connect_timeout":
        if phase == "start_tls":
            return klass, f"TLS handshake with {where} not finished within {limit}{origin}"
        return klass, f"no TCP connection to {where}{origin} within {limit} (connect timeout)"
    if phase in ("body", "receive_response_body"):  # httpcore renames it while reading
        return klass, f"the answer started but did not finish within {limit} (read timeout)"
    return klass, f"connected to {where}, but no answer within {limit} (read timeout)"


def _classify_by_text(chain: Sequence[BaseException], check: HealthCheck, where: str,
                      origin: str) -> tuple[str, str]:
    """Errors that arrive as text: asyncssh channel-open failures, OS errors by message."""
    for item in chain:
        text = _text_of(item)
        lowered = text.lower()
        if "refused" in lowered and "administratively" not in lowered:
            return "refused", f"connection refused by {where}{origin}: nothing is listening"
        if any(word in lowered for word in _DNS_WORDS):
            return "dns", f"DNS lookup of {_hostname(check.url)} failed{origin}: " \
                          f"{_last_clause(text)}"
        if "timed out" in lowered:
            return "connect_timeout", f"no TCP connection to {where}{origin}: {text}"
        if "administratively prohibited" in lowered or _channel_code(item) == 1:
            return ("connect_failed", f"the SSH server refused to open a tunnel to {where} "
                    f"(AllowTcpForwarding?): {text}")
    head = chain[0]
    if isinstance(head, httpx.RemoteProtocolError):
        return "protocol", f"{where} closed the connection without a valid HTTP answer: " \
                           f"{_clip(str(head), 120)}"
    if isinstance(head, (httpx.ReadError, httpx.WriteError)):
        return "protocol", f"the connection to {where} broke mid-request: " \
                           f"{_clip(str(head) or type(head).__name__, 120)}"
    if isinstance(head, httpx.ConnectError):
        return "connect_failed", f"could not connect to {where}{origin}: " \
                                 f"{_clip(_deepest_text(chain), 160)}"
    return "error", f"{type(head).__name__}: {_clip(str(head), 160)}"


def _last_clause(text: str) -> str:
    """"db:80 from server alpha: Name or service not known" -> "Name or service not known".

    The tunnel's errors already say where (the reason names the endpoint and the server).
    """
    return text.rsplit(": ", 1)[-1] if " from server " in text else text


def _text_of(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason and not isinstance(exc, ssl.SSLError):
        return reason
    return str(exc)


def _deepest_text(chain: Sequence[BaseException]) -> str:
    for item in reversed(chain):
        text = _text_of(item)
        if text:
            return text
    return type(chain[0]).__name__


def _channel_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if type(exc).__name__ == "ChannelOpenError" and isinstance(code, int) else None


_SSL_REASONS = {
    "WRONG_VERSION_NUMBER": "the port does not speak TLS (plain HTTP on an https URL?)",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "no cipher or protocol in common",
    "TLSV1_ALERT_INTERNAL_ERROR": "the server reported an internal TLS error",
    "TLSV1_UNRECOGNIZED_NAME": "the server does not know this host name (SNI)",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server wants a client certificate",
}


def _ssl_reason(exc: ssl.SSLError) -> str:
    reason = exc.reason or ""
    if reason in _SSL_REASONS:
        return _SSL_REASONS[reason]
    if reason:
        return reason.replace("_", " ").lower()
    return _clip(str(exc), 160)


def _hostport(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _hostname(url: str) -> str:
    return urlsplit(url).hostname or "?"


# --------------------------------------------------------------------------- one probe


@dataclass(slots=True)
class _Phase:
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
    phase = _Phase()
    started = time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout):
            answer = await _fetch(client, check, phase, started)
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


async def _fetch(client: httpx.AsyncClient, check: HealthCheck, phase: _Phase,
                 started: float) -> _Answer:
    request = client.build_request(
        "GET", _parsed(check.url), timeout=httpx.Timeout(check.timeout),
        headers=_PROBE_HEADERS, extensions={"trace": phase},
    )
    response = await client.send(request, stream=True)
    try:
        phase.name = "body"
        body, truncated = await _read_limited(response, BODY_READ_LIMIT)
        latency = (time.perf_counter() - started) * 1000
        return _Answer(status=response.status_code, headers=response.headers, body=body,
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


def _unreachable(server: str, check: HealthCheck, host: Host) -> HealthResult:
    status = host.status
    detail = f": {status.detail}" if status.detail else ""
    return HealthResult(server=server, name=check.name, url=check.url, ok=False,
                        klass="unreachable",
                        reason=f"server {server} {status.describe()}{detail}")


def _internal_error(server: str, check: HealthCheck, exc: BaseException) -> HealthResult:
    return HealthResult(server=server, name=check.name, url=check.url, ok=False, klass="error",
                        reason=f"probe failed inside the console: {type(exc).__name__}: "
                               f"{_clip(str(exc), 160)}")


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True, slots=True)
class PublishedPort:
    """A container port published on the server, as ``docker ps`` lists it."""

    container: str
    ip: str  # where to connect, seen from the server: 0.0.0.0 becomes 127.0.0.1
    port: int
    private_port: int

    def url(self, path: str) -> str:
        scheme = "https" if self.private_port in (443, 8443) else "http"
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{scheme}://{host}:{self.port}{path}"


def parse_published_ports(rows: Iterable[Mapping[str, Any]],
                          project: str | None = None) -> list[PublishedPort]:
    """Published TCP ports from the Docker list-containers API, one per (address, port).

    ``0.0.0.0`` and ``::`` listen everywhere, so they are reached at 127.0.0.1; the IPv6
    twin of an IPv4 binding is dropped rather than probed twice.
    """
    found: dict[tuple[str, int], PublishedPort] = {}
    for row in rows:
        labels = row.get("Labels") or {}
        if project and labels.get(COMPOSE_PROJECT_LABEL) != project:
            continue
        names = row.get("Names") or []
        name = names[0].lstrip("/") if names else str(row.get("Id", "?"))[:12]
        for port in row.get("Ports") or []:
            public = port.get("PublicPort")
            if not public or port.get("Type", "tcp") != "tcp":
                continue
            ip = _reach_ip(str(port.get("IP") or ""))
            key = (ip, int(public))
            if key not in found and ("127.0.0.1", int(public)) not in found:
                found[key] = PublishedPort(name, ip, int(public), int(port.get("PrivatePort", 0)))
    return sorted(found.values(), key=lambda p: (p.container, p.port))


def _reach_ip(ip: str) -> str:
    if ip in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(ip).is_unspecified:
            return "127.0.0.1"
    return ip


async def discover_checks(client: httpx.AsyncClient, ports: Sequence[PublishedPort], *,
                          timeout: float = DISCOVERY_TIMEOUT,
                          interval: float = 10.0) -> list[tuple[PublishedPort, HealthCheck | None]]:
    """For each port that answered HTTP: the health check found on it, or None.

    A port is a health port when the first of DISCOVERY_PATHS that answers gives a 2xx
    that is not an HTML page (a single-page app answers 200 to any path) or a 5xx (an
    unhealthy service, or a proxy with its backend down: exactly what the operator needs
    to see). Ports that did not answer HTTP at all are left out, so a caller can try them
    again later (a container still starting). All ports are tried at once.
    """
    results = await asyncio.gather(*(_discover_port(client, p, timeout, interval)
                                     for p in ports))
    return [(port, check) for port, (answered, check) in zip(ports, results, strict=True)
            if answered]


async def _discover_port(client: httpx.AsyncClient, port: PublishedPort, timeout: float,
                         interval: float) -> tuple[bool, HealthCheck | None]:
    """``(answered_http, check)`` for one port."""
    answered = False
    for path in DISCOVERY_PATHS:
        check = HealthCheck(name=f"{port.container}:{port.port}{path}", url=port.url(path),
                            from_="server", timeout=timeout, interval=interval)
        try:
            async with asyncio.timeout(timeout):
                answer = await _fetch(client, check, _Phase(), time.perf_counter())
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - not HTTP, or nothing there (yet)
            return answered, None
        answered = True
        if _looks_like_health(answer):
            return True, replace(check, timeout=5.0, expect_json=_inferred_expectation(answer))
    return answered, None


def _looks_like_health(answer: _Answer) -> bool:
    if answer.status in (500, 502, 503, 504):
        return True
    content_type = answer.headers.get("content-type", "").lower()
    return 200 <= answer.status < 300 and "html" not in content_type


def _inferred_expectation(answer: _Answer) -> dict[str, Any] | None:
    """``{"status": "ok"}`` when a healthy answer says so: a later "degraded" is then caught."""
    data = _parse_json(answer.body) if 200 <= answer.status < 300 else None
    if isinstance(data, dict):
        value = data.get("status")
        if isinstance(value, str) and value.lower() in ("ok", "healthy", "up", "pass", "green"):
            return {"status": value}
    return None


async def published_ports(host: Host, project: str | None,
                          docker_clients: Any = None) -> list[PublishedPort]:
    """Ask the server's Docker daemon (in the bounded pool) for its published ports."""
    from console.engine import dockerapi

    clients = docker_clients or dockerapi.default_clients()
    docker = await clients.get(host)
    rows = await dockerapi.run_blocking(docker.api.containers)
    return parse_published_ports(rows, project)


# --------------------------------------------------------------------------- the service

Listener = Callable[[EndpointState], None]
PortLister = Callable[[Host, str | None], Any]


@dataclass(slots=True)
class _Discovery:
    note: str = ""
    done: bool = False
    tried: set[tuple[str, int]] = field(default_factory=set)


class HealthService:
    """Every health endpoint of every server, probed live or in one round.

    Constructed per ARCHITECTURE.md as ``HealthService(config, hosts)``; the keyword
    arguments exist for tests and benchmarks (a CA for a local test HTTPS server, a fake
    port lister, a fixed random seed).
    """

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 clients: ClientPool | None = None, ssl_context: ssl.SSLContext | None = None,
                 history: int = HISTORY, jitter: float = 0.1,
                 port_lister: PortLister | None = None,
                 discovery_interval: float = DISCOVERY_INTERVAL,
                 seed: int | None = None) -> None:
        self.config = config
        self.hosts = hosts
        self._servers = {server.name: server for server in config.servers}
        self._clients = clients or ClientPool(ssl_context=ssl_context)
        self._history = history
        self._jitter = max(0.0, min(jitter, 0.9))
        self._random = random.Random(seed)
        self._port_lister = port_lister
        self._discovery_interval = discovery_interval
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._listeners: Listeners[EndpointState] = Listeners("health")
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._discovery: dict[str, _Discovery] = {}
        self._discovery_lock = asyncio.Lock()
        self._discovery_task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._running = False
        for server in config.servers:
            for check in server.health:
                self._add(ProbeTarget(server.name, check))
            if server.discover_health:
                self._discovery[server.name] = _Discovery(note="looking for /health endpoints")

    # -- public API ------------------------------------------------------------------

    async def start(self) -> None:
        """Start one probe loop per endpoint (and discovery). Returns at once."""
        if self._running:
            return
        self._running = True
        for track in list(self._tracks.values()):
            self._spawn(track.target)
        if self._discovery:
            self._discovery_task = asyncio.create_task(self._discovery_loop(),
                                                       name="health-discovery")

    async def stop(self) -> None:
        self._running = False
        tasks = list(self._tasks.values())
        if self._discovery_task is not None:
            tasks.append(self._discovery_task)
            self._discovery_task = None
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self._clients.aclose()

    async def refresh(self) -> list[HealthResult]:
        """One probe of every endpoint now, all at once; each result is published as it lands.

        Waits a little for a server that is still connecting (this is what ``check`` runs
        right after start-up), then reports it as unreachable.
        """
        if self._discovery:
            await self._discover_all(wait=True)
        tracks = list(self._tracks.values())
        order = sorted(range(len(tracks)), key=lambda i: _expected_latency(tracks[i]),
                       reverse=True)
        results = await asyncio.gather(*(self._probe_and_record(tracks[i].target,
                                                                wait_host=True)
                                         for i in order))
        by_position = dict(zip(order, results, strict=True))
        return [by_position[i] for i in range(len(tracks))]

    def snapshot(self) -> list[EndpointState]:
        """Every endpoint in config order (discovered ones after), no I/O."""
        return [track.view() for track in self._tracks.values()]

    def results(self) -> list[HealthResult]:
        """The latest result of every endpoint that has one."""
        return [t.result for t in self._tracks.values() if t.result is not None]

    def discovery_notes(self) -> dict[str, str]:
        """Per zero-config server, what discovery found or why it could not look."""
        return {name: state.note for name, state in self._discovery.items()}

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(EndpointState)`` on the event loop after every probe or new endpoint."""
        return self._listeners.add(callback)

    # -- probing ---------------------------------------------------------------------

    def _add(self, target: ProbeTarget) -> _Track:
        track = _Track(target, self._history)
        self._tracks[target.key] = track
        return track

    def _spawn(self, target: ProbeTarget) -> None:
        if target.key not in self._tasks:
            self._tasks[target.key] = asyncio.create_task(
                self._loop(target), name=f"health:{target.server}:{target.check.name}")

    async def _loop(self, target: ProbeTarget) -> None:
        """Probe every ``interval`` on a fixed grid, forever; never dies of a probe.

        Each endpoint gets a random offset of up to a second (``jitter`` of the interval
        at most), so 200 endpoints do not fire in the same millisecond; after that the grid
        is fixed (start to start, no drift), so endpoints sharing an interval stay in step
        and the pane redraws once per round, not once per endpoint (idle CPU, issue 8). A
        probe that overruns its slot (a hang up to its timeout) skips to the next free one.
        """
        interval = target.check.interval
        loop = asyncio.get_running_loop()
        offset = self._random.uniform(0.0, min(1.0, interval * self._jitter))
        start = loop.time() + offset
        await asyncio.sleep(offset)
        slot = 0
        while True:
            await self._probe_and_record(target, wait_host=False)
            slot = max(slot + 1, math.ceil((loop.time() - start) / interval))
            await asyncio.sleep(max(0.0, start + slot * interval - loop.time()))

    async def _probe_and_record(self, target: ProbeTarget, *, wait_host: bool) -> HealthResult:
        try:
            result = await self._probe(target, wait_host=wait_host)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in one probe must not stop the rest
            log.exception("health probe %s/%s failed", target.server, target.check.name)
            result = _internal_error(target.server, target.check, exc)
        track = self._tracks.get(target.key)
        if track is not None:
            track.record(result)
            self._emit(track.view())
        return result

    async def _probe(self, target: ProbeTarget, *, wait_host: bool) -> HealthResult:
        server = self._servers[target.server]
        check = target.check
        via_server = check.from_ == "server" and not server.is_local
        host = self.hosts.get(server.name) if via_server else None
        if via_server:
            if host is None:
                raise LookupError(f"no host object for server {server.name}")
            if not host.status.is_up:
                # a first connection still being made is waited for (no "unreachable" flash
                # at start-up); a lost one is reported at once, live
                if wait_host or host.status.state is ConnState.CONNECTING:
                    await host.wait_up(timeout=check.timeout)
                if not host.status.is_up:
                    self._forget_tunnel(host)
                    return _unreachable(server.name, check, host)
        client = self._clients.client(host, via_server=via_server)
        return await probe(client, server.name, check, via=server.name if via_server else None)

    def _forget_tunnel(self, host: Host) -> None:
        """Drop a down host's pooled connections; after the reconnect, fresh ones are made.

        Closed in the background: closing channels of a dead link can take a moment each.
        """
        client = self._clients.discard(host.name)
        if client is not None:
            task = asyncio.create_task(client.aclose(), name=f"health-close:{host.name}")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _emit(self, state: EndpointState) -> None:
        self._listeners.emit(state)

    # -- discovery -------------------------------------------------------------------

    async def _discovery_loop(self) -> None:
        while True:
            try:
                await self._discover_all(wait=False)
            except Exception:  # noqa: BLE001 - retried next round
                log.exception("health discovery failed")
            await asyncio.sleep(self._discovery_interval)

    async def _discover_all(self, *, wait: bool) -> None:
        async with self._discovery_lock:
            await asyncio.gather(*(self._discover_server(self._servers[name], wait=wait)
                                   for name in self._discovery))

    async def _discover_server(self, server: ServerConfig, *, wait: bool) -> None:
        """Find new /health endpoints on the server's published ports and start probing them.

        Endpoints once found are kept even when their container stops: a stopped backend is
        exactly when its probe ("refused") matters most.
        """
        state = self._discovery[server.name]
        host = self.hosts.get(server.name)
        if host is None:
            state.note = "no connection object for this server"
            return
        if not host.status.is_up and wait:
            await host.wait_up(timeout=5.0)
        try:
            lister = self._port_lister or published_ports
            ports: list[PublishedPort] = await lister(host, server.compose_project)
        except Exception as exc:  # noqa: BLE001 - shown in the pane, retried later
            from console.engine.dockerapi import describe_docker_error

            state.note = f"cannot list published ports: {describe_docker_error(exc)}"
            return
        fresh = [p for p in ports if (p.ip, p.port) not in state.tried]
        if fresh:
            client = self._clients.client(host, via_server=not server.is_local)
            for port, check in await discover_checks(client, fresh):
                state.tried.add((port.ip, port.port))
                if check is not None and (server.name, check.name) not in self._tracks:
                    self._start_discovered(ProbeTarget(server.name, check, discovered=True))
        found = sum(1 for t in self._tracks.values()
                    if t.target.discovered and t.target.server == server.name)
        state.done = True
        state.note = (f"{found} health endpoint{'s' if found != 1 else ''} found on "
                      f"{len(ports)} published port{'s' if len(ports) != 1 else ''}")

    def _start_discovered(self, target: ProbeTarget) -> None:
        track = self._add(target)
        self._emit(track.view())
        if self._running:
            self._spawn(target)
