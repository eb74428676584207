"""Render a Rich renderable the way a terminal would receive it, and find raw controls in it.

"No raw escape reaches the rendered output" is checked on the *segments* Rich hands to the
terminal (what Textual writes), not on our intermediate strings: anything that survives to
a segment's text is what the operator's terminal would interpret.
"""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console

# C0 except newline, DEL, C1, and the bidi/format controls that reorder what is read.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Inputs every strategy mixes in: the STYLE.md regression strings and their relatives.
HOSTILE = [
    "[/foo]", "[bold]", "[bold red]x[/]", "[link=http://x]y[/link]", "\x1b[2J", "\x1b[31m",
    "\x1b]52;c;ZXZpbA==\x07", "\x1b]0;title\x07", "\x1bP+q\x1b\\", "\x9b6n", "\x90x\x9c",
    "\r", "\x08\x08\x08", "\x07", "\u202eevil", "\u2066x\u2069", "\x00", "\x7f", "$(x)",
    "{x}", "%s", "\\x1b", ":emoji:", "\t", "\r\n", "\n\n",
]


def console(width: int = 100) -> Console:
    return Console(width=width, file=io.StringIO(), force_terminal=True,
                   color_system="truecolor", legacy_windows=False)


def rendered_text(renderable: Any, width: int = 100) -> str:
    """The characters of every segment a console would write (control segments included)."""
    out = []
    target = console(width)
    for segment in target.render(renderable, target.options.update(width=width)):
        assert segment.control is None or not segment.text, segment
        out.append(segment.text)
    return "".join(out)


def raw_controls(text: str, allow_newline: bool = True) -> list[str]:
    """The raw control characters in ``text`` (newline allowed only where it is a row end)."""
    found = RAW_CONTROL.findall(text)
    if not allow_newline and "\n" in text:
        found.append("\n")
    return found
