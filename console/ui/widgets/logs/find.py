"""The logs pane's filter and search boxes, and the one-line message under them.

``FindBar`` owns the two ``Input``s: it compiles what the operator types (smart-case regex),
marks an invalid pattern and says why, and tells the pane what changed through messages,
so the pane never reads an input box itself:

- ``FilterChanged``: a valid filter was typed (live, debounced by the pane), or cleared;
- ``FilterDone``: enter in the filter box (the pane rebuilds at once);
- ``SearchSet``: enter in the search box with a valid pattern, or esc (None).
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Key
from textual.message import Message
from textual.widgets import Input, Label

from console.ui.widgets.logs.format import compile_filter

__all__ = ["FindBar"]


class FindBar(Vertical):
    """The message line and the (hidden until opened) filter and search boxes."""

    DEFAULT_CSS = """
    FindBar { height: auto; }
    """

    class FilterChanged(Message):
        def __init__(self, pattern: re.Pattern[str] | None, *, closed: bool = False) -> None:
            super().__init__()
            self.pattern = pattern
            self.closed = closed

    class FilterDone(Message):
        """Enter in the filter box: the typed filter holds, the box closes."""

    class SearchSet(Message):
        def __init__(self, pattern: re.Pattern[str] | None) -> None:
            super().__init__()
            self.pattern = pattern

    class Closed(Message):
        """A box closed: focus goes back to the list."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.message = ""

    def compose(self) -> ComposeResult:
        yield Label("", id="logs-message", markup=False)
        yield Input(placeholder="filter (regex; esc clears)", id="logs-filter")
        yield Input(placeholder="search (regex; enter, then n / N)", id="logs-search")

    def open_filter(self, current: re.Pattern[str] | None) -> None:
        """Show the filter input, focused, with the current pattern."""
        box = self.query_one("#logs-filter", Input)
        box.add_class("-open")
        box.value = current.pattern if current is not None else box.value
        box.focus()

    def open_search(self) -> None:
        box = self.query_one("#logs-search", Input)
        box.add_class("-open")
        box.focus()

    def clear_filter(self) -> None:
        """Empty and close the filter box; the pane hears ``FilterChanged(None)``."""
        box = self.query_one("#logs-filter", Input)
        box.value = ""
        self.say("")
        self._close(box)
        self.post_message(self.FilterChanged(None, closed=True))

    def say(self, message: str) -> None:
        self.message = message
        label = self.query_one("#logs-message", Label)
        label.update(Text(message, no_wrap=True, overflow="ellipsis"))
        label.set_class(bool(message), "-open")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "logs-filter":
            valid, compiled = self._compile(event.input, event.value)
            if valid:
                self.post_message(self.FilterChanged(compiled))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "logs-filter":
            if "-invalid" not in event.input.classes:
                self._close(event.input)
                self.post_message(self.FilterDone())
        elif event.input.id == "logs-search":
            valid, compiled = self._compile(event.input, event.value)
            if valid:
                self._close(event.input)
                self.post_message(self.SearchSet(compiled))

    def on_key(self, event: Key) -> None:
        box = self.app.focused
        if event.key == "escape" and isinstance(box, Input) and box.parent is self:
            event.stop()
            event.prevent_default()
            if box.id == "logs-filter":
                self.clear_filter()
            else:
                self._close(box)
                self.post_message(self.SearchSet(None))

    def _compile(self, box: Input, text: str) -> tuple[bool, re.Pattern[str] | None]:
        """(valid, pattern): an invalid regex marks the box and says why (the pane keeps
        its previous pattern); None is the empty box."""
        try:
            compiled = compile_filter(text)
        except re.error as exc:
            box.add_class("-invalid")
            self.say(f"invalid regex: {exc}")
            return False, None
        box.remove_class("-invalid")
        self.say("")
        return True, compiled

    def _close(self, box: Input) -> None:
        box.remove_class("-open")
        box.remove_class("-invalid")
        self.post_message(self.Closed())
