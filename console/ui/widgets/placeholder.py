"""A pane that is not there: says so plainly, with no fake data.

Used for a pane a test leaves out ("Logs — not built yet") and for one that failed to
construct (the error, shown literally). Focusable, so the 1-4 keys and
tab order behave the same whether or not the real pane exists.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from console.ui.safe_text import safe

__all__ = ["NotBuiltPane"]


class NotBuiltPane(Static, can_focus=True):
    """Stands in for a pane: ``NotBuiltPane("Logs")`` or ``NotBuiltPane("Logs", error=...)``."""

    DEFAULT_CSS = """
    NotBuiltPane {
        width: 1fr;
        height: 1fr;
        content-align: center middle;
        color: $text-muted;
        padding: 0 2;
    }
    """

    def __init__(self, title: str, error: str | None = None, *, id: str | None = None) -> None:
        self.title = title
        self.error = error
        super().__init__(self._message(), id=id, markup=False)

    def _message(self) -> Text:
        if self.error is None:
            return Text(f"{self.title} — not built yet", justify="center")
        text = Text(f"{self.title} pane failed to load:\n", justify="center")
        text.append_text(safe(self.error, keep_newlines=True, max_chars=500))
        return text

    def selected_server(self) -> str | None:
        return None
