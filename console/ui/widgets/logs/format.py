"""How one log line becomes one row (or, wrapped, a few): pure functions over ``LogLine``.

A row is ``time  server/source  rule label  message``. The message is the line's text made
visible (``make_visible``: markup stays literal, control characters become escapes) and
without a leading timestamp that only repeats the row's time. Nothing here touches a
widget, so the row layout is testable on its own and the view can ask how many rows a
line takes without drawing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

from console.models import LogLine
from console.ui.safe_text import make_visible

__all__ = [
    "RULE_LABELS",
    "RULE_WIDTH",
    "RowLayout",
    "compile_filter",
    "format_row",
    "haystack",
    "message_text",
    "rule_label",
    "short_where",
]

TEXT_CHARS = 2_000  # characters of a line drawn in the list; the detail view shows all
SOURCE_MIN, SOURCE_MAX = 16, 24  # the server/source column: a fifth of the pane, within these
RULE_WIDTH = 12
STAMP_WIDTH = 9  # "HH:MM:SS "
STAMP_SLACK_S = 2.0  # a line's own leading time this close to its parsed time is redundant
#: A wrapped line takes at most this many rows; the rest is in the detail view (enter).
#: Four rows of a quarter-screen pane hold well over 120 characters of message.
MAX_WRAP_ROWS = 4
#: Continuation rows start under the source column: the time column stays a clean edge.
WRAP_INDENT = STAMP_WIDTH
WORD_SLACK = 16  # a row may end this many cells short to break between words


def compile_filter(text: str) -> re.Pattern[str] | None:
    """The operator's regex, smart-case (case-insensitive unless it has a capital).

    Raises ``re.error`` for an invalid pattern; None for an empty one.
    """
    if not text:
        return None
    flags = 0 if any(ch.isupper() for ch in re.sub(r"\\.", "", text)) else re.IGNORECASE
    return re.compile(text, flags)


def haystack(line: LogLine) -> str:
    """What the filter is matched against: where the line came from, its rule, its text."""
    return f"{line.server} {line.source} {line.rule or ''} {line.text}"


# Short labels for the built-in rules: the list row has about 78 columns at 160x48, and the
# message must stay visible. Config rules are shown by name, cut to RULE_WIDTH.
RULE_LABELS = {
    "secret_missing": "no secret", "auth_service_unreachable": "auth down",
    "upstream_error": "upstream", "jwt_expired": "jwt expired",
    "jwt_bad_signature": "jwt bad sig", "jwt_invalid": "jwt invalid",
    "failed_login": "login failed", "account_locked": "locked",
    "db_auth_failed": "db auth", "cloud_auth_failed": "cloud auth",
    "ssh_auth_failed": "ssh auth", "http_401": "401", "http_403": "403",
    "rate_limited": "429 limited", "password_hash_error": "hash error",
    "oauth_error": "oauth",
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
    match = _LEADING_TIME.match(text)
    rest = text[match.end():] if match is not None else ""
    return rest or text


@dataclass(frozen=True, slots=True)
class RowLayout:
    """The columns of a row at one pane width, and how a long message wraps under it."""

    width: int

    @property
    def source_width(self) -> int:
        return max(SOURCE_MIN, min(SOURCE_MAX, self.width // 5))

    @property
    def message_start(self) -> int:
        return STAMP_WIDTH + self.source_width + 1 + RULE_WIDTH + 1

    @property
    def continuation_room(self) -> int:
        """Cells of message on each row after the first (at least one)."""
        return max(self.width - WRAP_INDENT, 1)

    def rows_for(self, line: LogLine) -> int:
        """How many rows ``line`` takes when wrapped (1 to MAX_WRAP_ROWS).

        Cheap on purpose, because it runs for every line that arrives while wrapping is
        on: plain ASCII (nearly every log line) is measured by ``len``; only a line with
        controls or wide characters is made visible and measured in cells.
        """
        if self.width <= 0:  # not laid out yet: measured again on the first resize
            return 1
        text = line.text
        room = self.width - self.message_start
        if len(text) <= room and text.isascii() and text.isprintable():
            return 1
        message = message_text(line)
        if not (message.isascii() and message.isprintable()):
            message = make_visible(message, TEXT_CHARS)
        if message.isascii() and message.isprintable():  # as the view cuts it: by words
            return 1 + len(self.breaks(message)[0])
        cells = cell_len(message)
        overflow = self.message_start + cells - self.width
        if overflow <= 0:
            return 1
        return min(1 + -(-overflow // self.continuation_room), MAX_WRAP_ROWS)

    def breaks(self, message: str) -> tuple[list[int], bool]:
        """Where rows 2, 3, ... start in a plain-ASCII ``message``, and whether it is cut.

        A row breaks after the last space that leaves at most ``WORD_SLACK`` cells unused,
        else mid-word at the edge (a URL, a token): words stay whole where they can.
        """
        points: list[int] = []
        start, room = 0, max(self.width - self.message_start, 1)
        while len(message) - start > room and len(points) < MAX_WRAP_ROWS - 1:
            end = start + room
            space = message.rfind(" ", start + 1, end + 1)
            cut = space + 1 if space > start and end - space <= WORD_SLACK else end
            points.append(cut)
            start, room = cut, self.continuation_room
        return points, len(message) - start > room


def format_row(line: LogLine, layout: RowLayout, dim: Style, label_style: Style) -> Text:
    """One row: time, server/source, rule label (``label_style``), text; all literal."""
    stamp = line.time.astimezone(UTC).strftime("%H:%M:%S")
    width = layout.source_width
    where = short_where(line.server, line.source, width)
    text = Text(no_wrap=True, end="")
    text.append(stamp + " ", dim)
    text.append(where.ljust(width) + " ", dim)
    if line.rule and line.severity is not None:
        text.append(rule_label(line.rule).ljust(RULE_WIDTH) + " ", label_style)
    else:
        text.append(" " * (RULE_WIDTH + 1))
    text.append(make_visible(message_text(line), TEXT_CHARS))
    return text
