"""The containers pane: every server's containers, grouped by compose project, live.

A ``DataTable`` with three kinds of rows: a server row (its link or Docker state in words),
a project row, and container rows (state, health, restarts, uptime, image). It redraws
from ``fleet.containers.snapshot()`` whenever the service says a server changed, coalescing
bursts into one pass. When the set of rows is unchanged (the usual case: a state or health
change) cells are updated in place, so the cursor, the scroll position and the operator's
eyes stay where they were; when rows come or go the table is rebuilt and the cursor is put
back on the same row by key.

Everything a server sends (names, images, error text) goes through ``safe_text.safe``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.models import ContainerInfo, utcnow
from console.ui.safe_text import safe
from console.ui.themes import state_style

__all__ = ["COLUMNS", "ContainersPane", "format_uptime"]

COLUMNS = (("name", "Name"), ("state", "State"), ("health", "Health"),
           ("restarts", "Restarts"), ("uptime", "Uptime"), ("image", "Image"))
NO_PROJECT = "(no project)"
UPTIME_REFRESH_S = 30.0


def format_uptime(seconds: float | None) -> str:
    """'<1m', '42m', '3h 05m', '2d 04h': minute precision, so a 30 s refresh is honest."""
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


@dataclass(frozen=True, slots=True)
class RowRef:
    """What a table row stands for: a server, a project within it, or one container."""

    server: str
    container_id: str | None = None
    project: str | None = None


Row = tuple[str, RowRef, tuple[Text, ...]]


class ContainersPane(DataTable, can_focus=True):
    """``ContainersPane(fleet)``: the live containers of every server in the fleet."""

    BINDINGS = [
        Binding("home", "scroll_top", "Top", show=False, id="containers.top",
                tooltip="First row"),
        Binding("end", "scroll_bottom", "Bottom", show=False, id="containers.bottom",
                tooltip="Last row"),
    ]
    help_text = "Per server: containers by compose project; r restarts the selected one."

    DEFAULT_CSS = """
    ContainersPane {
        height: 1fr;
        width: 1fr;
    }
    """

    def __init__(self, fleet: Any, *, clock: Callable[[], datetime] | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False,
                         cursor_foreground_priority="css")
        self.fleet = fleet
        self._clock = clock
        self._refs: dict[str, RowRef] = {}
        self._keys: list[str] = []
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._pending = False
        self._ticker: Timer | None = None

    # -- life cycle ----------------------------------------------------------------------

    @property
    def service(self) -> Any:
        return getattr(self.fleet, "containers", None)

    def now(self) -> datetime:
        clock = self._clock or getattr(self.app, "clock", None) or utcnow
        return clock()

    def on_mount(self) -> None:
        if self.service is not None:
            self._unsubscribe.append(self.service.subscribe(self._on_change))
        for host in getattr(self.fleet, "hosts", {}).values():
            self._unsubscribe.append(host.add_status_listener(self._on_host_status))
        self._ticker = self.set_interval(1.0, self._tick, pause=True)
        self.set_interval(UPTIME_REFRESH_S, self.update_rows)
        self._sync_ticker()
        self.update_rows()

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _on_change(self, server: str) -> None:
        """Called by the service on the event loop; bursts become one redraw."""
        if not self._pending:
            self._pending = True
            self.call_later(self.update_rows)

    def _on_host_status(self, status: Any) -> None:
        self._sync_ticker()
        self._on_change("")

    def _sync_ticker(self) -> None:
        """Tick every second only while a server is down (its 'lost 12s ago' counts)."""
        if self._ticker is None:
            return
        hosts = getattr(self.fleet, "hosts", {}).values()
        if all(host.status.is_up for host in hosts):
            self._ticker.pause()
        else:
            self._ticker.resume()

    def _tick(self) -> None:
        self.update_rows()

    # -- selection -----------------------------------------------------------------------

    def _ref_at_cursor(self) -> RowRef | None:
        if not self._keys or not 0 <= self.cursor_row < len(self._keys):
            return None
        return self._refs.get(self._keys[self.cursor_row])

    def selected_server(self) -> str | None:
        ref = self._ref_at_cursor()
        return ref.server if ref else None

    def selected_container(self) -> ContainerInfo | None:
        ref = self._ref_at_cursor()
        if ref is None or ref.container_id is None or self.service is None:
            return None
        return self.service.find(ref.server, ref.container_id)

    def select_container(self, server: str, name: str) -> bool:
        """Put the cursor on a container by name (palette, tests); False if not shown."""
        for index, key in enumerate(self._keys):
            ref = self._refs[key]
            if ref.server == server and ref.container_id:
                info = self.service.find(server, ref.container_id)
                if info is not None and info.name == name:
                    self.move_cursor(row=index, animate=False)
                    return True
        return False

    def row_texts(self) -> list[tuple[str, ...]]:
        """The table as plain strings, row by row (what the operator reads)."""
        return [tuple(cell.plain for cell in self._cells[key]) for key in self._keys]

    # -- drawing -------------------------------------------------------------------------

    def update_rows(self) -> None:
        """Bring the table in line with the service's snapshot."""
        self._pending = False
        rows = self._build_rows()
        keys = [key for key, _, _ in rows]
        if keys == self._keys:
            self._update_in_place(rows)
        else:
            self._rebuild(rows)

    def _update_in_place(self, rows: list[Row]) -> None:
        for key, ref, cells in rows:
            self._refs[key] = ref
            old = self._cells.get(key)
            if old == cells:
                continue
            for (column, _), cell, before in zip(COLUMNS, cells, old or (), strict=False):
                if cell != before:
                    try:
                        self.update_cell(key, column, cell, update_width=True)
                    except (CellDoesNotExist, RowDoesNotExist):
                        self._rebuild(rows)
                        return
            self._cells[key] = cells

    def _rebuild(self, rows: list[Row]) -> None:
        selected = self._keys[self.cursor_row] if 0 <= self.cursor_row < len(self._keys) \
            else None
        first_fill = not any(key.startswith("c|") for key in self._keys)
        scroll_y = self.scroll_y
        # Columns too: their widths only ever grow, and a long transient message (a lost
        # server's reason) must not leave the table wider than the pane for good.
        self.clear(columns=True)
        for column, label in COLUMNS:
            self.add_column(label, key=column)
        self._refs.clear()
        self._cells.clear()
        self._keys = []
        for key, ref, cells in rows:
            self.add_row(*cells, key=key)
            self._refs[key] = ref
            self._cells[key] = cells
            self._keys.append(key)
        if first_fill and self.cursor_row == 0:
            # The first containers to arrive: start on one, so `r` works at once.
            first = next((i for i, key in enumerate(self._keys) if key.startswith("c|")), 0)
            self.move_cursor(row=first, animate=False)
        elif selected is not None and selected in self._refs:
            self.move_cursor(row=self._keys.index(selected), animate=False, scroll=False)
            self.scroll_to(y=scroll_y, animate=False, immediate=True)

    def _build_rows(self) -> list[Row]:
        if self.service is None:
            return [("none", RowRef(""), (Text("containers service not available"),
                                          *([Text()] * (len(COLUMNS) - 1))))]
        now = self.now()
        rows: list[Row] = []
        for server, snap in self.service.snapshot().items():
            rows.append(self._server_row(server, snap, now))
            project: object = object()
            for info in snap.containers:
                if info.project != project:
                    project = info.project
                    rows.append(self._project_row(server, info.project))
                rows.append(self._container_row(info, now, stale=snap.stale))
        return rows

    def _server_row(self, server: str, snap: Any, now: datetime) -> Row:
        """Name, link/Docker state in words, a problem count, and why when it is not up."""
        host = getattr(self.fleet, "hosts", {}).get(server)
        status = host.status if host is not None else None
        problems = Text()
        if status is not None and not status.is_up:
            word = status.state.value
            detail = status.describe(now)
            if status.detail:
                detail += f": {status.detail}"
        elif snap.state == "ok":
            word = "up"
            count = len(snap.containers)
            detail = f"{count} container{'s' if count != 1 else ''}"
            bad = sum(1 for c in snap.containers if not c.ok)
            problems = Text(f"{bad} problem{'s' if bad != 1 else ''}",
                            style=state_style(self.app, "unhealthy")) if bad else \
                Text("all ok", style=state_style(self.app, "healthy"))
        elif snap.state == "connecting":
            word, detail = "connecting", "listing…"
        else:
            word, detail = "unavailable", snap.error or "Docker unreachable"
        if snap.stale:
            detail += " · rows below are the last known state"
        blank = Text()
        return (f"s|{server}", RowRef(server), (
            Text.assemble(("▾ ", "bold"), safe(server, "bold")),
            Text(word, style=state_style(self.app, word)),
            problems, blank, blank,
            safe(detail, state_style(self.app, word) if word != "up" else "", max_chars=200),
        ))

    def _project_row(self, server: str, project: str | None) -> Row:
        label = safe(project, "italic") if project else Text(NO_PROJECT, style="italic dim")
        blank = Text()
        return (f"p|{server}|{project or ''}", RowRef(server, project=project),
                (Text.assemble("  ", label), blank, blank, blank, blank, blank))

    def _container_row(self, info: ContainerInfo, now: datetime, *, stale: bool) -> Row:
        dim = Style(dim=True) if stale else Style()
        state = info.state
        if info.exit_code is not None:
            state = f"{info.state} ({info.exit_code})"
        health = info.health or "none"
        restarts = Text(str(info.restart_count), justify="right",
                        style=state_style(self.app, "restarting") if info.restart_count
                        else "")
        cells = (
            Text.assemble("    ", safe(info.name)),
            Text(state, style=state_style(self.app, info.state)),
            Text(health, style=state_style(self.app, health) if health != "none" else "dim"),
            restarts,
            Text(format_uptime(info.uptime_seconds(now)), justify="right"),
            safe(info.image, max_chars=120),
        )
        if stale:
            for cell in cells:
                cell.stylize(dim)
        return (f"c|{info.server}|{info.id}", RowRef(info.server, info.id, info.project), cells)
