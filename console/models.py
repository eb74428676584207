"""Plain data shared by the engine, the headless commands and the UI.

Everything here is a frozen dataclass, a named tuple or an enum with no I/O and no Textual
import, so the same objects flow from an engine service to a pane, to ``check --json`` and
to ``report``.
Secret *values* never appear in any of these types: only names, places, statuses and
keyed fingerprints.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple


def utcnow() -> datetime:
    """Timezone-aware now; naive datetimes are a bug magnet when comparing log times."""
    return datetime.now(UTC)


class Severity(enum.IntEnum):
    """Ordered so that ``max()`` over events gives the worst one."""

    INFO = 10
    WARNING = 20
    ERROR = 30
    CRITICAL = 40

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.strip().upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


class ConnState(enum.StrEnum):
    """Where a server's single connection is in its life cycle."""

    CONNECTING = "connecting"
    UP = "up"
    LOST = "lost"
    RETRYING = "retrying"
    IDLE = "idle"  # connect = "on_demand": not connected until something needs the server


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """What the header and every pane show about a server's link.

    ``detail`` is a human sentence ("host key for prod (SHA256:...) not in known_hosts").
    ``retry_at`` lets the UI count down "retrying in N s" without the engine ticking.
    """

    state: ConnState
    detail: str = ""
    since: datetime = field(default_factory=utcnow)
    retry_at: datetime | None = None

    @property
    def is_up(self) -> bool:
        return self.state is ConnState.UP

    @property
    def counts_time(self) -> bool:
        """Whether ``describe()`` counts seconds ("lost 12s ago, retry in 4s"), so a view
        showing it must redraw every second; up, connecting and idle say no time."""
        return self.state in (ConnState.LOST, ConnState.RETRYING)

    def retry_in(self, now: datetime | None = None) -> float | None:
        if self.retry_at is None:
            return None
        return max(0.0, (self.retry_at - (now or utcnow())).total_seconds())

    def describe(self, now: datetime | None = None) -> str:
        """One short phrase for a header cell: 'up', 'lost 12s ago, retry in 4s'."""
        now = now or utcnow()
        if self.state is ConnState.UP:
            return "up"
        if self.state is ConnState.CONNECTING:
            return "connecting"
        if self.state is ConnState.IDLE:
            return self.detail or "not connected (on demand)"
        ago = int((now - self.since).total_seconds())
        text = f"{self.state.value} {ago}s ago"
        retry = self.retry_in(now)
        if retry is not None:
            text += f", retry in {int(retry + 0.999)}s"
        return text


@dataclass(frozen=True, slots=True)
class CommandResult:
    """Outcome of a command run on a host (locally or over SSH)."""

    exit_status: int | None
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    """One row of the containers pane, as the Docker API describes it."""

    server: str
    id: str
    name: str
    project: str | None
    service: str | None
    state: str  # created | running | restarting | paused | exited | dead | removing
    health: str  # healthy | unhealthy | starting | none
    restart_count: int
    started_at: datetime | None
    image: str
    status_text: str = ""  # Docker's own "Up 3 minutes (healthy)"
    exit_code: int | None = None

    @property
    def ok(self) -> bool:
        return self.state == "running" and self.health in ("healthy", "none")

    def uptime_seconds(self, now: datetime | None = None) -> float | None:
        if self.state != "running" or self.started_at is None:
            return None
        return max(0.0, ((now or utcnow()) - self.started_at).total_seconds())


class LogLine(NamedTuple):
    """A line from a container log or a host file, classified by the auth rules.

    ``text`` is the raw decoded text (invalid UTF-8 replaced) with secrets already redacted;
    rendering it safely (control characters, markup) is the UI's job, via safe_text.

    A named tuple rather than a frozen dataclass: a flood makes hundreds of thousands a
    second, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` a field)
    cost four times as much, as much as classifying an ordinary line.
    """

    server: str
    source: str  # container name or file path
    time: datetime
    text: str
    rule: str | None = None
    severity: Severity | None = None
    seq: int = 0  # per-pipeline monotonically increasing, for ordering and dedupe

    @property
    def is_auth_event(self) -> bool:
        return self.rule is not None


@dataclass(frozen=True, slots=True)
class HealthResult:
    """One probe outcome; ``klass`` is a stable machine word, ``reason`` plain English."""

    server: str
    name: str
    url: str
    ok: bool
    klass: str  # ok | body_mismatch | app_5xx | proxy_bad_gateway | ... (see engine.health)
    reason: str
    status: int | None = None
    latency_ms: float | None = None
    checked_at: datetime = field(default_factory=utcnow)
    cert_days_left: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body_preview: bytes = b""


@dataclass(frozen=True, slots=True)
class SecretStatus:
    """Whether one required secret is usable in one place. Never carries the value.

    ``fingerprint`` is an HMAC under a per-run random key: equal values in two places give
    equal fingerprints within one run, and nothing outside the run can be learned from it.
    """

    server: str
    name: str
    place: str  # an env file path or "container:<name>"
    status: str  # present | missing | empty | weak | not_in_container | differs_from_file
    ok: bool
    detail: str = ""
    fingerprint: str | None = None
    drift: bool = False


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of restart / migrate / test-login, as audited and shown."""

    action: str
    server: str
    target: str
    ok: bool
    detail: str = ""
    exit_status: int | None = None
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
