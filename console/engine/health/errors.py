"""Failure classes for a request that got no HTTP answer: which link broke, in words.

DNS, refused, connect or read timeout, TLS, the SSH tunnel refusing to open, a server that
is down: each is one stable class and a sentence naming the endpoint (and the server the
request was sent from). Timeouts are told apart by where the request was when the deadline
hit (``phase``, from httpcore's trace events): before the TCP (or TLS) connection existed it
is a connect timeout, after it a read timeout.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from console.config import HealthCheck
from console.engine.health.answer import clip
from console.engine.host_api import HostUnavailable
from console.engine.shared import exception_chain

__all__ = ["classify_error"]

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
            return "unreachable", f"server unreachable: {clip(str(item) or 'no connection', 200)}"
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
                                     f"{clip(str(item), 160)}"
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
                           f"{clip(str(head), 120)}"
    if isinstance(head, (httpx.ReadError, httpx.WriteError)):
        return "protocol", f"the connection to {where} broke mid-request: " \
                           f"{clip(str(head) or type(head).__name__, 120)}"
    if isinstance(head, httpx.ConnectError):
        return "connect_failed", f"could not connect to {where}{origin}: " \
                                 f"{clip(_deepest_text(chain), 160)}"
    return "error", f"{type(head).__name__}: {clip(str(head), 160)}"


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
    return clip(str(exc), 160)


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

