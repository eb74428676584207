"""``m``: run a server's migration, with a confirmation first and its output live.

``MigrateScreen(fleet, server_name)`` is a modal that:

1. refuses at once, with the reason on screen, when the console is read-only, the server
   has no migration configured, or there is no actions service;
2. otherwise asks through ``ConfirmScreen`` (typed server name on a protected server),
   saying exactly which command runs where, and that it is audited;
3. on yes, runs ``fleet.actions.migrate`` in a worker and streams stdout/stderr into a
   ``RichLog`` (batched every 100 ms so a chatty migration cannot flood the renderer), with
   the elapsed time ticking and the exit status at the end;
4. ``c`` or ``esc`` cancels a running migration (the engine sends TERM, then KILL); once it
   has ended ``esc``, ``q`` or ``enter`` closes the modal.

If a migration is already running on that server (started from the palette, say), the
screen attaches to it instead of starting a second one.

Every line the server sends is rendered through ``safe()``: never markup, never control.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import RichLog, Static

from console.engine.actions import ActionRefused, MigrationPlan, MigrationRun, OutputLine
from console.models import ActionResult
from console.ui.safe_text import make_visible, safe
from console.ui.screens.confirm import ConfirmScreen
from console.ui.themes import severity_style, state_style

if TYPE_CHECKING:
    from rich.style import Style

    from console.engine.contracts import Unsubscribe
    from console.engine.fleet import FleetView

__all__ = ["MigrateScreen"]

FLUSH_S = 0.1
MAX_LOG_LINES = 5_000
_MARK = {"stdout": "  ", "stderr": "! ", "console": "» "}


class MigrateScreen(ModalScreen[ActionResult | None]):
    """Confirm, run and watch one server's migration; dismisses with its ActionResult."""

    BINDINGS = [
        Binding("c", "cancel_migration", "Cancel migration", id="migrate.cancel",
                tooltip="Kill the running migration (TERM, then KILL after 5 s)"),
        Binding("escape", "escape", "Cancel / close", id="migrate.escape",
                tooltip="Cancel the running migration, or close once it has ended"),
        Binding("q,enter", "close", "Close", id="migrate.close",
                tooltip="Close the window once the migration has ended"),
    ]

    DEFAULT_CSS = """
    MigrateScreen {
        align: center middle;
    }
    MigrateScreen > #dialog {
        width: 90%;
        height: 85%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    MigrateScreen #title {
        text-style: bold;
    }
    MigrateScreen #what, MigrateScreen #status, MigrateScreen #hint {
        height: auto;
    }
    MigrateScreen #output {
        height: 1fr;
        border: round $panel-lighten-2;
        margin: 1 0 0 0;
    }
    MigrateScreen #hint {
        color: $text-muted;
    }
    """

    def __init__(self, fleet: FleetView, server_name: str) -> None:
        super().__init__()
        self.fleet = fleet
        self.server_name = server_name
        self.actions = fleet.actions
        self.plan: MigrationPlan | None = None
        self.run: MigrationRun | None = None
        self.result: ActionResult | None = None
        self.state = "idle"  # idle | confirming | running | done | refused
        self._pending: list[OutputLine] = []
        self._unsubscribe: Unsubscribe | None = None
        self._timer: Timer | None = None

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text.assemble("Migrate ", safe(self.server_name, "bold")), id="title",
                         markup=False)
            yield Static("", id="what", markup=False)
            yield Static("", id="status", markup=False)
            yield RichLog(id="output", max_lines=MAX_LOG_LINES, markup=False, wrap=True,
                          auto_scroll=True)
            yield Static("", id="hint", markup=False)

    def on_mount(self) -> None:
        self.begin()

    def begin(self) -> None:
        """What the screen does once shown: plan and confirm a migration (the recreate
        screen, built on this one, does its own)."""
        refusal = self._refusal()
        if refusal:
            self._refused(refusal)
            return
        assert self.actions is not None
        self.plan = self.actions.plan(self.server_name)
        if self.plan is None:
            self._refused(f"No migration is configured for {self.server_name} "
                          "([servers.actions.migrate] in the config).")
            return
        self._show_plan(self.plan)
        running = self.actions.running_migration(self.server_name)
        if running is not None:
            self._follow_run(running)
            self.run_worker(self._watch(running), name=f"migrate {self.server_name}",
                            group="migrate", exit_on_error=False)
            return
        self.state = "confirming"
        self._set_status(Text("Waiting for confirmation…"))
        self.app.push_screen(self._confirm_screen(self.plan), callback=self._confirmed)

    def _refusal(self) -> str | None:
        config = self.fleet.config
        if config is not None and config.console.read_only:
            return ("Read-only mode (console.read_only = true): migrate refused. "
                    "Nothing was run.")
        if self.actions is None:
            return "Migrate is not available: this console has no actions service."
        return None

    def _show_plan(self, plan: MigrationPlan) -> None:
        self.query_one("#what", Static).update(Text.assemble(
            "Runs ", safe(plan.command_text, "bold"), " ", safe(plan.where),
            f"; time limit {plan.timeout:g} s."))

    def _confirm_screen(self, plan: MigrationPlan) -> ConfirmScreen:
        title = Text.assemble("Run the migration on ", safe(plan.server, "bold"), "?")
        body = [
            Text.assemble("Command: ", safe(plan.command_text, "bold")),
            Text.assemble("Where: ", safe(plan.where)),
            Text("It changes the database schema and may not be reversible."),
            Text.assemble(f"Output is streamed live; it is killed after {plan.timeout:g} s, "
                          "or when you press c."),
            Text("The intent and the outcome go to the audit log."),
        ]
        return ConfirmScreen(title, body, typed_name=plan.server if plan.protected else None)

    # -- running -------------------------------------------------------------------------

    def _confirmed(self, confirmed: bool | None) -> None:
        if not confirmed:
            self.state = "done"
            self.app.notify("Migration cancelled; nothing was run.", markup=False)
            self.dismiss(None)
            return
        self.state = "running"
        self._set_status(Text("Starting…"))
        self.run_worker(self._run(), name=f"migrate {self.server_name}", group="migrate",
                        exit_on_error=False)

    async def _run(self) -> None:
        assert self.actions is not None
        try:
            result = await self.actions.migrate(self.server_name, on_start=self._follow_run)
        except ActionRefused as exc:
            self._refused(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown in the modal, never fatal
            self._finish(None, f"Migration failed to run: {type(exc).__name__}: {exc}")
            return
        self._finish(result)

    async def _watch(self, run: MigrationRun) -> None:
        """Attached to a migration someone else started: wait for its end."""
        await run.finished.wait()
        self._finish(None)

    def _follow_run(self, run: MigrationRun) -> None:
        """Follow ``run``'s output (lines so far, then live) and tick its elapsed time."""
        self.run = run
        self.state = "running"
        self._pending.extend(run.lines)
        self._unsubscribe = run.subscribe(self._on_line)
        if self._timer is None:
            self._timer = self.set_interval(FLUSH_S, self._flush)
        self._update_hint()

    def _on_line(self, line: OutputLine) -> None:
        self._pending.append(line)  # written on the next tick, with its neighbours

    def _flush(self) -> None:
        """Write the lines gathered since the last tick, and the elapsed time."""
        if self._pending:
            lines, self._pending = self._pending, []
            log = self.query_one("#output", RichLog)
            for line in lines:
                log.write(self._render_line(line))
        if self.run is not None and self.state == "running":
            verb = "cancelling" if self.run.state == "cancelling" else "running"
            self._set_status(Text(f"{verb}… {self.run.elapsed_s:.1f}s elapsed"))

    def _render_line(self, line: OutputLine) -> Text:
        style: str | Style = ""
        if line.stream == "stderr":
            style = severity_style(self.app, "error")
        elif line.stream == "console":
            style = "italic"
        return Text.assemble((f"{line.elapsed_s:7.1f}s ", "dim"), _MARK.get(line.stream, "  "),
                             safe(line.text, style))

    def _finish(self, result: ActionResult | None, error: str = "") -> None:
        self._flush()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.result = result
        self.state = "done"
        run = self.run
        if error:
            self._set_status(safe(error, severity_style(self.app, "error")))
        elif run is not None:
            self._set_status(self._verdict(run))
        self._update_hint()

    def _verdict(self, run: MigrationRun) -> Text:
        status = "unknown" if run.exit_status is None else str(run.exit_status)
        ok = run.outcome == "succeeded"
        style = state_style(self.app, "running" if ok else "exited")
        text = Text.assemble((f"{run.outcome or 'ended'}", style),
                             f": exit status {status} after {run.elapsed_s:.1f}s")
        if run.dropped_lines:
            text.append(f" ({run.dropped_lines} early lines not kept)")
        if self.result is not None and self.result.detail and not ok:
            text.append("\n")
            text.append_text(safe(self.result.detail, max_chars=400))
        return text

    def _refused(self, message: str) -> None:
        self.state = "refused"
        self._set_status(safe(message, severity_style(self.app, "warning")))
        self.app.notify(make_visible(message, 600), severity="warning", markup=False)
        self._update_hint()

    # -- keys ----------------------------------------------------------------------------

    def action_cancel_migration(self) -> None:
        if self.state == "running" and self.run is not None and self.run.cancel():
            self._set_status(Text("cancelling… (TERM sent, KILL after 5 s)"))
            self._update_hint()
        elif self.state == "running":
            self.app.bell()

    def action_escape(self) -> None:
        if self.state == "running":
            self.action_cancel_migration()
        else:
            self.action_close()

    def action_close(self) -> None:
        if self.state == "running":
            self.app.bell()
            self.query_one("#hint", Static).update(
                Text("The migration is still running: press c to cancel it first."))
            return
        self.dismiss(self.result)

    # -- helpers -------------------------------------------------------------------------

    def _set_status(self, text: Text) -> None:
        self.query_one("#status", Static).update(text)

    def _update_hint(self) -> None:
        if self.state == "running":
            hint = "c or esc: cancel the migration"
        else:
            hint = "esc, q or enter: close"
        self.query_one("#hint", Static).update(Text(hint))

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
