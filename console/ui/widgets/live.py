"""What every live pane shares: following one fleet service, and a table kept in line with it.

Each pane is redrawn from an engine service's snapshot whenever the service (or a host's
connection state) says something changed. Services call back on the event loop, often in
bursts (a Docker event storm, a probe round finishing), so a burst is coalesced into one
redraw. While a server is down the panes tick once a second, because "lost 12s ago" has to
count up; while everything is up they do not tick at all (idle CPU, issue 8).

``LiveTable`` adds keyed rows on top of ``DataTable``: when the set of rows is unchanged
(the usual case, a state or health change) cells are updated in place, so the cursor, the
scroll position and the operator's eyes stay where they were; when rows come or go the
table is rebuilt and the cursor is put back on the same row by key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from rich.text import Text
from textual.timer import Timer
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.models import utcnow

__all__ = ["FleetWatcher", "LiveTable"]

RefT = TypeVar("RefT")


class FleetWatcher:
    """Mixin for a widget drawn from ``fleet.<SERVICE>``; call ``follow_service()`` on mount.

    Subclasses implement ``redraw()``. ``TICK_WHILE_DOWN`` makes it redraw every second
    while any server is not up.
    """

    SERVICE: ClassVar[str] = ""
    TICK_WHILE_DOWN: ClassVar[bool] = True
    #: 0: redraw on the next turn of the loop. More: wait that long first, so changes that
    #: arrive a few milliseconds apart (probes of one round) cost one redraw, not several.
    COALESCE_S: ClassVar[float] = 0.0

    fleet: Any
    _clock: Callable[[], datetime] | None
    _unsubscribe: list[Callable[[], None]]
    _pending: bool
    _ticker: Timer | None

    def _init_watcher(self, fleet: Any, clock: Callable[[], datetime] | None) -> None:
        self.fleet = fleet
        self._clock = clock
        self._unsubscribe = []
        self._pending = False
        self._ticker = None

    @property
    def service(self) -> Any:
        return getattr(self.fleet, self.SERVICE, None)

    def now(self) -> datetime:
        """The app's clock (frozen in snapshots), else real time."""
        clock = self._clock or getattr(self.app, "clock", None) or utcnow  # type: ignore[attr-defined]
        return clock()

    def follow_service(self) -> None:
        """Subscribe to the service and to every host's state; draw once."""
        if self.service is not None:
            self._unsubscribe.append(self.service.subscribe(self._on_change))
        for host in getattr(self.fleet, "hosts", {}).values():
            self._unsubscribe.append(host.add_status_listener(self._on_host_status))
        if self.TICK_WHILE_DOWN:
            self._ticker = self.set_interval(1.0, self.redraw, pause=True)  # type: ignore[attr-defined]
            self._sync_ticker()
        self.redraw()

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _on_change(self, what: object = None) -> None:
        """Called by the service on the event loop; a burst becomes one redraw."""
        if self._pending:
            return
        self._pending = True
        delay = self.coalesce_delay(what)
        if delay > 0:
            self.set_timer(delay, self.redraw)  # type: ignore[attr-defined]
        else:
            self.call_later(self.redraw)  # type: ignore[attr-defined]

    def coalesce_delay(self, what: object) -> float:
        """How long to gather changes before redrawing, given what just changed."""
        return self.COALESCE_S

    def _on_host_status(self, _status: object) -> None:
        self._sync_ticker()
        self._on_change()

    def _sync_ticker(self) -> None:
        if self._ticker is None:
            return
        hosts = getattr(self.fleet, "hosts", {}).values()
        if not any(host.status.counts_time for host in hosts):
            self._ticker.pause()
        else:
            self._ticker.resume()

    def redraw(self) -> None:
        raise NotImplementedError


class LiveTable(FleetWatcher, DataTable, Generic[RefT]):
    """A row-cursor ``DataTable`` whose rows are ``(key, ref, cells)`` from ``_build_rows()``.

    ``ref`` is what the row stands for (a server, a container, an endpoint); the pane's
    selection methods read it back with ``_ref_at_cursor()``.
    """

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: Rebuild the columns too, not just the rows: their widths only ever grow, and a long
    #: transient message (a lost server's reason) must not leave the table wide for good.
    REBUILD_COLUMNS: ClassVar[bool] = False

    def __init__(self, fleet: Any, *, clock: Callable[[], datetime] | None = None,
                 id: str | None = None, cursor_foreground_priority: Any = "css") -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False,
                         cursor_foreground_priority=cursor_foreground_priority)
        self._init_watcher(fleet, clock)
        self._refs: dict[str, RefT] = {}
        self._keys: list[str] = []
        self._cells: dict[str, tuple[Text, ...]] = {}

    def add_columns_for_table(self) -> None:
        """One column per ``COLUMNS`` entry; override to give some a fixed width."""
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)

    def _build_rows(self) -> list[tuple[str, RefT, tuple[Text, ...]]]:
        raise NotImplementedError

    def _ref_at_cursor(self) -> RefT | None:
        if not self._keys or not 0 <= self.cursor_row < len(self._keys):
            return None
        return self._refs.get(self._keys[self.cursor_row])

    def row_texts(self) -> list[tuple[str, ...]]:
        """The table as plain strings, row by row (what the operator reads)."""
        return [tuple(cell.plain for cell in self._cells[key]) for key in self._keys]

    def redraw(self) -> None:
        self.update_rows()

    def update_rows(self) -> None:
        """Bring the table in line with the service's snapshot."""
        self._pending = False
        rows = self._build_rows()
        if [key for key, _, _ in rows] == self._keys:
            self._update_in_place(rows)
        else:
            self._rebuild(rows)

    def _update_in_place(self, rows: list[tuple[str, RefT, tuple[Text, ...]]]) -> None:
        for key, ref, cells in rows:
            self._refs[key] = ref
            old = self._cells.get(key)
            if old == cells:
                continue
            for (column, _), cell, before in zip(self.COLUMNS, cells, old or (), strict=False):
                if cell != before:
                    try:
                        self.update_cell(key, column, cell, update_width=True)
                    except (CellDoesNotExist, RowDoesNotExist):
                        self._rebuild(rows)
                        return
            self._cells[key] = cells

    def _rebuild(self, rows: list[tuple[str, RefT, tuple[Text, ...]]]) -> None:
        selected = self._keys[self.cursor_row] if 0 <= self.cursor_row < len(self._keys) \
            else None
        previous = list(self._keys)
        scroll_y = self.scroll_y
        self.clear(columns=self.REBUILD_COLUMNS)
        if self.REBUILD_COLUMNS or not self.columns:
            self.add_columns_for_table()
        self._refs.clear()
        self._cells.clear()
        self._keys = []
        for key, ref, cells in rows:
            self.add_row(*cells, key=key)
            self._refs[key] = ref
            self._cells[key] = cells
            self._keys.append(key)
        self._place_cursor(previous, selected, scroll_y)

    def _place_cursor(self, previous: list[str], selected: str | None, scroll_y: float) -> None:
        """After a rebuild: back on the row that was selected, at the same scroll."""
        if selected is not None and selected in self._refs:
            self.move_cursor(row=self._keys.index(selected), animate=False, scroll=False)
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
