"""A blackbox_exporter probe's metrics, read as the health pane reads an answer.

blackbox_exporter reports numbers, not the answer itself: no headers, no body, no error
text. What the numbers do show, measured against a real blackbox_exporter on this project's
lab (the tests replay those answers):

- a name that does not resolve: ``probe_ip_protocol`` 0 (no address was chosen);
- refused or reset at once: an address, ``phase="connect"`` 0, a fail in milliseconds;
- a timeout: ``probe_duration_seconds`` at the module's timeout (with ``phase="connect"``
  above 0 once connected: the server took the connection and never answered);
- an answer: ``probe_http_status_code``, and ``probe_failed_due_to_regex`` 1 when the body
  did not match the module's regexp.

Where two causes give the same numbers the reason says so instead of picking one: a 502
from a proxy whose backend is down and a 502 the app sent itself are alike without the
``Server`` header and body that the health pane reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from console.engine.shared import CERT_WARN_DAYS

__all__ = ["ProbeMetrics", "classify_probe", "classify_scrape_error"]

# A refused or reset connection fails within a round trip; DNS within a resolver timeout.
# A probe that took longer than this and got no answer ran into a timeout.
_SLOW_FAIL_S = 1.0


@dataclass(frozen=True, slots=True)
class ProbeMetrics:
    """One target's blackbox series from one round (None: the series was absent)."""

    success: float | None = None
    status: float | None = None
    duration_s: float | None = None
    ip_protocol: float | None = None
    regex_failed: float | None = None
    cert_expiry_epoch: float | None = None
    phases_s: Mapping[str, float] = field(default_factory=dict)
    timeout_s: float | None = None  # the scrape timeout Prometheus reports, when known
    https: bool = False


def classify_probe(m: ProbeMetrics, now: datetime) -> tuple[bool, str, str]:
    """``(ok, klass, reason)`` in the health pane's words."""
    if m.success == 1:
        return _classify_success(m, now)
    status = int(m.status or 0)
    if m.regex_failed == 1:
        return False, "body_mismatch", (f"answered {status}, but the body did not match the "
                                        "module's regexp")
    if status:
        return _classify_status(status)
    return _classify_no_answer(m)


def _classify_success(m: ProbeMetrics, now: datetime) -> tuple[bool, str, str]:
    latency = f" in {m.duration_s * 1000:.0f} ms" if m.duration_s is not None else ""
    status = int(m.status or 0)
    answered = f"answered {status}{latency}" if status else f"succeeded{latency}"
    if m.cert_expiry_epoch:
        expires = datetime.fromtimestamp(m.cert_expiry_epoch, UTC)
        days = (expires - now).total_seconds() / 86400
        if days <= CERT_WARN_DAYS:
            when = (f"expired {-days:.0f} days ago" if days < 0 else
                    f"expires in {days * 24:.0f} h" if days < 2 else
                    f"expires in {days:.0f} days")
            return False, "cert_expiring", (f"certificate {when} ({expires:%Y-%m-%d %H:%M} "
                                            f"UTC); {answered}")
    return True, "ok", answered


def _classify_status(status: int) -> tuple[bool, str, str]:
    if status == 502:
        return False, "proxy_bad_gateway", (
            "answered 502 Bad Gateway: a proxy whose backend is down, or the app's own 502 "
            "(the metrics carry no headers or body to tell them apart)")
    if status == 504:
        return False, "proxy_gateway_timeout", (
            "answered 504 Gateway Timeout: a proxy gave up waiting for its backend")
    if status == 503:
        return False, "app_5xx", (
            "answered 503 Service Unavailable: a proxy with no backend, or the app reporting "
            "itself unavailable (the metrics cannot tell which)")
    if status >= 500:
        return False, "app_5xx", f"answered {status}: the app failed the request"
    if status == 401:
        return False, "unauthorized", "answered 401: credentials required or refused"
    if status == 403:
        return False, "forbidden", "answered 403: forbidden"
    return False, "protocol", f"answered {status}, a status the module does not accept"


def _classify_no_answer(m: ProbeMetrics) -> tuple[bool, str, str]:
    if m.ip_protocol == 0:
        return False, "dns", "DNS: the target's name did not resolve"
    connect = m.phases_s.get("connect", 0.0)
    duration = m.duration_s or 0.0
    timed_out, limit = _timed_out(duration, m.timeout_s)
    if connect <= 0:
        if timed_out:
            return False, "connect_timeout", f"no TCP connection within {limit}"
        return False, "refused", ("no TCP connection: refused or reset at once (the metrics "
                                  "do not tell refused from reset)")
    if timed_out:
        return False, "read_timeout", f"connected, then no answer within {limit}"
    if m.https:
        return False, "tls", ("connected, then no HTTP answer: the TLS handshake failed or "
                              "the connection was reset (the metrics cannot tell which)")
    return False, "protocol", "connected, then the connection closed before an answer"


def _timed_out(duration: float, timeout: float | None) -> tuple[bool, str]:
    """Whether a probe with no answer ran into its timeout, and that time in words.

    The module's own timeout is not exported; the scrape timeout bounds it from above.
    """
    if timeout is not None and duration >= 0.9 * max(timeout - 0.5, 0.1):
        return True, f"{duration:.1f} s (the probe's timeout)"
    if duration >= _SLOW_FAIL_S:
        return True, f"{duration:.1f} s (the probe's timeout, most likely)"
    return False, ""


def classify_scrape_error(error: str) -> tuple[str, str]:
    """Prometheus's ``lastError`` for a target it could not scrape, in the same words."""
    text = error.lower()
    if "connection refused" in text:
        return "refused", "Prometheus's scrape was refused"
    if "no such host" in text or "server misbehaving" in text:
        return "dns", "DNS: Prometheus could not resolve the target"
    if "deadline exceeded" in text or "timeout" in text:
        return "read_timeout", "Prometheus's scrape timed out"
    if "x509" in text or "tls" in text or "certificate" in text:
        return "tls", "TLS: Prometheus could not verify the target"
    if "server returned http status" in text:
        return "protocol", f"the target answered the scrape with an error ({error[:80]})"
    return "unreachable", f"Prometheus could not scrape it: {error[:120]}" if error else (
        "Prometheus could not scrape it")
