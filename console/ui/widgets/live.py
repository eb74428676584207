"""What every live pane shares: following one fleet service, and a table kept in line with it.

Each pane is redrawn from an engine service's snapshot whenever the service (or a host's
connection state) says something changed. The service's listener only posts a message
(``console.ui.messages``); the pane redraws in its handler. Bursts coalesce twice: queued
messages of one kind collapse into one (``can_replace``), and a pane may wait
``coalesce_delay()`` before redrawing so that a round of changes costs one redraw. While a
server is down the panes tick once a second, because "lost 12s ago" has to count up; while
everything is up they do not tick at all (idle CPU).

``LiveTable`` adds keyed rows on top of ``DataTable``: when the set of rows is unchanged
(the usual case, a state or health change) cells are updated in place, so the cursor, the
scroll position and the operator's eyes stay where they were; when rows come or go the
table is rebuilt and the cursor is put back on the same row by key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Generic, Literal, Protocol, TypeVar

from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.engine.contracts import Unsubscribe
from console.models import utcnow
from console.ui.console_app import AppClock
from console.ui.messages import HostChanged, ServiceChanged, post_change, post_host_change

if TYPE_CHECKING:
    from console.engine.fleet import FleetView

    _WidgetMixin = Widget
else:  # a mixin at run time: as a Widget subclass it would upset DataTable's CSS classes
    _WidgetMixin = object

__all__ = ["FleetWatcher", "LiveTable", "Subscribable"]

RefT = TypeVar("RefT")


class Subscribable(Protocol):
    """What a watcher needs of a service: a way to hear that it changed."""

    def subscribe(self, listener: Callable[[object], None], /) -> Unsubscribe: ...


class FleetWatcher(_WidgetMixin):
    """A widget drawn from one fleet service; call ``follow_service()`` on mount.

    Subclasses implement ``redraw()`` and ``watched()`` (the service, or None when the
    fleet has none). ``TICK_WHILE_DOWN`` makes it redraw every second while any server is
    not up.
    """

    TICK_WHILE_DOWN: ClassVar[bool] = True
    #: 0: redraw as the message is handled. More: wait that long first, so changes that
    #: arrive a few milliseconds apart (probes of one round) cost one redraw, not several.
    COALESCE_S: ClassVar[float] = 0.0

    fleet: FleetView
    _clock: Callable[[], datetime] | None
    _unsubscribe: list[Unsubscribe]
    _pending: bool
    _ticker: Timer | None

    def _init_watcher(self, fleet: FleetView, clock: Callable[[], datetime] | None) -> None:
        self.fleet = fleet
        self._clock = clock
        self._unsubscribe = []
        self._pending = False
        self._ticker = None

    def watched(self) -> Subscribable | None:
        raise NotImplementedError

    def now(self) -> datetime:
        """The app's clock (frozen in snapshots), else real time."""
        clock = self._clock or (self.app.clock if isinstance(self.app, AppClock)
                                else utcnow)
        return clock()

    def follow_service(self) -> None:
        """Subscribe to the service and to every host's state; draw once."""
        service = self.watched()
        if service is not None:
            self._unsubscribe.append(service.subscribe(post_change(self)))
        for name, host in self.fleet.hosts.items():
            self._unsubscribe.append(host.add_status_listener(post_host_change(self, name)))
        if self.TICK_WHILE_DOWN:
            self._ticker = self.set_interval(1.0, self.redraw, pause=True)
            self._sync_ticker()
        self.redraw()

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def on_service_changed(self, message: ServiceChanged) -> None:
        self._changed(message.change)

    def on_host_changed(self, message: HostChanged) -> None:
        self._sync_ticker()
        self._changed(None)

    def _changed(self, what: object) -> None:
        """A change arrived: redraw now, or once after ``coalesce_delay`` for a burst."""
        if self._pending:
            return
        delay = self.coalesce_delay(what)
        if delay > 0:
            self._pending = True
            self.set_timer(delay, self.redraw)
        else:
            self.redraw()

    def coalesce_delay(self, what: object) -> float:
        """How long to gather changes before redrawing, given what just changed."""
        return self.COALESCE_S

    def _sync_ticker(self) -> None:
        if self._ticker is None:
            return
        if not any(host.status.counts_time for host in self.fleet.hosts.values()):
            self._ticker.pause()
        else:
            self._ticker.resume()

    def redraw(self) -> None:
        raise NotImplementedError


class LiveTable(FleetWatcher, DataTable[Text], Generic[RefT]):
    """A row-cursor ``DataTable`` whose rows are ``(key, ref, cells)`` from ``_build_rows()``.

    ``ref`` is what the row stands for (a server, a container, an endpoint); the pane's
    selection methods read it back with ``_ref_at_cursor()``.
    """

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: Rebuild the columns too, not just the rows: their widths only ever grow, and a long
    #: transient message (a lost server's reason) must not leave the table wide for good.
    REBUILD_COLUMNS: ClassVar[bool] = False

    def __init__(self, fleet: FleetView, *, clock: Callable[[], datetime] | None = None,
                 id: str | None = None,
                 cursor_foreground_priority: Literal["css", "renderable"] = "css") -> None:
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
