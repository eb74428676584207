"""The diagnosis strip above the panes: the top findings, each with the key that fixes it.

It is driven by the services' change events, never by polling: every service and every
host's connection state tells it something changed. A change after a quiet spell is
diagnosed at once (the first finding of an incident is not held back); the changes that
follow within ``COALESCE_S`` are coalesced into one diagnosis at its end, so a burst costs
at most two. The diagnosis itself is pure
(``console.engine.diagnosis``). The strip keeps the recent log lines of each server from the
log batches it is sent, so a diagnosis never copies the log buffers.

One timer exists, and only while findings are shown: every ``TICK_S`` it re-diagnoses, since
"held for 4 min" must count up and a log-based condition (a flood, a dependency's errors)
ends by the passing of time, not by an event. With nothing found it does not tick.

Layout: one line on a compact terminal (the most severe finding, then "+N more"), up to
three lines on a roomy one. Server text is shown literally (``safe``).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from console.engine.diagnosis import (
    DiagnosisView,
    FindingTracker,
    Tracked,
    diagnose,
)
from console.engine.diagnosis.build import MAX_LINES, from_fleet
from console.engine.diagnosis.targets import ContainerFix, fix_note
from console.engine.logs.model import LogChange
from console.models import LogLine, Severity, utcnow
from console.ui.console_app import AppStrip
from console.ui.messages import EngineChanged
from console.ui.safe_text import safe

if TYPE_CHECKING:
    from console.engine.fleet import FleetView

__all__ = ["DiagnosisStrip", "fix_note_line", "severity_style"]

log = logging.getLogger(__name__)

COALESCE_S = 0.5
TICK_S = 30.0
ROOMY_LINES = 3


def severity_style(severity: Severity) -> str:
    """A plain Rich style for a severity (theme variables do not reach Rich text)."""
    return {Severity.CRITICAL: "bold red", Severity.ERROR: "red",
            Severity.WARNING: "yellow", Severity.INFO: "dim"}[severity]


def finding_line(item: Tracked, now: datetime, *, width: int | None = None) -> Text:
    """'CRITICAL crm-backend-1 exited (1); ... [r restart] 4 min' as one line of text."""
    finding = item.finding
    fix = finding.fix
    key = f"[{fix.key} {fix.action.replace('_', '-')}]" if fix.key else "[d: by hand]"
    text = Text.assemble(
        (f"{finding.severity.label.upper():<8} ", severity_style(finding.severity)),
        (f"{key} ", "bold"),
        safe(finding.summary, max_chars=300),
        (f"  {item.held_for(now)}", "dim"),
        end="")
    if width is not None:
        text.truncate(width, overflow="ellipsis")
    return text


def fix_note_line(app: Any, action: ContainerFix, server: str, container: str) -> Text | None:
    """The confirmation's line on what the diagnosis says of this restart or recreate:
    the finding it fixes, or (bold, in yellow) that the finding's fix is on another
    container or is another fix. None without a strip (a bare test app) or a finding."""
    strip = app.strip if isinstance(app, AppStrip) else None
    if strip is None:
        return None
    note = fix_note(strip.view.findings, action, server, container)
    if note is None:
        return None
    return safe(note.text, "green" if note.matches else "bold yellow", max_chars=300)


class DiagnosisStrip(Static):
    """``DiagnosisStrip(fleet)``: the findings, kept current from the change events."""

    DEFAULT_CSS = """
    DiagnosisStrip {
        height: auto;
        max-height: 3;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(self, fleet: FleetView, *, clock: Callable[[], datetime] | None = None,
                 id: str | None = None) -> None:
        super().__init__("diagnosis: waiting for the first snapshot", id=id, markup=False)
        self.fleet = fleet
        self._clock = clock or utcnow
        self.tracker = FindingTracker()
        self.view: DiagnosisView = DiagnosisView((), (), self._clock())
        self.error = ""
        self._lines: dict[str, deque[LogLine]] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._pending = False
        self._diagnosed_at = float("-inf")  # time.monotonic() of the last diagnosis
        self._ticker: Timer | None = None
        self._listeners: list[Callable[[DiagnosisView], None]] = []
        self.runs = 0
        self._shown: Text | None = None

    # -- following the services ----------------------------------------------------------

    def on_mount(self) -> None:
        fleet = self.fleet
        for service in (fleet.containers, fleet.health, fleet.secrets, fleet.actions,
                        fleet.logs, fleet.fleet_sources):
            if service is not None:
                self._unsubscribe.append(service.subscribe(self._on_change))
        for host in fleet.hosts.values():
            self._unsubscribe.append(host.add_status_listener(self._on_change))
        logs = fleet.logs
        if logs is not None:
            self._keep(logs.buffered()[-MAX_LINES * 4:])
        self._ticker = self.set_interval(TICK_S, self.rediagnose, pause=True)
        self.rediagnose()

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    @property
    def pending(self) -> bool:
        """A change arrived that the strip has not diagnosed yet."""
        return self._pending

    def add_listener(self, listener: Callable[[DiagnosisView], None]) -> Callable[[], None]:
        """``listener(view)`` after every diagnosis (the ``d`` screen follows the strip)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners \
            else None

    def _keep(self, lines: list[LogLine]) -> None:
        for line in lines:
            ring = self._lines.get(line.server)
            if ring is None:
                ring = self._lines[line.server] = deque(maxlen=MAX_LINES)
            ring.append(line)

    def _on_change(self, change: object = None) -> None:
        """The services' listener. It runs in the engine's context, where the app is not
        known, so it only keeps the lines and posts; the timer starts in the handler."""
        if isinstance(change, LogChange):
            self._keep(change.batch.lines)
        self.post_message(EngineChanged())

    def on_engine_changed(self, message: EngineChanged) -> None:
        message.stop()
        if self._pending:
            return
        since = time.monotonic() - self._diagnosed_at
        if since >= COALESCE_S:
            self.rediagnose()
        else:
            self._pending = True
            self.set_timer(COALESCE_S - since, self.rediagnose)

    # -- diagnosing ----------------------------------------------------------------------

    def rediagnose(self) -> None:
        """One diagnosis of the current read models; the strip and its listeners redrawn."""
        self._pending = False
        self._diagnosed_at = time.monotonic()
        now = self._clock()
        lines = [line for ring in self._lines.values() for line in ring]
        try:
            findings = diagnose(from_fleet(self.fleet, now, lines=lines))
            self.error = ""
        except Exception as exc:  # noqa: BLE001 - a rule bug must not take the screen down
            log.exception("diagnosis failed")
            self.error = f"{type(exc).__name__}: {exc}"
            findings = self.view.findings
        self.view = self.tracker.update(findings, now)
        self.runs += 1
        if self._ticker is not None:
            if self.view.active:
                self._ticker.resume()
            else:
                self._ticker.pause()
        self.redraw()
        for listener in list(self._listeners):
            listener(self.view)

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        # Static.update lays the whole screen out again (the strip's height is auto), so a
        # diagnosis that found what the last one found leaves the strip alone: the fleet
        # sources alone re-diagnose every scrape interval.
        text = self.render_view(self.size.width or 80, self._roomy())
        if text != self._shown:
            self._shown = text
            self.update(text)

    def _roomy(self) -> bool:
        screen = self.screen if self.is_attached else None
        return screen is not None and screen.size.width >= 120 and screen.size.height >= 34

    def render_view(self, width: int, roomy: bool) -> Text:
        """The strip's text: one line compact, up to three roomy; '+N more' when cut."""
        view = self.view
        now = view.now
        inner = max(20, width - 2)
        if self.error and not view.active:
            return safe(f"diagnosis unavailable: {self.error}", "yellow", max_chars=inner)
        if not view.active:
            recovered = f"  ({len(view.cleared)} recovered in the last hour: d)" \
                if view.cleared else ""
            return Text.assemble(("✓ no findings", "green"), (recovered, "dim"), end="")
        shown = view.active[:ROOMY_LINES if roomy else 1]
        more = len(view.active) - len(shown)
        tail = f"  +{more} more (d)" if more else ""
        rows: list[Text] = []
        for index, item in enumerate(shown):
            last = index == len(shown) - 1
            room = inner - (len(tail) if last else 0)
            line = finding_line(item, now, width=max(10, room))
            if last and tail:
                line.append(tail, "bold")
            rows.append(line)
        return Text("\n", end="").join(rows)
