"""The diagnosis's input and output types: frozen, plain, and free of any service.

``DiagnosisInput`` is everything the rules may look at, copied out of the services' read
models by ``build.from_snapshots``; the rules never see a service, so they are pure
functions a unit test can feed with a hand-written snapshot. ``Finding`` is what they say.

Evidence rows are addressed by ``pane`` and ``row``, a tuple whose shape depends on the pane
(the UI looks the row up by it; ``check --json`` prints it as a list):

=============  ==========================================
pane           row
=============  ==========================================
``connection`` ``(server,)``
``containers`` ``(server, container name)``
``health``     ``(server, endpoint name)``
``secrets``    ``(server, secret name, place)``
``volumes``    ``(server, volume name)`` (the secrets pane)
``logs``       ``(server, source, seq)`` of the newest line quoted
``actions``    ``(server, "test_login")``
``fleet``      ``(source, instance)`` of a firing alert
=============  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from console.engine.fleet_sources.model import Alert
from console.models import (
    ConnectionStatus,
    ContainerInfo,
    HealthResult,
    LogLine,
    SecretStatus,
    Severity,
)

__all__ = [
    "FIX_KEYS",
    "DiagnosisInput",
    "Endpoint",
    "Evidence",
    "Finding",
    "Fix",
    "FixAction",
    "LoginCheck",
    "Pane",
    "ServerInput",
    "Volume",
]

Pane = Literal["connection", "containers", "health", "secrets", "volumes", "logs", "actions",
               "fleet"]
FixAction = Literal["restart", "recreate", "migrate", "test_login", "manual"]

# The TUI key that runs each fix (SPEC "Keys"); a manual fix has none: it only shows words.
FIX_KEYS: dict[str, str] = {
    "restart": "r", "recreate": "R", "migrate": "m", "test_login": "t", "manual": "",
}


# --------------------------------------------------------------------------- input


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One health-pane row: the last probe result, and since when its class has held."""

    name: str
    url: str
    result: HealthResult | None = None
    since: datetime | None = None

    @property
    def klass(self) -> str:
        return self.result.klass if self.result is not None else "pending"


@dataclass(frozen=True, slots=True)
class Volume:
    """A named volume a compose project declares or a container uses, present or not."""

    name: str
    present: bool
    project: str | None = None
    used_by: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LoginCheck:
    """The last test-login on a server, as far as the diagnosis needs it (no token).

    ``signature`` is ``valid``, ``invalid``, ``unavailable`` or None (not configured);
    ``signature_places`` pairs each place checked (secrets-pane spelling: a file path or
    ``container:<name>``) with its verdict.
    """

    klass: str
    ok: bool
    reason: str
    checked_at: datetime
    status: int | None = None
    signature: str | None = None
    signature_text: str = ""
    signature_places: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ServerInput:
    """Everything known about one server at one moment.

    ``log_lines`` are the recent lines of the server's sources, oldest first, auth events
    and plain lines alike (a dependency's "Name or service not known" matches no auth rule
    but names the failure). ``env_files`` and ``required`` come from the config: where a
    fix tells the operator to set a secret.
    """

    name: str
    connection: ConnectionStatus
    containers_state: str = "ok"  # ok | connecting | unavailable (the container service)
    containers: tuple[ContainerInfo, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    secrets: tuple[SecretStatus, ...] = ()
    volumes: tuple[Volume, ...] = ()
    log_lines: tuple[LogLine, ...] = ()
    auth_counts: tuple[tuple[str, int], ...] = ()
    window_s: int = 900
    login: LoginCheck | None = None
    env_files: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    compose_project: str | None = None

    def container(self, name: str) -> ContainerInfo | None:
        for info in self.containers:
            if info.name == name:
                return info
        return None


@dataclass(frozen=True, slots=True)
class DiagnosisInput:
    """Every server, and the moment the snapshot was taken (the rules never read a clock)."""

    servers: tuple[ServerInput, ...]
    now: datetime
    alerts: tuple[Alert, ...] = ()  # firing in Alertmanager (or Prometheus), every source


# --------------------------------------------------------------------------- output


@dataclass(frozen=True, slots=True)
class Evidence:
    """One fact the operator can check in a pane: where, which row, and what it says."""

    pane: Pane
    row: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class Fix:
    """What to do. ``key`` is the TUI key of ``action`` (none for ``manual``); ``why`` says
    why this fix, and for ``manual`` exactly what to do by hand."""

    action: FixAction
    target: str
    why: str

    @property
    def key(self) -> str:
        return FIX_KEYS[self.action]


@dataclass(frozen=True, slots=True)
class Finding:
    """One diagnosed problem. ``(id, server, target)`` is its identity over time.

    ``since`` is when the snapshot says the condition began (a container's exit, an
    endpoint's last class change, a connection's loss), when it says so; the tracker falls
    back to when the finding was first seen.
    """

    id: str
    severity: Severity
    server: str
    target: str
    summary: str
    evidence: tuple[Evidence, ...]
    fix: Fix
    since: datetime | None = None
    related: tuple[str, ...] = field(default=())  # ids of the findings merged into this one

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.id, self.server, self.target)
