"""``LogsPane``: every server's auth events (or every line), live, merged, filterable.

The engine (``fleet.logs``) coalesces lines into batches at most every 100 ms, counts lines
it had to shed, and hands the auth events apart from the ordinary lines. Its listener is a
``LogInbox`` that keeps the batches and posts ``LinesArrived`` (collapsed while queued);
the pane drains the inbox in its handler and draws at most every ``FRAME_S`` (or
``FLOOD_FRAME_S`` under a flood). The count of skipped lines is shown in the status line
instead of dropping lines silently.

Every server-sent string (line text, container names, file paths) goes through
``safe_text.make_visible``: markup stays literal, control characters are shown as escapes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from console.engine.contracts import Unsubscribe
from console.models import LogLine
from console.ui.messages import LinesArrived, LogBatchLike, LogInbox, SourcesChanged
from console.ui.safe_text import make_visible
from console.ui.screens.log_detail import LogDetailScreen
from console.ui.screens.log_export import export_lines
from console.ui.themes import severity_style
from console.ui.widgets.logs.find import FindBar
from console.ui.widgets.logs.format import haystack
from console.ui.widgets.logs.summary import RuleCounts, StatusFacts, StatusLine, troubled
from console.ui.widgets.logs.view import LogView

if TYPE_CHECKING:
    from console.engine.fleet import FleetView
    from console.engine.logs import LogService

__all__ = ["LogsPane"]

FRAME_S = 0.25  # new lines are drawn at most this often
FLOOD_FRAME_S = 0.5  # ... and this often once a frame brings more than a screenful
COUNT_WINDOW_S = 900
REFILTER_DELAY = 0.15


def next_match(view: LogView, pattern: re.Pattern[str], direction: int) -> int | None:
    """The next line (``direction`` 1) or previous one (-1) from the cursor, wrapping
    around, whose text as shown matches; from the end when no line is selected."""
    count = len(view.lines)
    start = view.cursor if view.cursor is not None else count
    for step in range(1, count + 1):
        index = (start + direction * step) % count
        if pattern.search(view.format(view.lines[index]).plain):
            return index
    return None


class FramePacer:
    """New lines on screen now, or at the next frame if one was drawn under ``FRAME_S`` ago
    (``FLOOD_FRAME_S`` when the last frame brought more rows than the pane shows).

    A line after a quiet spell shows at once; a flood is drawn twice a second, where a
    repaint per engine batch kept the loop busy painting rows nobody can read and slowed
    the ingest itself (the GIL is shared).
    """

    def __init__(self, owner: Widget, draw: Callable[[list[LogLine]], None],
                 rows: Callable[[], int]) -> None:
        self._owner = owner
        self._draw = draw
        self._rows = rows
        self._pending: list[LogLine] = []
        self._timer: Timer | None = None
        self._drawn_at = 0.0
        self._frame_s = FRAME_S

    def add(self, lines: list[LogLine], keep: int) -> None:
        self._pending.extend(lines)
        excess = len(self._pending) - keep
        if excess > 0:  # the view would drop them on arrival anyway
            del self._pending[:excess]
        if self._timer is not None:
            return
        wait = self._drawn_at + self._frame_s - time.monotonic()
        if wait <= 0:
            self.flush()
        else:
            self._timer = self._owner.set_timer(wait, self._on_frame)

    def _on_frame(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Draw what is pending now (a frame, or a key such as pause that cannot wait)."""
        self.stop()
        if not self._pending:
            return
        self._drawn_at = time.monotonic()
        pending, self._pending = self._pending, []
        flood = len(pending) > max(self._rows(), 1)
        self._frame_s = FLOOD_FRAME_S if flood else FRAME_S
        self._draw(pending)

    def discard(self) -> None:
        self._pending.clear()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None


