"""The fleet pane: every Prometheus target, its probe class in words, and what is firing.

One row per target, worst first: a firing alert (by severity), then targets that are down
or failing, then the healthy ones. ``/`` filters (a regex over target, job, class, reason
and alert names), ``g`` cycles the grouping (none, job, instance, env, source) and
``enter`` on a target that is a configured server connects it (on demand) and focuses its
panes. A line above the table says how each source answered, so a Prometheus that stopped
answering is in plain sight while its last known rows stay listed.

The engine calls back on the event loop; the pane posts itself a ``FleetChanged`` message
that coalesces bursts (``can_replace``) and redraws from ``snapshot()`` when it arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Region
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import CellDoesNotExist, RowKey

from console.engine.contracts import Change
from console.engine.fleet_sources import FleetSourcesSnapshot
from console.models import utcnow
from console.ui.console_app import AppPanes
from console.ui.safe_text import safe
from console.ui.widgets.fleet_view import GROUPS, FleetLine, fleet_lines, matching_server
from console.ui.widgets.health_pane import format_ago

if TYPE_CHECKING:
    from console.engine.fleet import FleetView

__all__ = ["FleetPane"]

COLUMNS = ("Target", "Up", "Probe", "Latency", "Alerts", "Held", "Why")


Words = tuple[tuple[str, str], ...]  # per cell: (text, kind)
Row = tuple[str, "FleetLine | None", Words]
_BLANK: Words = (("", "plain"),) * (len(COLUMNS) - 1)
# Columns whose text comes from the engine or the network, so it is escaped (safe); the
# others are the pane's own formatting.
_FOREIGN = frozenset({0, 2, 4, 6})


def _words(line: FleetLine) -> Words:
    kind = "plain" if line.ok else "bold"
    return ((line.target, kind), (line.up, "plain"), (line.state, kind),
            (line.latency, "plain"), (line.alerts, kind), (format_ago(line.held_s), "plain"),
            (line.reason, "plain"))


def _cell(column: int, text: str, kind: str) -> Text:
    style = {"bold": "bold", "header": "bold", "note": "italic"}.get(kind, "")
    if kind == "note":
        return Text(text, style=style)
    if column in _FOREIGN or kind == "header":
        return safe(text, style=style, max_chars=160) if column == 6 else safe(text, style=style)
    return Text(text, style=style)


class FleetTable(DataTable[Text]):
    """The fleet's table, with one refresh for a whole batch of changed cells.

    ``DataTable.update_cell`` refreshes the whole widget on every call; a round of 500
    targets changes a thousand cells (latency and held time), and those refreshes were most
    of the pane's idle cost. ``update_cells`` writes the same data ``update_cell`` writes
    (textual is pinned to one version in pyproject.toml for this), then repaints only the
    rows that changed and are on screen.
    """

    def update_cells(self, changes: list[tuple[int, str, Any, Text]]) -> None:
        """``changes``: (row index, row key, column key, new cell). A cell wider than its
        column widens it (widths only grow, as ``update_cell(update_width=True)`` would
        make them), so a target whose class or reason changed in place is not cut."""
        if not changes:
            return
        rows: set[int] = set()
        widened = False
        for index, row_key, column_key, value in changes:
            row = RowKey(row_key)
            if row not in self._row_locations or column_key not in self._column_locations:
                raise CellDoesNotExist(f"no cell {row_key!r}, {column_key!r}")
            self._data[row][column_key] = value
            rows.add(index)
            column = self.columns[column_key]
            if column.auto_width and value.cell_len > column.content_width:
                column.content_width = value.cell_len
                widened = True
        self._update_count += 1
        if widened:
            # The columns to its right moved: the whole table, laid out again.
            self._require_update_dimensions = True
            self.refresh()
            return
        # Every row is one line high (rows are added with the default height), so a row's
        # region is its index below the header: DataTable.refresh_row sums the heights of
        # the rows above it, which over 500 changed rows cost more than the repaint saves.
        header = self.header_height if self.show_header else 0
        width = max(self.size.width, self.virtual_size.width)
        window = self.window_region
        regions = [region.translate(-self.scroll_offset)
                   for region in (Region(0, header + index, width, 1) for index in rows)
                   if window.overlaps(region)]
        if regions:
            self.refresh(*regions)


class FleetChanged(Message):
    """The fleet sources changed; many in a row are one redraw."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FleetChanged)


