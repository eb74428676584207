"""The ``?`` screen: every binding, generated from the bindings themselves.

Nothing here is hand-copied: the app hands over its ``BINDINGS`` plus whatever the focused
pane adds, so a new or remapped key shows up without touching this file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

__all__ = ["HelpEntry", "HelpScreen", "entries_from_bindings"]


@dataclass(frozen=True, slots=True)
class HelpEntry:
    section: str
    keys: str
    description: str
    tooltip: str


def entries_from_bindings(section: str, bindings: Iterable[BindingType],
                          key_display: Callable[[str], str] | None = None) -> list[HelpEntry]:
    """One entry per binding, comma-separated keys expanded to one display ('1, 2')."""
    entries: list[HelpEntry] = []
    for binding in bindings:
        if not isinstance(binding, Binding):
            binding = Binding(binding[0], binding[1], *binding[2:])
        keys = [key.strip() for key in binding.key.split(",")]
        shown = ", ".join(binding.key_display or (key_display(k) if key_display else k)
                          for k in keys)
        entries.append(HelpEntry(section, shown, binding.description or binding.action,
                                 binding.tooltip))
    return entries


class HelpScreen(ModalScreen[None]):
    """Lists ``HelpEntry`` rows: section, keys, what it does. ``esc``, ``?`` or ``q`` close."""

    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close",
                tooltip="Close the help screen"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > #help {
        width: 100;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-title {
        text-style: bold;
        padding: 0 0 1 0;
    }
    HelpScreen DataTable {
        height: auto;
        max-height: 1fr;
    }
    """

    def __init__(self, entries: Sequence[HelpEntry]) -> None:
        super().__init__()
        self.entries = list(entries)

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Static(Text("Keys  (esc closes)"), id="help-title", markup=False)
            table: DataTable[Text] = DataTable(id="help-table", cursor_type="row",
                                               zebra_stripes=True)
            yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Where", "Key", "Action", "What it does")
        for entry in self.entries:
            table.add_row(Text(entry.section, style="dim"), Text(entry.keys, style="bold"),
                          Text(entry.description), Text(entry.tooltip))
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def plain_rows(self) -> list[tuple[str, str, str, str]]:
        return [(e.section, e.keys, e.description, e.tooltip) for e in self.entries]
