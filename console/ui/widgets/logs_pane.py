"""The logs pane: every server's auth events (or every line), live, merged, filterable.

Why a Line-API ``ScrollView`` and not ``Log``/``RichLog``: the pane must keep up with a
500k-line flood while a key still answers at once. ``RichLog`` renders every line it is
given up front (and snaps to the bottom on each write, textual #6311); ``Log`` takes plain
strings, so the per-line colour of the rule label and the search highlight would have to be
ANSI, which ``Log`` mangles (textual #3506). ``LogView`` below keeps references to the
engine's ``LogLine`` objects and renders only the rows on screen (``render_line``), each
through an LRU cache: appending a 10k-line batch is a list extend and one refresh, however
long the lines are, and filtering rebuilds a list of references, not text. This is
Toolong's design.

The engine (``fleet.logs``) coalesces lines into batches at most every 100 ms, counts lines
it had to shed, and hands the auth events apart from the ordinary lines; the pane shows
the count of skipped lines in its status line instead of dropping them silently.

Every server-sent string (line text, container names, file paths) goes through
``safe_text.make_visible``: markup stays literal, control characters are shown as escapes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.cache import LRUCache
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Label, Sparkline, Static

from console.engine.contracts import Change
from console.engine.logs import LogChange
from console.models import LogLine, Severity
from console.ui.safe_text import make_visible
from console.ui.themes import severity_style

__all__ = ["LogView", "LogsPane", "compile_filter"]

TEXT_CHARS = 2_000  # characters of a line drawn in the list; the detail view shows all
SOURCE_MIN, SOURCE_MAX = 16, 24  # the server/source column: a fifth of the pane, within these
RULE_WIDTH = 12
STAMP_SLACK_S = 2.0  # a line's own leading time this close to its parsed time is redundant
SPARK_MINUTES = 30
FRAME_S = 0.25  # new lines are drawn at most this often
FLOOD_FRAME_S = 0.5  # ... and this often once a frame brings more than a screenful
COUNT_WINDOW_S = 900
REFILTER_DELAY = 0.15


def compile_filter(text: str) -> re.Pattern[str] | None:
    """The operator's regex, smart-case (case-insensitive unless it has a capital).

    Raises ``re.error`` for an invalid pattern; None for an empty one.
    """
    if not text:
        return None
    flags = 0 if any(ch.isupper() for ch in re.sub(r"\\.", "", text)) else re.IGNORECASE
    return re.compile(text, flags)


def _haystack(line: LogLine) -> str:
    return f"{line.server} {line.source} {line.rule or ''} {line.text}"


# Short labels for the built-in rules: the list row has about 78 columns at 160x48, and the
# message must stay visible. Config rules are shown by name, cut to RULE_WIDTH.
RULE_LABELS = {
    "missing_secret": "no secret", "auth_service_refused": "auth refused",
    "upstream_error": "upstream", "bad_gateway": "502 gateway",
    "service_unavailable": "503/504", "jwt_expired": "jwt expired",
    "jwt_bad_signature": "jwt bad sig", "jwt_invalid": "jwt invalid",
    "failed_login": "login failed", "password_mismatch": "bad password",
    "user_not_found": "no such user", "http_401": "401", "http_403": "403",
    "rate_limited": "429 limited", "bcrypt_error": "bcrypt", "oauth_error": "oauth",
    "connection_refused": "conn refused",
}


def rule_label(rule: str) -> str:
    """The rule's short label for a list row (at most RULE_WIDTH characters)."""
    label = RULE_LABELS.get(rule, rule)
    return label if len(label) <= RULE_WIDTH else label[:RULE_WIDTH - 1] + "…"


