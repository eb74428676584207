"""``LogView``: rows of ``LogLine``s drawn on demand through Textual's Line API.

Why a Line-API ``ScrollView`` and not ``Log``/``RichLog``: the pane must keep up with a
500k-line flood while a key still answers at once. ``RichLog`` renders every line it is
given up front (and snaps to the bottom on each write, textual #6311); ``Log`` takes plain
strings, so the per-line colour of the rule label and the search highlight would have to be
ANSI, which ``Log`` mangles (textual #3506). The view keeps references to the engine's
``LogLine`` objects and renders only the rows on screen (``render_line``), each line
through an LRU cache: appending a 10k-line batch is a list extend and one refresh, however
long the lines are, and filtering rebuilds a list of references, not text. This is
Toolong's design.

Wrapping: a line whose message does not fit continues on up to three more rows, indented
under the source column (``format.RowLayout``). The cursor and every selection are by line;
``_ends`` holds where each line's rows end, so finding the line under a screen row is a
bisection, and an unwrapped view (``_ends is None``) has one row per line.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from re import Pattern

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.models import LogLine, Severity
from console.ui.safe_text import make_visible
from console.ui.themes import severity_style
from console.ui.widgets.logs.format import (
    MAX_WRAP_ROWS,
    TEXT_CHARS,
    WRAP_INDENT,
    RowLayout,
    format_row,
    message_text,
)

__all__ = ["LogView"]


class LogView(ScrollView, can_focus=True):
    """Rows of ``LogLine``s drawn on demand; a cursor line; follows the end unless moved."""

    COMPONENT_CLASSES = {"logview--cursor", "logview--match", "logview--dim"}
    DEFAULT_CSS = """
    LogView { height: 1fr; overflow-x: hidden; }
    LogView > .logview--cursor { background: $accent 30%; }
    LogView:focus > .logview--cursor { background: $accent 50%; }
    LogView > .logview--match { background: $warning 40%; text-style: bold; }
    LogView > .logview--dim { color: $text-muted; }
    """

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="logs.up",
                tooltip="The line above"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="logs.down",
                tooltip="The line below"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="logs.page_up",
                tooltip="One screen up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="logs.page_down",
                tooltip="One screen down"),
        Binding("home", "first", "First line", show=False, id="logs.home",
                tooltip="The oldest line kept"),
        Binding("end,G", "follow", "Follow", show=False, id="logs.follow",
                tooltip="Jump to the newest line and follow"),
    ]

    cursor: reactive[int | None] = reactive(None, always_update=True, repaint=False)
    """Index of the selected line; None while following the newest line. ``watch_cursor``
    repaints what changed (a reactive's own repaint would redraw the whole pane)."""

    class CursorMoved(Message):
        """The operator moved the cursor (or went back to following)."""

    def __init__(self, *, wrap: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[LogLine] = []
        self.search: Pattern[str] | None = None
        self._wrap = wrap
        self._ends: list[int] | None = [] if wrap else None
        self._layout = RowLayout(0)
        self._cache: LRUCache[tuple[int, int, bool], list[Strip]] = LRUCache(1024)
        self._styles: dict[Severity, Style] = {}

    # -- rows and lines ----------------------------------------------------------------

    @property
    def wrap(self) -> bool:
        return self._wrap

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines under their row, or give every line exactly one row."""
        if wrap == self._wrap:
            return
        self._wrap = wrap
        self._remeasure()

    @property
    def row_count(self) -> int:
        if self._ends is None:
            return len(self.lines)
        return self._ends[-1] if self._ends else 0

    def first_row(self, index: int) -> int:
        """The row where line ``index`` starts."""
        if self._ends is None:
            return index
        return self._ends[index - 1] if index > 0 else 0

    def rows_of(self, index: int) -> int:
        return 1 if self._ends is None else self._ends[index] - self.first_row(index)

    def line_at_row(self, row: int) -> int | None:
        """The index of the line drawn on virtual row ``row``, or None below the last."""
        if row < 0 or row >= self.row_count:
            return None
        return row if self._ends is None else bisect_right(self._ends, row)

    def _remeasure(self) -> None:
        """Row ends for every line at the current width (wrap toggled, width changed)."""
        self._layout = RowLayout(self.size.width)
        self._ends = self._measure(self.lines, 0) if self._wrap else None
        self._cache.clear()
        self._resized()

    def _measure(self, lines: Sequence[LogLine], start: int) -> list[int]:
        rows_for = self._layout.rows_for
        ends = []
        total = start
        for line in lines:
            total += rows_for(line)
            ends.append(total)
        return ends

    # -- data --------------------------------------------------------------------------

    def set_lines(self, lines: list[LogLine]) -> None:
        """Replace every line (filter or mode changed); keeps following if it was."""
        self.lines = lines
        if self.cursor is not None:
            self.cursor = min(self.cursor, len(lines) - 1) if lines else None
        self._remeasure()

    def append(self, lines: Sequence[LogLine], keep: int) -> None:
        """Add lines at the end, keeping at most ``keep``; the view stays where it was.

        Work is proportional to what is on screen: when the operator has scrolled up and
        the new rows land below the window, only the scrollbar changes, so the rows are not
        repainted (during a flood that is every batch).
        """
        if not lines:
            return
        old_rows = self.row_count
        self.lines.extend(lines)
        if self._ends is not None:
            self._ends.extend(self._measure(lines, old_rows))
        excess = len(self.lines) - keep
        if excess > keep // 4:  # trim in steps: deleting from a list front is O(n)
            removed_rows = self.first_row(excess)
            del self.lines[:excess]  # (the row cache is keyed by seq: it stays right)
            if self._ends is not None:
                self._ends = [end - removed_rows for end in self._ends[excess:]]
            if self.cursor is not None:
                self.cursor = max(self.cursor - excess, 0)
            if self.cursor is None or self.scroll_y > 0:
                self.scroll_to(y=max(self.scroll_y - removed_rows, 0), animate=False)
            self._resized()
            return
        visible_end = int(self.scroll_y) + max(self.size.height, 1)
        self._resized(repaint=self.cursor is None or visible_end > old_rows)

    def _resized(self, repaint: bool = True) -> None:
        following = self.cursor is None
        size = Size(self.size.width, self.row_count)
        if (min(self.virtual_size.height, size.height) > self.size.height
                and size.width == self.virtual_size.width):
            # A scrollbar before and after: no layout of the screen is needed, only the
            # scrollbar's thumb (setting the reactive would relayout and repaint everything).
            self.set_reactive(LogView.virtual_size, size)
            self._scroll_update(size)
        else:
            self.virtual_size = size
        if following:  # after the refresh: max_scroll_y must see the new virtual size
            self.scroll_end(animate=False, x_axis=False)
        if repaint:
            self.refresh()

    def on_resize(self) -> None:
        self._remeasure()

    def selected(self) -> LogLine | None:
        if not self.lines:
            return None
        return self.lines[self.cursor if self.cursor is not None else -1]

    def clear_styles(self) -> None:
        self._styles.clear()
        self._cache.clear()
        self.refresh()

    # -- keys --------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        if not self.lines:
            return
        current = self.cursor if self.cursor is not None else len(self.lines) - 1
        self.move_to(current + delta)

    def action_page(self, delta: int) -> None:
        self.action_cursor(delta * max(self.size.height - 1, 1))

    def action_first(self) -> None:
        if self.lines:
            self.move_to(0)

    def action_follow(self) -> None:
        self.cursor = None
        self.scroll_end(animate=False, x_axis=False)
        self.post_message(self.CursorMoved())

    def move_to(self, index: int) -> None:
        """Select line ``index`` and scroll just enough for all of its rows to show."""
        if not self.lines:
            return
        index = max(0, min(index, len(self.lines) - 1))
        self.cursor = index
        top = int(self.scroll_y)
        height = max(self.size.height, 1)
        first = self.first_row(index)
        last = first + self.rows_of(index) - 1
        if first < top:
            self.scroll_to(y=first, animate=False, immediate=True)
        elif last >= top + height:
            self.scroll_to(y=min(first, last - height + 1), animate=False, immediate=True)
        self.post_message(self.CursorMoved())

    def watch_cursor(self, old: int | None, new: int | None) -> None:
        """Repaint the rows of the two lines that changed, not the pane: the cache is
        keyed on the cursor flag, so every other row is still right (a key during a flood
        stays cheap)."""
        if old is None or new is None:
            self.refresh()
            return
        for index in {old, new}:
            if 0 <= index < len(self.lines):
                self.refresh_lines(self.first_row(index), self.rows_of(index))

    # -- drawing -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        row = int(self.scroll_y) + y
        width = self.size.width
        base = self.rich_style
        index = self.line_at_row(row)
        if index is None or width <= 0:
            return Strip.blank(width, base)
        is_cursor = index == self.cursor
        line = self.lines[index]
        key = (line.seq, width, is_cursor)
        strips = self._cache.get(key)
        if strips is None or len(strips) != self.rows_of(index):
            strips = self._render_rows(line, self.rows_of(index), is_cursor, base)
            self._cache[key] = strips
        return strips[row - self.first_row(index)].apply_offsets(0, row)

    def _styled(self, line: LogLine, is_cursor: bool) -> Strip:
        """The whole row, uncut: format, search highlight, cursor."""
        text = self.format(line)
        if self.search is not None:
            match_style = self.get_component_rich_style("logview--match", partial=True)
            for m in self.search.finditer(text.plain):
                if m.end() > m.start():
                    text.stylize(match_style, m.start(), m.end())
        if is_cursor:
            text.stylize(self.get_component_rich_style("logview--cursor", partial=True))
        return Strip(list(text.render(self.app.console)))

    def _render_row(self, line: LogLine, width: int, is_cursor: bool, base: Style) -> Strip:
        """The line on one row of ``width`` cells, cut at the edge."""
        return self._styled(line, is_cursor).crop_extend(0, width, base).simplify()

    def _render_rows(self, line: LogLine, rows: int, is_cursor: bool,
                     base: Style) -> list[Strip]:
        """The line's ``rows`` rows: the first one full width, the others indented."""
        width = self.size.width
        if rows == 1:
            return [self._render_row(line, width, is_cursor, base)]
        strip = self._styled(line, is_cursor)
        end = strip.cell_length
        cuts, more = self._cuts(line, width, end)
        # Strip.divide returns the pieces up to each cut: the last cut is the strip's end.
        divided = list(strip.divide([cut for cut in cuts if cut < end] + [end]))
        pieces = divided[:rows] + [Strip([])] * (rows - len(divided))
        room = max(width - WRAP_INDENT, 1)
        if more or len(divided) > rows:  # more than fits: say so; enter shows it all
            pieces[-1] = Strip.join([pieces[-1].crop(0, room - 1), Strip([Segment("…")])])
        cursor_style = self.get_component_rich_style("logview--cursor", partial=True)
        indent = Strip([Segment(" " * WRAP_INDENT, base + cursor_style if is_cursor
                                else base)])
        out = [pieces[0].crop_extend(0, width, base).simplify()]
        for piece in pieces[1:]:
            out.append(Strip.join([indent, piece]).crop_extend(0, width, base).simplify())
        return out

    def _cuts(self, line: LogLine, width: int, end: int) -> tuple[list[int], bool]:
        """Cell positions where the row's continuation rows start, and whether the text
        goes on past the last row. Between words for a plain-ASCII message (its cells are
        its characters), else at the edge."""
        layout = RowLayout(width)
        message = make_visible(message_text(line), TEXT_CHARS)
        if message.isascii() and message.isprintable():
            prefix = end - len(message)
            points, more = layout.breaks(message)
            return [prefix + point for point in points], more
        room = layout.continuation_room
        cuts = [width + room * n for n in range(MAX_WRAP_ROWS - 1)]
        return cuts, end > width + room * (MAX_WRAP_ROWS - 1)

    def format(self, line: LogLine) -> Text:
        """One row: time, server/source, rule label (severity colour), text; all literal."""
        dim = self.get_component_rich_style("logview--dim", partial=True)
        label = self._severity_style(line.severity) if line.severity is not None else dim
        return format_row(line, RowLayout(self.size.width), dim, label)

    def _severity_style(self, severity: Severity) -> Style:
        style = self._styles.get(severity)
        if style is None:
            style = self._styles[severity] = severity_style(self.app, severity)
        return style
