"""Server-sent text made safe to show: never markup, never terminal control.

Everything a server sends (log lines, container names, HTTP bodies, error strings) goes
through ``safe()`` before it reaches a widget. It returns a Rich ``Text`` built from plain
characters, so ``[bold]`` or ``[/foo]`` stay literal, and it replaces every control
character (ESC, BEL, C1 controls, DEL, bidi overrides) with a visible escape such as ``\\x1b``,
so an ANSI or OSC sequence cannot move the cursor, retitle the terminal or write the
clipboard. Long text is cut with a visible marker rather than freezing the renderer.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from console.textsafe import MAX_CHARS, make_visible

__all__ = ["MAX_CHARS", "make_visible", "safe"]


def safe(text: str | bytes, style: str | Style = "", max_chars: int = MAX_CHARS,
         keep_newlines: bool = False) -> Text:
    """A ``Text`` that shows ``text`` literally, whatever it contains."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return Text(make_visible(text, max_chars, keep_newlines), style=style, end="")