def short_where(server: str, source: str, width: int) -> str:
    """``server/source`` in at most ``width`` characters, made visible.

    A file is named by its base name, a container without docker's leading ``/``; when it
    is still too long the source's *end* is kept (``alpha/…backend-1``): compose names
    differ in their service and number, not their project prefix.
    """
    name = source.rsplit("/", 1)[-1] if "/" in source.strip("/") else source.strip("/")
    host = make_visible(server[:width], 8 * width)  # cut first: no "chars cut" marker
    if len(host) > width // 2:
        host = host[:max(width // 2 - 1, 1)] + "…"
    room = max(width - len(host) - 1, 1)
    raw = name or source
    name = make_visible(raw[-room - 1:], 8 * width)  # cut first: no "chars cut" marker
    if len(raw) > room or len(name) > room:
        name = "…" + name[len(name) - room + 1:] if room > 1 else "…"
    return f"{host}/{name}"[:width]


_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_LEADING_TIME = re.compile(
    r"(?:(?P<iso>(?P<y>\d{4})[-/](?P<mo>\d\d)[-/](?P<d>\d\d)[T ](?P<t>\d\d:\d\d:\d\d)"
    r"(?:[.,]\d+)?(?P<tz>Z|[+-]\d\d:?\d\d)?)"
    r"|\[?(?P<nd>\d\d)/(?P<nmo>[A-Za-z]{3})/(?P<ny>\d{4}):(?P<nt>\d\d:\d\d:\d\d)"
    r"(?: (?P<ntz>[+-]\d{4}))?\]?"
    r"|(?P<smo>[A-Z][a-z]{2}) (?P<sd>[ \d]\d) (?P<st>\d\d:\d\d:\d\d))\s+")


def _leading_time(text: str, year: int) -> datetime | None:
    """The time a line starts with (ISO, nginx error/access, syslog style), or None."""
    m = _LEADING_TIME.match(text)
    if m is None:
        return None
    g = m.groupdict()
    try:
        if g["iso"]:
            tz = g["tz"] or "+00:00"
            tz = "+00:00" if tz == "Z" else tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
            return datetime.fromisoformat(f"{g['y']}-{g['mo']}-{g['d']}T{g['t']}{tz}")
        if g["nd"]:
            month = _MONTHS.get(g["nmo"].lower())
            tz = g["ntz"] or "+0000"
            return datetime.fromisoformat(
                f"{g['ny']}-{month:02d}-{g['nd']}T{g['nt']}{tz[:3]}:{tz[3:]}")
        month = _MONTHS.get(g["smo"].lower())
        return datetime.fromisoformat(
            f"{year}-{month:02d}-{int(g['sd']):02d}T{g['st']}+00:00")
    except (ValueError, TypeError):  # a month that is no month, 31 Feb, ...
        return None


def message_text(line: LogLine) -> str:
    """The line's text without a leading timestamp that merely repeats the line's time.

    The row already shows the time; a line's own ISO / nginx / syslog stamp would push the
    message off a 78-column pane. A stamp that differs from the parsed time (another zone, a
    replayed log) is kept: then it says something. The detail view and exports keep it.
    """
    text = line.text
    if not text[:1].isdigit() and text[:1] not in "[ADFJMNOS":
        return text
    when = _leading_time(text, line.time.year)
    if when is None or abs((when - line.time).total_seconds()) > STAMP_SLACK_S:
        return text
    rest = text[_LEADING_TIME.match(text).end():]  # type: ignore[union-attr]
    return rest or text


class LogView(ScrollView, can_focus=True):
    """Rows of ``LogLine``s drawn on demand; a cursor row; follows the end unless moved."""

    COMPONENT_CLASSES = {"logview--cursor", "logview--match", "logview--dim"}
    DEFAULT_CSS = """
    LogView { height: 1fr; overflow-x: hidden; }
    LogView > .logview--cursor { background: $accent 30%; }
    LogView:focus > .logview--cursor { background: $accent 50%; }
    LogView > .logview--match { background: $warning 40%; text-style: bold; }
    LogView > .logview--dim { color: $text-muted; }
    """

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="logs.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="logs.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="logs.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="logs.page_down"),
        Binding("home", "first", "First line", show=False, id="logs.home"),
        Binding("end,G", "follow", "Follow", show=False, id="logs.follow",
                tooltip="Jump to the newest line and follow"),
    ]

    cursor: reactive[int | None] = reactive(None, always_update=True, repaint=False)
    """Index of the selected row; None while following the newest line. ``watch_cursor``
    repaints what changed (a reactive's own repaint would redraw the whole pane)."""

    class CursorMoved(Message):
        pass

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[LogLine] = []
        self.search: re.Pattern[str] | None = None
        self._cache: LRUCache[tuple[int, int, bool], Strip] = LRUCache(1024)
        self._styles: dict[Severity, Style] = {}

    # -- data --------------------------------------------------------------------------

    def set_lines(self, lines: list[LogLine]) -> None:
        """Replace every row (filter or mode changed); keeps following if it was."""
        self.lines = lines
        if self.cursor is not None:
            self.cursor = min(self.cursor, len(lines) - 1) if lines else None
        self._cache.clear()
        self._resized()

    def append(self, lines: Sequence[LogLine], keep: int) -> None:
        """Add rows at the end, keeping at most ``keep``; the view stays where it was.

        Work is proportional to what is on screen: when the operator has scrolled up and
        the new rows land below the window, only the scrollbar changes, so the rows are not
        repainted (during a flood that is every batch).
        """
        if not lines:
            return
        old_count = len(self.lines)
        self.lines.extend(lines)
        excess = len(self.lines) - keep
        if excess > keep // 4:  # trim in steps: deleting from a list front is O(n)
            del self.lines[:excess]  # (the row cache is keyed by seq: it stays right)
            if self.cursor is not None:
                self.cursor = max(self.cursor - excess, 0)
            if self.cursor is None or self.scroll_y > 0:
                self.scroll_to(y=max(self.scroll_y - excess, 0), animate=False)
            self._resized()
            return
        visible_end = int(self.scroll_y) + max(self.size.height, 1)
        self._resized(repaint=self.cursor is None or visible_end > old_count)

    def _resized(self, repaint: bool = True) -> None:
        following = self.cursor is None
        size = Size(self.size.width, len(self.lines))
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
        self._cache.clear()
        self._resized()

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
        if not self.lines:
            return
        index = max(0, min(index, len(self.lines) - 1))
        self.cursor = index
        top = int(self.scroll_y)
        height = max(self.size.height, 1)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + height:
            self.scroll_to(y=index - height + 1, animate=False, immediate=True)
        self.post_message(self.CursorMoved())

    def watch_cursor(self, old: int | None, new: int | None) -> None:
        """Repaint the two rows that changed, not the pane: the cache is keyed on the
        cursor flag, so every other row is still right (a key during a flood stays cheap)."""
        if old is None or new is None:
            self.refresh()
            return
        for index in {old, new}:
            self.refresh_lines(index)

    # -- drawing -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_y) + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self.lines) or width <= 0:
            return Strip.blank(width, base)
        is_cursor = index == self.cursor
        key = (self.lines[index].seq, width, is_cursor)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._render(self.lines[index], width, is_cursor, base)
            self._cache[key] = strip
        return strip.apply_offsets(0, index)

    def _render(self, line: LogLine, width: int, is_cursor: bool, base: Style) -> Strip:
        text = self.format(line)
        if self.search is not None:
            match_style = self.get_component_rich_style("logview--match", partial=True)
            for m in self.search.finditer(text.plain):
                if m.end() > m.start():
                    text.stylize(match_style, m.start(), m.end())
        if is_cursor:
            text.stylize(self.get_component_rich_style("logview--cursor", partial=True))
        segments = list(text.render(self.app.console))
        strip = Strip(segments).crop_extend(0, width, base)
        return strip.simplify()

    def format(self, line: LogLine) -> Text:
        """One row: time, server/source, rule label (severity colour), text; all literal."""
        dim = self.get_component_rich_style("logview--dim", partial=True)
        stamp = line.time.astimezone(UTC).strftime("%H:%M:%S")
        width = max(SOURCE_MIN, min(SOURCE_MAX, self.size.width // 5))
        where = short_where(line.server, line.source, width)
        text = Text(no_wrap=True, end="")
        text.append(stamp + " ", dim)
        text.append(where.ljust(width) + " ", dim)
        if line.rule and line.severity is not None:
            label = rule_label(line.rule).ljust(RULE_WIDTH)
            text.append(label + " ", self._severity_style(line.severity))
        else:
            text.append(" " * (RULE_WIDTH + 1))
        text.append(make_visible(message_text(line), TEXT_CHARS))
        return text

    def _severity_style(self, severity: Severity) -> Style:
        style = self._styles.get(severity)
        if style is None:
            style = self._styles[severity] = severity_style(self.app, severity)
        return style


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
        Binding("n", "search_next(1)", "Next match", show=False, id="logs.next"),
        Binding("N", "search_next(-1)", "Previous match", show=False, id="logs.previous"),
        Binding("e", "export", "Export", id="logs.export",
                tooltip="Write the lines shown to a file (secrets redacted)"),
        Binding("enter", "details", "Details", id="logs.details",
                tooltip="The whole selected line, wrapped"),
        Binding("escape", "clear", "Clear", show=False, id="logs.clear",
                tooltip="Clear the filter and the search"),
    ]

    help_text = ("auth events from every server; / filter, p pause, a all lines, s search "
                 "(n/N), e export, enter details")

    show_all: reactive[bool] = reactive(False)
    """False: only auth events (the default). True: every line."""

    paused: reactive[bool] = reactive(False)

    def __init__(self, fleet: Any, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fleet = fleet
        self.service = getattr(fleet, "logs", None)
        self.filter: re.Pattern[str] | None = None
        self.skipped = 0
        self.new_while_paused = 0
        self._pause_seq = 0
        self._unsubscribe: list[Callable[[], None]] = []
        self._refilter_timer: Any = None
        self._counts_dirty = True
        self.message = ""
        self._pending: list[LogLine] = []
        self._draw_timer: Any = None
        self._drawn_at = 0.0
        self._frame_s = FRAME_S

    # -- layout ------------------------------------------------------------------------

    def compose(self):  # type: ignore[no-untyped-def]
        with Horizontal(id="logs-top"):
            yield Static(id="logs-counts", markup=False)
            yield Sparkline([0], id="logs-spark")
        yield LogView(id="logs-view")
        yield Static(id="logs-status", markup=False)
        yield Label("", id="logs-message", markup=False)
        yield Input(placeholder="filter (regex; esc clears)", id="logs-filter")
        yield Input(placeholder="search (regex; enter, then n / N)", id="logs-search")

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
        self._unsubscribe.append(self.service.subscribe(self._on_change))
        self.watch(self.app, "theme", self._theme_changed, init=False)
        self.set_interval(5.0, self._tick)
        self.rebuild()

    def on_unmount(self) -> None:
        if self._draw_timer is not None:
            self._draw_timer.cancel()
            self._draw_timer = None
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _theme_changed(self) -> None:
        self.view.clear_styles()
        self._counts_dirty = True
        self._update_counts()

    # -- data flow ---------------------------------------------------------------------

    def _keep(self) -> int:
        servers = getattr(getattr(self.fleet, "config", None), "servers", ())
        total = sum(s.logs.buffer_lines for s in servers) if servers else 10_000
        return max(total, 10_000)

    def _wanted(self, line: LogLine) -> bool:
        if not self.show_all and line.rule is None:
            return False
        return self.filter is None or self.filter.search(_haystack(line)) is not None

    def _on_change(self, change: Change) -> None:
        """The log service's one event: new lines (``LogChange``) or a source's state."""
        if isinstance(change, LogChange):
            self._on_batch(change.batch)
        else:
            self._update_status()

    def _on_batch(self, batch: Any) -> None:
        """New lines from the engine (on the loop, at most every 100 ms)."""
        lines = batch.lines if self.show_all else batch.events
        self.skipped += batch.skipped if self.show_all else batch.events_skipped
        if batch.events:
            self._counts_dirty = True
        if self.filter is not None:
            lines = [line for line in lines if self.filter.search(_haystack(line))]
        if self.paused:  # the view stands still; the status and the counts do not
            self.new_while_paused += len(lines)
            self._update_status()
            if self._counts_dirty:
                self._update_counts()
            return
        self._pending.extend(lines)
        excess = len(self._pending) - self._keep()
        if excess > 0:  # the view would drop them on arrival anyway
            del self._pending[:excess]
        self._draw_soon()

    def _draw_soon(self) -> None:
        """Show the pending lines now, or at the next frame if one was drawn under
        ``FRAME_S`` ago (``FLOOD_FRAME_S`` when the last frame brought more rows than the
        pane shows). A line after a quiet spell shows at once; a flood is drawn twice a
        second, where a repaint per engine batch kept the loop busy painting rows
        nobody can read and slowed the ingest itself (the GIL is shared)."""
        if self._draw_timer is not None:
            return
        wait = self._drawn_at + self._frame_s - time.monotonic()
        if wait <= 0:
            self._draw_pending()
        else:
            # the loop's own timer: this runs in the engine's callback, outside the app's
            # context, where a Textual timer's task would not find the app
            self._draw_timer = asyncio.get_running_loop().call_later(wait, self._on_frame)

    def _on_frame(self) -> None:
        self._draw_timer = None
        if self.is_mounted:
            self._draw_pending()

    def _draw_pending(self) -> None:
        if self._draw_timer is not None:  # drawn early (pause): the frame has nothing left
            self._draw_timer.cancel()
            self._draw_timer = None
        self._drawn_at = time.monotonic()
        pending, self._pending = self._pending, []
        flood = len(pending) > max(self.view.size.height, 1)
        self._frame_s = FLOOD_FRAME_S if flood else FRAME_S
        self.view.append(pending, self._keep())
        self._update_status()
        if self._counts_dirty:
            self._update_counts()

    def rebuild(self) -> None:
        """Rebuild the view from the engine's buffers (mode, filter or pause changed)."""
        if self.service is None:
            return
        self._pending.clear()  # the buffers hold them too
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
        counts = self.service.rule_counts(COUNT_WINDOW_S)
        text = Text(no_wrap=True, end="", overflow="ellipsis")
        if not counts:
            text.append("no auth events in the last 15 min", "dim")
        rules = {}
        for line in reversed(self.service.buffered(auth_only=True)[-500:]):
            rules.setdefault(line.rule, line.severity)
        for i, (rule, count) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
            if i:
                text.append(" · ", "dim")
            severity = rules.get(rule) or Severity.WARNING
            text.append(make_visible(rule, 40), severity_style(self.app, severity))
            text.append(f" {count:,}")
        counts_line = self.query_one("#logs-counts", Static)
        if counts_line.content != text:  # unchanged: no repaint, no reflow (idle CPU)
            counts_line.update(text, layout=False)  # a fixed 1fr x 1 box: no reflow
        data = self.service.rate_per_minute(SPARK_MINUTES)
        self.query_one(Sparkline).data = [float(n) for n in data]
        self.query_one(Sparkline).tooltip = (
            f"auth events per minute, last {SPARK_MINUTES} min (now: {data[-1]})")

    def _update_status(self) -> None:
        parts: list[str] = ["all lines" if self.show_all else "auth events"]
        warn = False
        if self.paused:
            parts.append(f"⏸ paused — {self.new_while_paused:,} new")
        elif self.view.cursor is not None:
            parts.append("scrolled (end: follow)")
        if self.filter is not None:
            parts.append(f"filter /{make_visible(self.filter.pattern, 60)}/")
        if self.view.search is not None:
            parts.append(f"search /{make_visible(self.view.search.pattern, 60)}/")
        if self.skipped:
            parts.append(f"{self.skipped:,} lines skipped")
            warn = True
        parts.append(f"{len(self.view.lines):,} shown")
        for source in self._troubled():
            parts.append(source)
            warn = True
        status = self.query_one("#logs-status", Static)
        line = Text(" · ".join(parts), no_wrap=True, overflow="ellipsis")
        if status.content != line:  # unchanged: no repaint, no reflow (idle CPU)
            status.update(line, layout=False)  # a fixed one-row box: no reflow
        status.set_class(warn, "-warn")

    def _troubled(self) -> list[str]:
        if self.service is None:
            return []
        out = []
        for src in self.service.sources():
            if src.state in ("lost", "error", "missing"):
                detail = f": {src.detail}" if src.detail else ""
                out.append(make_visible(f"{src.server}/{src.name} {src.state}{detail}", 160))
        return out[:3]

    # -- filter ------------------------------------------------------------------------

    def open_filter(self) -> None:
        """``/``: show the filter input, focused, with the current pattern."""
        box = self.query_one("#logs-filter", Input)
        box.add_class("-open")
        box.value = self.filter.pattern if self.filter is not None else box.value
        box.focus()

    def action_filter(self) -> None:
        self.open_filter()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "logs-filter":
            event.stop()
            valid, compiled = self._compile_input(event.input, event.value)
            if not valid:
                return
            self.filter = compiled
            if self._refilter_timer is not None:
                self._refilter_timer.stop()
            self._refilter_timer = self.set_timer(REFILTER_DELAY, self.rebuild)
        elif event.input.id == "logs-search":
            event.stop()

    def _compile_input(self, box: Input, text: str) -> tuple[bool, re.Pattern[str] | None]:
        """(valid, pattern) for a filter or search box: an invalid regex marks the box and
        says why (the pane keeps its previous pattern); None is the empty box."""
        try:
            compiled = compile_filter(text)
        except re.error as exc:
            box.add_class("-invalid")
            self._say(f"invalid regex: {exc}")
            return False, None
        box.remove_class("-invalid")
        self._say("")
        return True, compiled

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "logs-filter":
            if "-invalid" not in event.input.classes:
                self._close_input(event.input)
                self.rebuild()
        elif event.input.id == "logs-search":
            valid, compiled = self._compile_input(event.input, event.value)
            if not valid:
                return
            self.view.search = compiled
            self._close_input(event.input)
            self.view.clear_styles()
            self.action_search_next(-1 if self.view.cursor is None else 1)

    def on_key(self, event: Any) -> None:
        if event.key == "escape" and isinstance(self.app.focused, Input) \
                and self.app.focused.parent is self:
            event.stop()
            event.prevent_default()
            box = self.app.focused
            if box.id == "logs-filter":
                self.clear_filter()
            else:
                self.view.search = None
                self.view.clear_styles()
                self._close_input(box)

    def _close_input(self, box: Input) -> None:
        box.remove_class("-open")
        box.remove_class("-invalid")
        self.view.focus()
        self._update_status()

    def clear_filter(self) -> None:
        box = self.query_one("#logs-filter", Input)
        box.value = ""
        self.filter = None
        self._say("")
        self._close_input(box)
        self.rebuild()

    def action_clear(self) -> None:
        if self.filter is not None:
            self.clear_filter()
        if self.view.search is not None:
            self.view.search = None
            self.view.clear_styles()
        self._update_status()

    def _say(self, message: str) -> None:
        self.message = message
        label = self.query_one("#logs-message", Label)
        label.update(Text(message, no_wrap=True, overflow="ellipsis"))
        label.set_class(bool(message), "-open")

    # -- pause, mode -------------------------------------------------------------------

    def toggle_pause(self) -> None:
        """``p``: freeze the view (the engine keeps buffering) or catch up."""
        self.paused = not self.paused

    def action_pause(self) -> None:
        self.toggle_pause()

    def watch_paused(self, paused: bool) -> None:
        if paused:
            if self._pending and self.is_mounted:  # arrived before the key: shown
                self._draw_pending()
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

    # -- search ------------------------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#logs-search", Input)
        box.add_class("-open")
        box.focus()

    def action_search_next(self, direction: int) -> None:
        view = self.view
        pattern = view.search
        if pattern is None or not view.lines:
            return
        count = len(view.lines)
        start = view.cursor if view.cursor is not None else count
        for step in range(1, count + 1):
            index = (start + direction * step) % count
            if pattern.search(view.format(view.lines[index]).plain):
                view.move_to(index)
                return
        self._say(f"no match for /{make_visible(pattern.pattern, 60)}/")

    def on_log_view_cursor_moved(self) -> None:
        self._update_status()

    # -- export, details ---------------------------------------------------------------

    def action_export(self) -> None:
        from console.ui.screens.log_export import ExportScreen, default_export_path

        lines = list(self.view.lines)
        self.app.push_screen(ExportScreen(default_export_path(), len(lines)),
                             lambda path: self._export(lines, path))

    def _export(self, lines: list[LogLine], path: str | None) -> None:
        if path:
            self._run_export(lines, path)

    @work(thread=True, exit_on_error=False, group="logs-export")
    def _run_export(self, lines: list[LogLine], path: str) -> None:
        try:
            count = self.service.export(lines, path)
        except OSError as exc:
            self.app.call_from_thread(
                self.app.notify, Text(f"export failed: {exc.strerror or exc}"),
                severity="error")
            return
        self.app.call_from_thread(
            self.app.notify, Text(f"exported {count:,} lines to {path}"))

    def action_details(self) -> None:
        line = self.view.selected()
        if line is None:
            return
        from console.ui.screens.log_detail import LogDetailScreen

        self.app.push_screen(LogDetailScreen(line))

