"""The fleet view's read model: what the Prometheus and Alertmanager sources said last.

Every field is plain data taken from the engines' answers. Label values are kept exactly as
sent (the UI and the reports make them printable); nothing here is ever parsed as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from console.models import Severity, utcnow

__all__ = ["Alert", "FleetSourcesSnapshot", "ProbeRow", "SourceState", "alert_severity"]


def alert_severity(label: str | None) -> Severity:
    """An alert's ``severity`` label as a Severity; unknown words count as warnings.

    Alertmanager has no fixed vocabulary; teams write critical, warning, info, page,
    error, high... An unknown word must not hide an alert, so it ranks as a warning.
    """
    word = (label or "").strip().lower()
    mapping = {"critical": Severity.CRITICAL, "page": Severity.CRITICAL,
               "high": Severity.ERROR, "error": Severity.ERROR, "major": Severity.ERROR,
               "warning": Severity.WARNING, "warn": Severity.WARNING,
               "info": Severity.INFO, "none": Severity.INFO, "low": Severity.INFO}
    return mapping.get(word, Severity.WARNING)


@dataclass(frozen=True, slots=True)
class Alert:
    """One firing alert, from Alertmanager (or Prometheus's own list when none is set)."""

    source: str
    name: str
    severity: Severity
    state: str  # "firing" (Alertmanager "active") or "pending" (Prometheus only)
    labels: Mapping[str, str]
    starts_at: datetime | None
    summary: str = ""

    @property
    def instance(self) -> str | None:
        return self.labels.get("instance")


@dataclass(frozen=True, slots=True)
class ProbeRow:
    """One scrape target: ``up``, and for a blackbox probe its outcome in words.

    ``klass`` uses the health pane's words (ok, dns, refused, connect_timeout,
    read_timeout, tls, cert_expiring, proxy_bad_gateway, proxy_gateway_timeout, app_5xx,
    body_mismatch, ...); ``reason`` says what the metrics show, and where they cannot tell
    two causes apart it says so. ``since``: when ``klass`` (or ``up``) last changed.
    """

    source: str
    job: str
    instance: str
    labels: Mapping[str, str]
    up: bool | None
    is_probe: bool
    ok: bool
    klass: str
    reason: str
    status: int | None = None
    latency_ms: float | None = None
    phases_ms: Mapping[str, float] = field(default_factory=dict)
    cert_expires_at: datetime | None = None
    since: datetime = field(default_factory=utcnow)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.job, self.instance)


@dataclass(frozen=True, slots=True)
class SourceState:
    """How one configured Prometheus (and its Alertmanager) answered the last round."""

    name: str
    url: str
    state: str  # "pending" | "up" | "error"
    detail: str = ""
    alerts_detail: str = ""  # a problem with the alert source only (targets still shown)
    alerts_from: str = ""  # "alertmanager" | "prometheus"
    interval_s: float | None = None
    since: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FleetSourcesSnapshot:
    """The stable read model of the fleet sources: check, report, the fleet pane and the
    diagnosis all read this. Rows of a source that stopped answering are kept (and its
    ``SourceState`` says so) so the operator still sees the last known fleet."""

    sources: tuple[SourceState, ...] = ()
    targets: tuple[ProbeRow, ...] = ()
    alerts: tuple[Alert, ...] = ()

    def alerts_for(self, instance: str) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.instance == instance)