class FleetPane(Vertical, can_focus=False):
    """Targets of every ``[[prometheus]]`` block; see the module docstring."""

    help_text = "/ filter, g group by job / instance / env / source, enter connect a server"
    BINDINGS = [
        Binding("slash", "fleet_filter", "Filter", id="fleet_filter",
                tooltip="Filter the fleet's targets (regex)"),
        Binding("g", "group", "Group", id="fleet_group",
                tooltip="Group the targets by job, instance, env or source"),
        Binding("escape", "clear_filter", "Clear", show=False, id="fleet_clear",
                tooltip="Clear the filter"),
    ]

    def __init__(self, fleet: FleetView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fleet = fleet
        self.group = "none"
        self.pattern = ""
        self._unsubscribe: list[Any] = []
        self._lines: list[FleetLine | None] = []
        self._keys: list[str] = []
        self._drawn: list[Words] = []
        self._column_keys: list[Any] = []
        self._sources_shown: Text | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="fleet-sources", markup=False)
        yield Input(placeholder="filter targets (regex)", id="fleet-filter", classes="-hidden")
        table = FleetTable(id="fleet-table", cursor_type="row", zebra_stripes=False)
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#fleet-table", DataTable)
        self._column_keys = list(table.add_columns(*COLUMNS))
        box = self.query_one("#fleet-filter", Input)
        # Hidden until `/`: focusing the pane (key 5) must land on the table, not here.
        box.display = False
        box.can_focus = False
        sources = self.fleet.fleet_sources
        if sources is not None:
            self._unsubscribe.append(sources.subscribe(self._on_change))
        self.redraw()

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    def _on_change(self, change: Change) -> None:
        self.post_message(FleetChanged())

    def on_fleet_changed(self, message: FleetChanged) -> None:
        self.redraw()

    # -- drawing ---------------------------------------------------------------------

    def redraw(self) -> None:
        sources = self.fleet.fleet_sources
        # Without [[prometheus]] blocks the app does not mount this pane; a fleet without
        # the service shows the empty pane's words.
        snapshot = sources.snapshot() if sources is not None else FleetSourcesSnapshot()
        line = self._sources_line(snapshot)
        if line != self._sources_shown:
            # Static.update lays the screen out again: only when the line says something new.
            self._sources_shown = line
            self.query_one("#fleet-sources", Static).update(line)
        lines = fleet_lines(snapshot, utcnow(), group=self.group, pattern=self.pattern)
        rows = self._rows(lines, snapshot)
        keys = [key for key, _line, _words in rows]
        if keys == self._keys:
            self._update_cells(rows)
        else:
            self._rebuild(rows)
        self._lines = [line for _key, line, _words in rows]

    def _rows(self, lines: list[FleetLine], snapshot: FleetSourcesSnapshot) -> list[Row]:
        """(row key, line, words) in display order: group headers, targets, or one note.
        ``words`` is each cell's text and whether it is bold: cheap to compare, so a cell
        is only made (and escaped) when its words changed."""
        rows: list[Row] = []
        group = None
        for line in lines:
            if line.group and line.group != group:
                group = line.group
                rows.append((f"group:{group}", line, (("▾ " + group, "header"),) + _BLANK))
            rows.append(("|".join(line.key), line, _words(line)))
        if not rows:
            rows.append(("empty", None, ((self._empty_text(snapshot), "note"),) + _BLANK))
        return rows

    def _update_cells(self, rows: list[Row]) -> None:
        """Same rows as drawn: only the cells whose words changed are touched, so a round
        of 500 probes whose latencies moved costs one table refresh, not 500."""
        table = self.query_one(FleetTable)
        changes: list[tuple[int, str, Any, Text]] = []
        for index, (key, _line, words) in enumerate(rows):
            drawn = self._drawn[index]
            if drawn == words:
                continue
            for column, (old, new) in enumerate(zip(drawn, words, strict=True)):
                if old != new:
                    changes.append((index, key, self._column_keys[column],
                                    _cell(column, *new)))
            self._drawn[index] = words
        table.update_cells(changes)

    def _rebuild(self, rows: list[Row]) -> None:
        table = self.query_one(FleetTable)
        selected = self._keys[table.cursor_row] if 0 <= table.cursor_row < len(self._keys) \
            else None
        table.clear()
        for key, _line, words in rows:
            table.add_row(*(_cell(column, *w) for column, w in enumerate(words)), key=key)
        self._keys = [key for key, _line, _words in rows]
        self._drawn = [words for _key, _line, words in rows]
        if selected in self._keys:
            table.move_cursor(row=self._keys.index(selected))

    def _sources_line(self, snapshot: FleetSourcesSnapshot) -> Text:
        text = Text(end="")
        for index, source in enumerate(snapshot.sources):
            if index:
                text.append("   ")
            text.append_text(safe(source.name, style="bold"))
            if source.state == "error":
                text.append_text(safe(f" not answering: {source.detail}", style="bold"))
                if snapshot.targets:
                    text.append(" (last known targets shown)")
            elif source.state == "pending":
                text.append(" waiting for the first answer")
            else:
                every = f", every {source.interval_s:g} s" if source.interval_s else ""
                text.append(f" up (alerts from {source.alerts_from or '-'}{every})")
                if source.alerts_detail:
                    text.append_text(safe(f"; {source.alerts_detail}", style="bold"))
        if self.pattern:
            text.append_text(safe(f"   filter: /{self.pattern}/"))
        if self.group != "none":
            text.append(f"   grouped by {self.group}")
        return text

    def _empty_text(self, snapshot: FleetSourcesSnapshot) -> str:
        if not snapshot.sources:
            return "no [[prometheus]] configured"
        if self.pattern:
            return "no target matches the filter (esc clears it)"
        return "no targets yet"

    # -- keys ------------------------------------------------------------------------

    def action_fleet_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.display = True
        box.can_focus = True
        box.value = self.pattern
        box.focus()

    @on(Input.Changed, "#fleet-filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        self.pattern = event.value
        self.redraw()

    @on(Input.Submitted, "#fleet-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.query_one("#fleet-table", DataTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``esc`` clears only a filter there is; otherwise it goes on to the app (where it
        ends a zoom)."""
        if action == "clear_filter":
            return bool(self.pattern) or self.query_one("#fleet-filter", Input).display
        return True

    def action_clear_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        self.pattern = ""
        box.value = ""
        box.display = False
        box.can_focus = False
        self.query_one("#fleet-table", DataTable).focus()
        self.redraw()

    def action_group(self) -> None:
        self.group = GROUPS[(GROUPS.index(self.group) + 1) % len(GROUPS)]
        self.redraw()

    @on(DataTable.RowSelected, "#fleet-table")
    async def _row_chosen(self, event: DataTable.RowSelected) -> None:
        if not (0 <= event.cursor_row < len(self._lines)):
            return
        line = self._lines[event.cursor_row]
        if line is None or event.row_key.value and str(event.row_key.value).startswith(
                "group:"):
            return
        server = matching_server(line.target, self.fleet.config.servers)
        if server is None:
            self.app.notify(f"{line.target} is not a configured server", markup=False)
            return
        await self.fleet.activate(server.name)
        self.app.notify(f"{server.name}: {self.fleet.hosts[server.name].status.describe()}",
                        markup=False)
        if isinstance(self.app, AppPanes):
            self.app.action_focus_pane("1")

    def selected_server(self) -> str | None:
        table = self.query_one("#fleet-table", DataTable)
        if not (0 <= table.cursor_row < len(self._lines)):
            return None
        line = self._lines[table.cursor_row]
        if line is None:
            return None
        server = matching_server(line.target, self.fleet.config.servers)
        return server.name if server else None
