"""Server-sent text made printable: control characters shown as escapes, long text cut.

Headless on purpose (no Rich): ``check`` and ``report`` print server-sent strings too, and
must not let an ANSI or OSC sequence in a container name or log line reach the terminal or
the Markdown file. The UI wraps this in ``console.ui.safe_text.safe`` to get a Rich Text.
"""

from __future__ import annotations

import re

__all__ = ["MAX_CHARS", "make_visible", "printable"]

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


def printable(text: str | bytes, max_chars: int = MAX_CHARS) -> str:
    """One-line printable form of any server-sent value (bytes decoded leniently)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return make_visible(str(text), max_chars)