class LogsPane(Vertical):
    """``LogsPane(fleet)``: the pane for ``fleet.logs`` (a ``LogService``)."""

    DEFAULT_CSS = """
    LogsPane { height: 1fr; }
    LogsPane #logs-top { height: 1; }
    LogsPane #logs-counts { width: 1fr; height: 1; }
    LogsPane #logs-spark { width: 32; height: 1; }
    LogsPane #logs-status { height: 1; color: $text-muted; }
    LogsPane #logs-status.-warn { color: $warning; }
    LogsPane Input { display: none; height: 3; }
    LogsPane Input.-open { display: block; }
    LogsPane Input.-invalid { border: tall $error; }
    LogsPane #logs-message { display: none; height: 1; color: $error; }
    LogsPane #logs-message.-open { display: block; }
    """

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="logs.filter",
                tooltip="Edit the log filter (a regex), live; esc clears it"),
        Binding("p", "pause", "Pause", id="logs.pause",
                tooltip="Pause or resume the view; the buffer keeps filling"),
        Binding("a", "toggle_all", "All/auth", id="logs.all",
                tooltip="Show every line, or only auth events (the default)"),
        Binding("s", "search", "Search", id="logs.search",
                tooltip="Search the buffer; n / N go to the next / previous match"),
        Binding("n", "search_next(1)", "Next match", show=False, id="logs.next",
                tooltip="The next line matching the search"),
        Binding("N", "search_next(-1)", "Previous match", show=False, id="logs.previous",
                tooltip="The previous line matching the search"),
        Binding("e", "export", "Export", id="logs.export",
                tooltip="Write the lines shown to a file (secrets redacted)"),
        Binding("enter", "details", "Details", id="logs.details",
                tooltip="The whole selected line, wrapped"),
        Binding("escape", "clear", "Clear", show=False, id="logs.clear",
                tooltip="Clear the filter and the search"),
    ]

    help_text = ("auth events from every server; / filter, p pause, a all lines, s search "
                 "(n/N), e export, enter details, w wrap")

    show_all: reactive[bool] = reactive(False)
    """False: only auth events (the default). True: every line."""

    paused: reactive[bool] = reactive(False)
    """True: the view stands still while the engine keeps buffering (``p``)."""

    wrap: reactive[bool] = reactive(True)
    """True (the default): a long message continues under its row, so the words that
    matter are on the first screen. False: one row per line, cut at the pane's edge."""

    def __init__(self, fleet: FleetView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fleet = fleet
        # A fleet without the service (a partial test fake) says "no log service".
        self.service: LogService | None = fleet.logs
        self.filter: re.Pattern[str] | None = None
        self.skipped = 0
        self.new_while_paused = 0
        self._pause_seq = 0
        self._inbox = LogInbox(self)
        self._unsubscribe: list[Unsubscribe] = []
        self._refilter_timer: Timer | None = None
        self._counts_dirty = True
        self._pacer = FramePacer(self, self._draw, lambda: self.view.size.height)

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield RuleCounts(id="logs-top")
        yield LogView(wrap=self.wrap, id="logs-view")
        yield StatusLine(id="logs-status")
        yield FindBar(id="logs-find")

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def focus(self, scroll_visible: bool = True) -> LogsPane:
        self.view.focus(scroll_visible)
        return self

    def selected_server(self) -> str | None:
        line = self.view.selected()
        return line.server if line is not None else None

    def on_mount(self) -> None:
        if self.service is None:
            self.query_one("#logs-status", Static).update("no log service")
            return
        self._unsubscribe.append(self.service.subscribe(self._inbox))
        self.watch(self.app, "theme", self._theme_changed, init=False)
        self.set_interval(5.0, self._tick)
        self.rebuild()

    def on_unmount(self) -> None:
        self._pacer.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _theme_changed(self) -> None:
        self.view.clear_styles()
        self._counts_dirty = True
        self._update_counts()

    # -- data flow ---------------------------------------------------------------------

    def _keep(self) -> int:
        servers = self.fleet.config.servers
        total = sum(s.logs.buffer_lines for s in servers) if servers else 10_000
        return max(total, 10_000)

    def _wanted(self, line: LogLine) -> bool:
        if not self.show_all and line.rule is None:
            return False
        return self.filter is None or self.filter.search(haystack(line)) is not None

    def on_lines_arrived(self, message: LinesArrived) -> None:
        """New lines from the engine: every batch waiting in the inbox, in order."""
        for batch in self._inbox.drain():
            self._take(batch)

    def on_sources_changed(self, message: SourcesChanged) -> None:
        self._update_status()

    def _take(self, batch: LogBatchLike) -> None:
        lines = list(batch.lines if self.show_all else batch.events)
        self.skipped += batch.skipped if self.show_all else batch.events_skipped
        if batch.events:
            self._counts_dirty = True
        if self.filter is not None:
            lines = [line for line in lines if self.filter.search(haystack(line))]
        if self.paused:  # the view stands still; the status and the counts do not
            self.new_while_paused += len(lines)
            self._update_status()
            if self._counts_dirty:
                self._update_counts()
            return
        self._pacer.add(lines, self._keep())

    def _draw(self, lines: list[LogLine]) -> None:
        """A frame: the lines that waited go on screen, with the status and counts."""
        self.view.append(lines, self._keep())
        self._update_status()
        if self._counts_dirty:
            self._update_counts()

    def rebuild(self) -> None:
        """Rebuild the view from the engine's buffers (mode, filter or pause changed)."""
        if self.service is None:
            return
        self._pacer.discard()  # the buffers hold them too
        source = self.service.buffered(auth_only=not self.show_all)
        lines = [line for line in source if self._wanted(line)] if (
            self.filter is not None) else source
        self.view.set_lines(lines[-self._keep():])
        self._update_status()
        self._update_counts()

    def _tick(self) -> None:
        self._counts_dirty = True
        self._update_counts()
        self._update_status()

    def _update_counts(self) -> None:
        if self.service is None or not self._counts_dirty:
            return
        self._counts_dirty = False
        self.query_one(RuleCounts).show(self.service, COUNT_WINDOW_S,
                                        lambda severity: severity_style(self.app, severity))

    def _update_status(self) -> None:
        self.query_one(StatusLine).show(StatusFacts(
            show_all=self.show_all, paused=self.paused, new_while_paused=self.new_while_paused,
            scrolled=self.view.cursor is not None, filter=self.filter,
            search=self.view.search, skipped=self.skipped, shown=len(self.view.lines),
            wrap=self.wrap,
            trouble=tuple(troubled(self.service.sources())) if self.service else ()))

    # -- filter and search -------------------------------------------------------------

    @property
    def find_bar(self) -> FindBar:
        return self.query_one(FindBar)

    @property
    def message(self) -> str:
        """The message under the list (an invalid regex, no match), or ""."""
        return self.find_bar.message

    def open_filter(self) -> None:
        """``/``: show the filter input, focused, with the current pattern."""
        self.find_bar.open_filter(self.filter)

    def action_filter(self) -> None:
        self.open_filter()

    def action_search(self) -> None:
        self.find_bar.open_search()

    def on_find_bar_filter_changed(self, message: FindBar.FilterChanged) -> None:
        """A valid filter typed: applied after a pause in typing (or now, when cleared)."""
        self.filter = message.pattern
        if self._refilter_timer is not None:
            self._refilter_timer.stop()
            self._refilter_timer = None
        if message.closed:
            self.rebuild()
        else:
            self._refilter_timer = self.set_timer(REFILTER_DELAY, self.rebuild)

    def on_find_bar_filter_done(self, message: FindBar.FilterDone) -> None:
        self.rebuild()

    def on_find_bar_search_set(self, message: FindBar.SearchSet) -> None:
        self.view.search = message.pattern
        self.view.clear_styles()
        if message.pattern is not None:
            self.action_search_next(-1 if self.view.cursor is None else 1)
        self._update_status()

    def on_find_bar_closed(self, message: FindBar.Closed) -> None:
        self.view.focus()
        self._update_status()

    def clear_filter(self) -> None:
        self.find_bar.clear_filter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``esc`` clears only when there is something to clear; otherwise it goes on up
        (to the app, where it ends a zoom)."""
        if action == "clear":
            return self.filter is not None or self.view.search is not None
        return True

    def action_clear(self) -> None:
        if self.filter is not None:
            self.filter = None
            self.clear_filter()
        if self.view.search is not None:
            self.view.search = None
            self.view.clear_styles()
        self._update_status()

    def action_search_next(self, direction: int) -> None:
        view = self.view
        if view.search is None or not view.lines:
            return
        index = next_match(view, view.search, direction)
        if index is None:
            self.find_bar.say(f"no match for /{make_visible(view.search.pattern, 60)}/")
        else:
            view.move_to(index)

    def on_log_view_cursor_moved(self) -> None:
        self._update_status()

    # -- pause, mode, wrap -------------------------------------------------------------

    def toggle_pause(self) -> None:
        """``p``: freeze the view (the engine keeps buffering) or catch up."""
        self.paused = not self.paused

    def action_pause(self) -> None:
        self.toggle_pause()

    def watch_paused(self, paused: bool) -> None:
        if paused:
            if self.is_mounted:  # lines that arrived before the key are shown
                self._pacer.flush()
            last = self.view.lines[-1].seq if self.view.lines else 0
            self._pause_seq = last
            self.new_while_paused = 0
        elif self.is_mounted:
            expected = self.new_while_paused
            self.rebuild()
            caught_up = sum(1 for line in self.view.lines if line.seq > self._pause_seq)
            self.skipped += max(expected - caught_up, 0)
            self.new_while_paused = 0
        if self.is_mounted:
            self._update_status()

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all

    def watch_show_all(self) -> None:
        if self.is_mounted:
            self.rebuild()

    def toggle_wrap(self) -> None:
        """``w``: wrap long messages under their row, or one row per line."""
        self.wrap = not self.wrap

    def watch_wrap(self, wrap: bool) -> None:
        if self.is_mounted:
            self.view.set_wrap(wrap)
            self._update_status()

    # -- export, details ---------------------------------------------------------------

    def action_export(self) -> None:
        if self.service is not None:
            export_lines(self, list(self.view.lines), self.service.export)

    def action_details(self) -> None:
        line = self.view.selected()
        if line is None:
            return
        self.app.push_screen(LogDetailScreen(line))
