"""Server-sent text made safe to show: never markup, never terminal control.

Everything a server sends (log lines, container names, HTTP bodies, error strings) goes
through ``safe()`` before it reaches a widget. It returns a Rich ``Text`` built from plain
characters, so ``[bold]`` or ``[/foo]`` stay literal, and it replaces every control
character (ESC, BEL, C1 controls, DEL, bidi overrides) with a visible escape such as ``\\x1b``,
so an ANSI or OSC sequence cannot move the cursor, retitle the terminal or write the
clipboard. Long text is cut with a visible marker rather than freezing the renderer.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text

__all__ = ["MAX_CHARS", "make_visible", "safe"]

MAX_CHARS = 4_000
# C0 (except nothing: tabs become spaces below), DEL, C1, and the Unicode bidi/format
# controls that can reorder what the operator reads.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def make_visible(text: str, max_chars: int = MAX_CHARS, keep_newlines: bool = False) -> str:
    """Plain-string form: controls shown as escapes, tabs as spaces, long text cut.

    ``keep_newlines`` is for multi-line bodies (HTTP responses, command output); a log line
    keeps everything on one row so a line cannot forge the look of another.
    """
    cut = ""
    if len(text) > max_chars:
        cut = f" … [{len(text) - max_chars:,} more chars cut]"
        text = text[:max_chars]
    text = text.replace("\t", "    ")
    if keep_newlines:
        text = text.replace("\r\n", "\n")
        return "\n".join(_CONTROL.sub(_escape_char, part) for part in text.split("\n")) + cut
    return _CONTROL.sub(_escape_char, text) + cut


def safe(text: str | bytes, style: str | Style = "", max_chars: int = MAX_CHARS,
         keep_newlines: bool = False) -> Text:
    """A ``Text`` that shows ``text`` literally, whatever it contains."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return Text(make_visible(text, max_chars, keep_newlines), style=style, end="")
