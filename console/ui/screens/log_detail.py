"""One log line in full: where it came from, its rule, and the whole text, wrapped.

The list view cuts lines at the pane's width; this is where an operator reads a long
stack-trace line or a 16 KB JSON blob. The text is the engine's (already redacted) and is
shown literally: markup stays text, control characters are visible escapes.
"""

from __future__ import annotations

from datetime import UTC

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.models import LogLine
from console.ui.safe_text import make_visible, safe
from console.ui.themes import severity_style

__all__ = ["LogDetailScreen"]

DETAIL_CHARS = 20_000


class LogDetailScreen(ModalScreen[None]):
    """``esc`` / ``enter`` / ``q`` close it."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="log_detail.close",
                        tooltip="Back to the logs")]

    DEFAULT_CSS = """
    LogDetailScreen { align: center middle; }
    LogDetailScreen > #detail-dialog {
        width: 90%; height: 80%; border: thick $accent; background: $surface; padding: 0 1;
    }
    LogDetailScreen #detail-head { height: auto; }
    LogDetailScreen #detail-body { height: 1fr; }
    """

    def __init__(self, line: LogLine) -> None:
        super().__init__()
        self.line = line

    def compose(self) -> ComposeResult:
        line = self.line
        head = Text(end="")
        head.append(line.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
        head.append("  ")
        head.append(make_visible(f"{line.server} / {line.source}", 300))
        if line.rule and line.severity is not None:
            head.append("  ")
            head.append(f"{line.rule} ({line.severity.label})",
                        severity_style(self.app, line.severity))
        with Vertical(id="detail-dialog"):
            yield Static(head, id="detail-head")
            with VerticalScroll(id="detail-body"):
                yield Static(safe(line.text, max_chars=DETAIL_CHARS), id="detail-text")

    def action_close(self) -> None:
        self.dismiss(None)
