"""The health pane: every endpoint's state, *why* it fails, and how it has been doing.

One ``DataTable`` row per endpoint, grouped under a row per server: the state word, the
status code, the latency, a sparkline of the last latencies (gaps where no answer came),
the time since the state last changed, the certificate's days left for https, and the
reason in plain words ("nginx answered 502: proxy up, backend down"). ``enter`` on a row
opens the detail view: response headers and the first 2 KB of the body, literally.

The pane reads ``fleet.health.snapshot()`` (no I/O) and redraws when the service calls
back; bursts of results coalesce into one pass and unchanged cells are left alone, so
a 1 s tick for the "changed" column costs next to nothing. Server-sent text (reasons
quoting a body, header values, names) goes through ``safe_text.safe``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.engine.health import KLASS_LABELS, EndpointState, HealthChange, severity
from console.engine.shared import CERT_WARN_DAYS
from console.ui.safe_text import safe
from console.ui.themes import state_style
from console.ui.widgets.live import LiveTable

if TYPE_CHECKING:
    from console.engine.fleet import FleetView
    from console.engine.health import HealthService

__all__ = ["COLUMNS", "HealthPane", "format_ago", "sparkline"]

# "Why" comes third and is capped, so the reason is in view even when the pane is a
# quarter of the screen; the full sentence is in the detail view (enter).
COLUMNS = (("endpoint", "Endpoint"), ("state", "State"), ("why", "Why"), ("code", "Code"),
           ("latency", "Latency"), ("history", "History"), ("changed", "Changed"),
           ("cert", "Cert"))
WHY_WIDTH = 48
AGO_TICK_S = 10.0
_CHANGED = [key for key, _ in COLUMNS].index("changed")
SPARK_WIDTH = 12
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_GAP = "·"
NO_ENDPOINTS = "no health endpoints configured: add [[servers.health]] to the config"

# A severity word -> the state word whose theme colour it borrows (themes.state_style).
_STYLE_WORD = {"ok": "healthy", "warning": "starting", "error": "unhealthy",
               "unknown": "pending"}


def sparkline(values: Sequence[float | None], width: int = SPARK_WIDTH,
              gap_style: str | Style = "") -> Text:
    """The last ``width`` latencies as bar heights from 0 to the window's maximum.

    Scaling from zero (not from the minimum) keeps a steady 5 ms endpoint flat instead of
    turning noise into mountains; a failed probe (None) is a visible gap, not a zero.
    """
    window = list(values)[-width:]
    peak = max((v for v in window if v is not None), default=0.0)
    text = Text(no_wrap=True, end="")
    for value in window:
        if value is None:
            text.append(SPARK_GAP, style=gap_style)
            continue
        level = 0 if peak <= 0 else min(len(SPARK_BLOCKS) - 1,
                                        int(value / peak * (len(SPARK_BLOCKS) - 1) + 0.5))
        text.append(SPARK_BLOCKS[level])
    return text


def format_ago(seconds: float | None) -> str:
    """'-', '<10s', '40s', '4m', '3h 12m', '2d 04h': coarse on purpose.

    Every change to a cell re-renders the whole table, so this column only moves in
    10-second steps (and the pane ticks every 10 s, not every second): idle CPU stays near
    zero, and "40s" is as much as an operator needs to know.
    """
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 10:
        return "<10s"
    if seconds < 60:
        return f"{seconds // 10 * 10}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_latency(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 10_000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


@dataclass(frozen=True, slots=True)
class RowRef:
    """What a row stands for: a server heading, or one endpoint of it."""

    server: str
    endpoint: str | None = None


Row = tuple[str, RowRef, tuple[Text, ...]]


class HealthPane(LiveTable[RowRef], can_focus=True):
    """``HealthPane(fleet)``: the live health endpoints of every server in the fleet."""

    COLUMNS = COLUMNS
    TICK_WHILE_DOWN = False  # it ticks anyway, for the "changed" column
    # The engine keeps endpoints in step, up to a second apart (HealthService._loop): one
    # redraw per round. Each redraw re-renders the whole table (DataTable's caches).
    COALESCE_S = 1.0

    BINDINGS = [
        Binding("enter", "select_cursor", "Details", id="health.details",
                tooltip="Response headers and the first 2 KB of the body of this probe"),
    ]
    help_text = ("Per endpoint: state, why it fails, code, latency history; "
                 "enter shows the response headers and body.")

    DEFAULT_CSS = """
    HealthPane {
        height: 1fr;
        width: 1fr;
    }
    """

    def __init__(self, fleet: FleetView, *, clock: Callable[[], datetime] | None = None,
                 id: str | None = None) -> None:
        super().__init__(fleet, clock=clock, id=id, cursor_foreground_priority="renderable")
        # A fleet without the service (a partial test fake) shows "not available".
        self.service: HealthService | None = fleet.health
        self._states: dict[tuple[str, str], EndpointState] = {}

    def watched(self) -> HealthService | None:
        return self.service

    def endpoint_states(self) -> list[EndpointState]:
        """Every endpoint's state, from the service's read model (no I/O)."""
        return list(self.service.snapshot().endpoints) if self.service is not None else []

    def coalesce_delay(self, what: object) -> float:
        """Gather a round of probes into one redraw, except when it is news: the first
        results (the screen is still filling) or an endpoint whose class changed. An event
        that carries the endpoint's new state is judged by it; one that does not (or that
        stands for several folded together) by the read model."""
        if any(state.result is None for state in self._states.values()):
            return 0.0
        if isinstance(what, HealthChange) and what.endpoint is not None:
            changed = [what.endpoint]
        else:
            changed = self.endpoint_states()
        for state in changed:
            before = self._states.get(state.key)
            if before is None or before.klass != state.klass:
                return 0.0
        return self.COALESCE_S

    def add_columns_for_table(self) -> None:
        # History has its full width from the start: grown a bar per round while it filled,
        # it moved the columns to its right every round of the first minute, and each move
        # laid the table out again (about 27 ms of CPU each here).
        widths = {"why": WHY_WIDTH, "history": SPARK_WIDTH}
        for key, label in COLUMNS:
            self.add_column(label, key=key, width=widths.get(key))

    def on_mount(self) -> None:
        self.add_columns_for_table()
        self.follow_service()
        self.set_interval(AGO_TICK_S, self._tick)  # the "changed" column

    def _tick(self) -> None:
        """Every 10 s: only the "changed" cells whose text moved on (no snapshot, no I/O)."""
        now = self.now()
        for key, state in self._states.items():
            row_key = _endpoint_key(*key)
            cells = self._cells.get(row_key)
            if cells is None:
                continue
            text = format_ago(state.since_change(now))
            if cells[_CHANGED].plain != text:
                cell = Text(text, justify="right")
                self._cells[row_key] = (*cells[:_CHANGED], cell, *cells[_CHANGED + 1:])
                try:
                    self.update_cell(row_key, "changed", cell)
                except (CellDoesNotExist, RowDoesNotExist):
                    self._changed(None)
                    return

    # -- selection and the detail view ---------------------------------------------------

    def selected_server(self) -> str | None:
        ref = self._ref_at_cursor()
        return ref.server if ref and ref.server else None

    def selected_endpoint(self) -> EndpointState | None:
        ref = self._ref_at_cursor()
        if ref is None or ref.endpoint is None:
            return None
        return self._states.get((ref.server, ref.endpoint))

    def select_endpoint(self, server: str, name: str) -> bool:
        """Put the cursor on an endpoint (palette, tests); False when it is not shown."""
        key = _endpoint_key(server, name)
        if key not in self._refs:
            return False
        self.move_cursor(row=self._keys.index(key), animate=False)
        return True

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is not self:
            return
        event.stop()
        self.open_detail()

    def open_detail(self) -> bool:
        """Show the selected probe's response; False when there is nothing to show yet."""
        state = self.selected_endpoint()
        if state is None or state.result is None:
            return False
        from console.ui.screens.health_detail import HealthDetailScreen

        self.app.push_screen(HealthDetailScreen(state, now=self.now()))
        return True

    # -- drawing -------------------------------------------------------------------------

    def _style(self, word: str) -> Style:
        return state_style(self.app, _STYLE_WORD.get(word, word))

    def _build_rows(self) -> list[Row]:
        blank = Text()
        if self.service is None:
            return [("none", RowRef(""), (Text("health service not available"),
                                          *([blank] * (len(COLUMNS) - 1))))]
        snapshot = self.service.snapshot()
        states = list(snapshot.endpoints)
        self._states = {state.key: state for state in states}
        notes = snapshot.discovery_notes
        now = self.now()
        rows: list[Row] = []
        servers = [server.name for server in self.fleet.config.servers]
        for state in states:
            if state.server not in servers:
                servers.append(state.server)
        for server in servers:
            mine = [s for s in states if s.server == server]
            if not mine and server not in notes:
                continue
            rows.append(self._server_row(server, mine, notes.get(server, "")))
            rows.extend(self._endpoint_row(state, now) for state in mine)
        if not rows:
            rows.append(("none", RowRef(""), (Text(NO_ENDPOINTS, style="dim"),
                                              *([blank] * (len(COLUMNS) - 1)))))
        return rows

    def _server_row(self, server: str, states: list[EndpointState], note: str) -> Row:
        host = self.fleet.hosts.get(server)
        status = host.status if host is not None else None
        blank = Text()
        done = [s for s in states if s.result is not None]
        bad = sum(1 for s in done if s.result is not None and not s.result.ok)
        if status is not None and not status.is_up:
            summary = Text(status.state.value, style=state_style(self.app, status.state.value))
            why = safe(status.describe(self.now()) + (f": {status.detail}" if status.detail
                                                      else ""), max_chars=200)
        else:
            if bad:
                summary = Text(f"{bad} failing", style=self._style("error"))
            elif done:
                summary = Text(f"{len(done)} ok", style=self._style("ok"))
            else:
                summary = Text("probing…" if states else "", style="dim")
            why = safe(note, "dim", max_chars=200)
        return (f"s|{server}", RowRef(server), (
            Text.assemble(("▾ ", "bold"), safe(server, "bold")), summary, _clipped(why),
            blank, blank, blank, blank, blank))

    def _endpoint_row(self, state: EndpointState, now: datetime) -> Row:
        result = state.result
        level = severity(state.klass)
        style = self._style(level)
        label = KLASS_LABELS.get(state.klass, state.klass)
        code = Text(str(result.status) if result and result.status is not None else "-",
                    justify="right")
        latency = Text(format_latency(result.latency_ms if result else None), justify="right")
        cert = Text()
        days = result.cert_days_left if result else None
        if days is not None:
            cert = Text(f"{days}d", justify="right",
                        style=self._style("warning") if days <= CERT_WARN_DAYS else "")
        why = safe(result.reason, style if level != "ok" else "", max_chars=300) if result \
            else Text("waiting for the first probe", style="dim")
        name = Text.assemble("  ", safe(state.name, max_chars=60))
        if state.discovered:
            name.append(" (found)", style="dim")
        cells = (
            name,
            Text(label, style=style),
            _clipped(why),
            code,
            latency,
            sparkline(state.latencies, gap_style=self._style("error")),
            Text(format_ago(state.since_change(now)), justify="right"),
            cert,
        )
        return (_endpoint_key(state.server, state.name), RowRef(state.server, state.name), cells)


def _clipped(text: Text) -> Text:
    """One line, cut with an ellipsis at the column's edge (the detail view has it all)."""
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def _endpoint_key(server: str, name: str) -> str:
    return f"e|{server}|{name}"
