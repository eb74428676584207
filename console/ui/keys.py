"""The console's global key bindings, each with an id and a tooltip (help lists them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.binding import Binding

from console.ui.screens.help import HelpEntry, entries_from_bindings
from console.ui.widgets import PANES

__all__ = ["APP_BINDINGS", "help_entries", "key_display_name"]

APP_BINDINGS = [
    Binding("r", "restart", "Restart", id="restart",
            tooltip="Restart the selected container (asks for confirmation first)"),
    Binding("R", "recreate", "Recreate", id="recreate",
            tooltip="Recreate the selected container's compose service (docker compose up "
                    "-d --no-deps --force-recreate)"),
    Binding("x", "shell", "Shell", id="shell",
            tooltip="A shell in the selected container (the console suspends meanwhile)"),
    Binding("m", "migrate", "Migrate", id="migrate",
            tooltip="Run the selected server's migration command, output streamed"),
    Binding("t", "test_login", "Test login", id="test_login",
            tooltip="POST real credentials to the selected server's login endpoint"),
    Binding("slash", "filter", "Filter", id="filter",
            tooltip="Edit the log filter (a regex), live; esc clears it"),
    Binding("p", "pause", "Pause", id="pause", tooltip="Pause or resume following the logs"),
    # w and z stay out of the footer, which is full at 80 columns; help lists them.
    Binding("w", "wrap", "Wrap", show=False, id="wrap",
            tooltip="Wrap long log lines under their row, or cut them at the edge"),
    Binding("z", "zoom", "Zoom", show=False, id="zoom",
            tooltip="The focused pane alone, full screen; z or esc: the grid again"),
    Binding("escape", "unzoom", "Back", show=False, id="unzoom",
            tooltip="Back to the grid of panes (when a pane is zoomed)"),
    *(Binding(spec.key, f"focus_pane('{spec.key}')", spec.title, show=False,
              id=f"focus.{spec.id}", tooltip=f"Focus the {spec.title.lower()} pane")
      for spec in PANES),
    Binding("d", "diagnosis", "Diagnosis", id="diagnosis",
            tooltip="Every finding with its evidence; enter jumps to the pane and row"),
    Binding("ctrl+r", "report", "Report", id="report",
            tooltip="Write an incident report (Markdown) and an SVG screenshot"),
    Binding("question_mark", "help", "Help", id="help", tooltip="Every key binding"),
    Binding("ctrl+p", "command_palette", "Palette", id="palette",
            tooltip="Command palette: every action on every server"),
    Binding("q", "quit", "Quit", id="quit", tooltip="Stop following and quit"),
]


def key_display_name(key: str, default: str) -> str:
    """The key as help and the footer show it: ``?`` and ``/`` rather than their names."""
    return {"question_mark": "?", "slash": "/"}.get(key, default)


def help_entries(app: App[Any], display: Callable[[str], str]) -> list[HelpEntry]:
    """Help's rows: the app's bindings, then the focused pane's own keys (those not
    already listed and either shown or with an id)."""
    entries = entries_from_bindings("global", app.BINDINGS, display)
    seen = {b.id for b in app.BINDINGS if isinstance(b, Binding) and b.id}
    focused_bindings: list[Binding] = []
    for active in app.screen.active_bindings.values():
        binding = active.binding
        if active.node is app or (binding.id and binding.id in seen):
            continue
        if not binding.show and not binding.id:
            continue
        focused_bindings.append(binding)
    if focused_bindings:
        entries += entries_from_bindings("focused pane", focused_bindings, display)
    return entries
