"""What the action keys do, apart from the app's layout and focus.

``r`` restart, ``R`` recreate, ``x`` shell, ``/`` ``p`` ``w`` on the logs pane and ``ctrl+r``
report: which row they act on, the read-only refusal, the confirmation, and the call into
the engine. The app keeps one ``ActionFlow`` and its ``action_*`` methods hand over to it;
the palette and the diagnosis screen reach the same flow through the app's ``request_*``
methods. The recreate screen is imported where it is used: the app imports it (after the
audit view) to register its palette entries, and that order is the palette's.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text

from console.models import ActionResult, ContainerInfo
from console.ui.safe_text import safe
from console.ui.screens.confirm import ConfirmScreen
from console.ui.widgets.containers_pane import ContainersPane
from console.ui.widgets.diagnosis_strip import fix_note_line
from console.ui.widgets.logs import LogsPane

if TYPE_CHECKING:
    from console.ui.app import OpsConsoleApp

__all__ = ["ActionFlow"]


class ActionFlow:
    """The action keys' flow for one running console (``app``: its fleet, config, screens
    and notifications). A restart goes through ``fleet.actions`` only: audited, or not run."""

    def __init__(self, app: OpsConsoleApp) -> None:
        self.app = app

    def refuse_read_only(self, what: str) -> bool:
        """True (and said) when the console is read-only and ``what`` must not run."""
        if self.app.config.console.read_only:
            self.app.say(f"Read-only mode (console.read_only = true): {what} refused.",
                         severity="warning")
            return True
        return False

    # -- containers ----------------------------------------------------------------------

    def _containers_pane(self) -> ContainersPane | None:
        pane = self.app.pane("containers")
        return pane if isinstance(pane, ContainersPane) else None

    def _selected_or_say(self) -> ContainerInfo | None:
        pane = self._containers_pane()
        info: ContainerInfo | None = pane.selected_container() if pane else None
        if info is None:
            self.app.say("Select a container row in the containers pane (key 1) first.",
                         severity="warning")
        return info

    def restart_selected(self) -> None:
        if self.refuse_read_only("restart"):
            return
        info = self._selected_or_say()
        if info is not None:
            self.request_restart(info.server, info.id)

    def request_restart(self, server: str, container_id: str) -> None:
        """Confirm, then restart."""
        if self.refuse_read_only("restart"):
            return
        app = self.app
        containers = app.fleet.containers
        info = containers.find(server, container_id) if containers is not None else None
        if info is None:
            app.say(f"That container is no longer listed on {server}.", severity="warning")
            return
        protected = app.config.server(server).protected
        title = Text.assemble("Restart ", safe(info.name, "bold"), " on ",
                              safe(server, "bold"), "?")
        body: list[str | Text] = []
        note = fix_note_line(app, "restart", server, info.name)
        if note is not None:
            body.append(note)
        body += [
            Text.assemble("Runs docker restart on ", safe(server),
                          ": the container gets 10 s to stop, then it is killed and started."),
            Text.assemble("Now: ", safe(info.state), ", health ", safe(info.health),
                          ", image ", safe(info.image)),
            Text("It serves nothing until it is back up."),
        ]
        body.append(Text("The intent and the outcome go to the audit log."))
        app.push_screen(ConfirmScreen(title, body, typed_name=server if protected else None),
                        callback=partial(self._restart_confirmed, server, container_id,
                                         info.name))

    def _restart_confirmed(self, server: str, container_id: str, name: str,
                           confirmed: bool | None) -> None:
        if not confirmed:
            self.app.say("Restart cancelled; nothing was done.")
            return
        self.app.run_worker(self._restart(server, container_id, name),
                            name=f"restart {name}", group="actions", exit_on_error=False)

    async def _restart(self, server: str, container_id: str, name: str) -> None:
        """Through the actions service only: it writes the intent first and refuses when it
        cannot, so no restart happens unaudited."""
        say = self.app.say
        actions = self.app.fleet.actions
        if actions is None:
            say(f"Restart of {name} on {server} failed: this console has no actions service, "
                "and a restart is never made without its audit record", severity="error",
                timeout=15)
            return
        say(f"Restarting {name} on {server}…")
        try:
            result = await actions.restart(server, container_id)
        except Exception as exc:  # noqa: BLE001 - shown, the console carries on
            say(f"Restart of {name} on {server} failed: {exc}", severity="error", timeout=15)
            return
        if isinstance(result, ActionResult) and not result.ok:
            say(f"Restart of {name} on {server} failed: {result.detail}",
                severity="error", timeout=15)
            return
        say(f"{name} on {server} restarted.")

    def recreate_selected(self) -> None:
        if self.refuse_read_only("recreate"):
            return
        info = self._selected_or_say()
        if info is not None:
            self.request_recreate(info.server, info.name)

    def request_recreate(self, server: str, container: str) -> None:
        """Confirm, then recreate the container's service."""
        if self.refuse_read_only("recreate"):
            return
        from console.ui.screens import recreate as recreate_screen  # imported by the app

        self.app.push_screen(recreate_screen.RecreateScreen(self.app.fleet, server, container))

    def shell_selected(self) -> None:
        if self.refuse_read_only("shell"):
            return
        info = self._selected_or_say()
        if info is not None:
            self.request_shell(info.server, info.name)

    def request_shell(self, server: str, container: str) -> None:
        """A shell in the container, the TUI suspended."""
        if self.refuse_read_only("shell"):
            return
        from console.ui.screens import recreate as recreate_screen  # imported by the app

        self.app.run_worker(recreate_screen.open_shell(self.app, server, container),
                            name=f"shell {container}", group="actions", exit_on_error=False)

    # -- the logs pane -------------------------------------------------------------------

    def logs_pane(self, what: str, *, focus: bool) -> LogsPane | None:
        """The logs pane for ``/``, ``p`` and ``w``; shown first when ``focus``."""
        app = self.app
        pane = app.pane("logs")
        if not isinstance(pane, LogsPane):
            app.say(f"{what}: the logs pane is not built yet.", severity="warning")
            return None
        if focus and app.active_pane != "logs":
            app.active_pane = "logs"
            app.show_active("logs")
        return pane

    # -- the report ----------------------------------------------------------------------

    async def write_report(self) -> None:
        """The same Markdown as ``ops-console report``, from what the panes show right now.

        No new probe round: the report states exactly the facts on screen, taken from the
        live services. Files are written off the event loop; a full disk is reported.
        """
        from console.commands.report import render_report, report_paths, write_report
        from console.commands.snapshot import build_document
        from console.engine.audit import read_audit

        app = self.app
        document = build_document(app.fleet, window_s=900, errors=[])
        entries = (await asyncio.to_thread(read_audit, app.config.console.audit_log,
                                           limit=20)).entries
        try:
            markdown, svg = await asyncio.to_thread(
                report_paths, app.config.console.audit_log.parent, app.clock())
            await asyncio.to_thread(write_report, markdown, render_report(document, entries))
            await asyncio.to_thread(write_report, svg, app.export_screenshot())
        except OSError as exc:
            app.say(f"Report not written: {exc}", severity="error")
            return
        app.say(f"Report written: {markdown} and {svg.name}")
