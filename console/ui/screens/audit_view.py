"""The audit log, newest first: who did what, where, when, and how it ended.

``AuditScreen(fleet)`` reads the log through ``fleet.actions.read_audit()`` (a thread, off
the event loop) and lists one row per action: its intent joined with its outcome. An intent
with no outcome is shown as "no outcome recorded" (the console died mid-action, or it is
still running), which is exactly what the operator needs to see after a crash. Lines the
reader could not parse (a torn last record) are counted in the title, never hidden.

This module also registers the palette entries that belong to actions but are not in the
shell's built-in list: "Audit log", and "Show / cancel migration on <server>" while one
runs (``console.ui.commands.register_command_source``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from console.engine.audit import AuditEntry, AuditRead
from console.ui.commands import CommandEntry, register_command_source
from console.ui.safe_text import safe
from console.ui.themes import severity_style, state_style

if TYPE_CHECKING:
    from console.engine.fleet import FleetView
    from console.ui.app import OpsConsoleApp

__all__ = ["AuditScreen", "action_commands", "open_audit"]

LIMIT = 500
COLUMNS = ("time (UTC)", "who", "server", "action", "target", "outcome", "exit", "took",
           "detail")
OUTCOME_STATES = {"succeeded": "running", "failed": "exited", "error": "exited",
                  "cancelled": "restarting", "timeout": "exited", "refused": "restarting",
                  "unknown": "unhealthy"}


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def outcome_label(entry: AuditEntry) -> str:
    if entry.outcome == "unknown":
        return "no outcome recorded"
    return entry.outcome


class AuditScreen(ModalScreen[None]):
    """Every recorded action, newest first. ``r`` reloads; ``esc`` or ``q`` closes."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="audit.close", tooltip="Close the audit log"),
        Binding("r", "reload", "Reload", id="audit.reload", tooltip="Read the audit log again"),
    ]

    DEFAULT_CSS = """
    AuditScreen {
        align: center middle;
    }
    AuditScreen > #dialog {
        width: 95%;
        height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    AuditScreen #title {
        text-style: bold;
        height: auto;
    }
    AuditScreen #entries {
        height: 1fr;
    }
    AuditScreen #hint {
        color: $text-muted;
        height: auto;
    }
    """

    def __init__(self, fleet: FleetView) -> None:
        super().__init__()
        self.fleet = fleet
        self.actions = fleet.actions
        self.read: AuditRead | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self._title(), id="title", markup=False)
            table: DataTable[Text] = DataTable(id="entries", cursor_type="row",
                                               zebra_stripes=True)
            table.add_columns(*COLUMNS)
            yield table
            yield Static(Text("r: reload · esc or q: close"), id="hint", markup=False)

    def _title(self, extra: str = "") -> Text:
        path = self.actions.audit.path if self.actions is not None else None
        text = Text.assemble("Audit log", (f"  {path}" if path else "", "dim"))
        if extra:
            text.append("  ")
            text.append_text(safe(extra))
        return text

    def on_mount(self) -> None:
        self.query_one("#entries", DataTable).focus()
        self.action_reload()

    def action_reload(self) -> None:
        if self.actions is None:
            self.query_one("#title", Static).update(self._title(
                "not available: this console has no actions service"))
            return
        self.run_worker(self._load(), name="audit-read", group="audit", exclusive=True,
                        exit_on_error=False)

    async def _load(self) -> None:
        actions = self.actions
        if actions is None:
            return  # on_mount said so: this console has no actions service
        try:
            read = await actions.read_audit(LIMIT)
        except Exception as exc:  # noqa: BLE001 - shown, not fatal
            self.query_one("#title", Static).update(self._title(f"cannot be read: {exc}"))
            return
        self.show(read)

    def show(self, read: AuditRead) -> None:
        self.read = read
        notes = [f"{len(read.entries)} action(s), newest first"]
        if read.skipped_lines:
            notes.append(f"{read.skipped_lines} unreadable line(s) skipped")
        if read.error:
            notes.append(read.error)
        self.query_one("#title", Static).update(self._title("; ".join(notes)))
        table = self.query_one("#entries", DataTable)
        table.clear()
        for entry in read.entries:
            table.add_row(*self._row(entry), key=entry.id)

    def _row(self, entry: AuditEntry) -> list[Text]:
        state = OUTCOME_STATES.get(entry.outcome, "unknown")
        outcome_style = state_style(self.app, state)
        if entry.outcome == "unknown":
            outcome_style = severity_style(self.app, "warning")
        took = "-" if entry.elapsed_s is None else f"{entry.elapsed_s:.1f}s"
        exit_text = "-" if entry.exit_status is None else str(entry.exit_status)
        who = f"{entry.user}@{entry.host}" if entry.host else entry.user
        return [
            Text(_when(entry.started_at)),
            safe(who, max_chars=40),
            safe(entry.server, max_chars=40),
            safe(entry.action.replace("_", "-"), "bold", max_chars=20),
            safe(entry.target, max_chars=60),
            safe(outcome_label(entry), outcome_style, max_chars=30),
            Text(exit_text),
            Text(took),
            safe(entry.detail, max_chars=200),
        ]

    def action_close(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------------- palette


def open_audit(app: OpsConsoleApp) -> None:
    """Push the audit view (the palette's "Audit log")."""
    app.push_screen(AuditScreen(app.fleet))


def _show_migration(app: OpsConsoleApp, server: str) -> None:
    from console.ui.screens.migrate import MigrateScreen

    app.push_screen(MigrateScreen(app.fleet, server))


def _cancel_migration(app: OpsConsoleApp, server: str) -> None:
    actions = app.fleet.actions
    if actions is not None and actions.cancel_migration(server):
        app.notify(f"Cancelling the migration on {server}…", markup=False)
    else:
        app.notify(f"No migration is running on {server}.", severity="warning", markup=False)


def action_commands(app: OpsConsoleApp) -> Iterator[CommandEntry]:
    """Palette: the audit log, and the running migrations (show / cancel)."""
    actions = app.fleet.actions
    if actions is None:
        return
    yield ("Audit log", partial(open_audit, app),
           "Every restart, migration and test-login: who, when, where, outcome")
    for server in app.config.servers:
        if actions.running_migration(server.name) is not None:
            yield (f"Show migration on {server.name}", partial(_show_migration, app,
                                                               server.name),
                   "Watch the running migration's output")
            yield (f"Cancel migration on {server.name}", partial(_cancel_migration, app,
                                                                 server.name),
                   "Kill the running migration (TERM, then KILL)")


register_command_source(action_commands)
