"""The export prompt of the logs pane: where to write the lines it shows.

``ExportScreen(default_path, count)`` dismisses with the path typed (``enter``) or None
(``esc``). The writing itself is the engine's (``LogService.export``, redacted, control
characters escaped), run by ``export_lines`` in a worker thread: this screen does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Static

from console.models import LogLine

__all__ = ["ExportScreen", "default_export_path", "export_lines"]

Writer = Callable[[Sequence[LogLine], str], int]


def default_export_path(now: datetime | None = None) -> str:
    """``./ops-console-logs-YYYYmmdd-HHMMSS.log`` in the current directory."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return str(Path.cwd() / f"ops-console-logs-{stamp}.log")


class ExportScreen(ModalScreen[str | None]):
    """Asks for a file name; ``enter`` exports, ``esc`` cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="export.cancel",
                        tooltip="Cancel; nothing is written")]

    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > #export-dialog {
        width: 80; max-width: 95%; height: auto;
        border: thick $accent; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, default_path: str, count: int) -> None:
        super().__init__()
        self.default_path = default_path
        self.count = count

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Static(Text(f"Export the {self.count:,} lines shown (secrets redacted) to:"))
            yield Input(value=self.default_path, id="export-path")
            yield Static(Text("enter: write · esc: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        self.dismiss(path or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def export_lines(owner: Widget, lines: list[LogLine], write: Writer) -> None:
    """Ask where, then ``write(lines, path)`` in a worker thread; the outcome is a
    notification (a full disk or a bad path is said, never raised)."""

    def run(path: str) -> None:
        try:
            count = write(lines, path)
        except OSError as exc:
            owner.app.call_from_thread(owner.app.notify,
                                       f"export failed: {exc.strerror or exc}",
                                       severity="error", markup=False)
            return
        owner.app.call_from_thread(owner.app.notify, f"exported {count:,} lines to {path}",
                                   markup=False)

    def chosen(path: str | None) -> None:
        if path:
            owner.run_worker(lambda: run(path), thread=True, exit_on_error=False,
                             group="logs-export")

    owner.app.push_screen(ExportScreen(default_export_path(), len(lines)), chosen)
