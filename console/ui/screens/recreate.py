"""``R``: recreate the selected container's Compose service; ``x``: a shell in a container.

``RecreateScreen(fleet, server, container)`` is the migration's modal with another plan:
it asks the actions service what it would run (refusing, with the reason on screen, when
the container is not a Compose one or the server has no Compose), confirms (typed server
name on a protected server), then streams Compose's output live. The containers pane shows
the old container going and the new one coming through Docker's events, and the secrets
pane re-checks by itself.

``open_shell(app, server, container)`` suspends the TUI (rendering paused, so nothing is
drawn over the shell) for ``docker exec -it`` and brings the console back as it was.

Importing this module registers the palette entries (recreate and shell per container).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from console.engine.actions import ActionRefused
from console.engine.actions.recreate import RecreatePlan
from console.models import ActionResult
from console.ui.commands import CommandEntry, register_command_source
from console.ui.safe_text import make_visible, safe
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.migrate import MigrateScreen
from console.ui.widgets.diagnosis_strip import fix_note_line

if TYPE_CHECKING:
    from console.engine.fleet import FleetView
    from console.ui.app import OpsConsoleApp

__all__ = ["RecreateScreen", "open_shell"]


class RecreateScreen(MigrateScreen):
    """Confirm, run and watch one service's recreate; dismisses with its ActionResult."""

    def __init__(self, fleet: FleetView, server_name: str, container: str) -> None:
        super().__init__(fleet, server_name)
        self.container = container

    def begin(self) -> None:
        self.query_one("#title", Static).update(Text.assemble(
            "Recreate ", safe(self.container, "bold"), " on ", safe(self.server_name, "bold")))
        refusal = self._refusal()
        if refusal:
            self._refused(refusal.replace("migrate", "recreate"))
            return
        self._set_status(Text("Reading the container's Compose labels…"))
        self.run_worker(self._prepare(), name=f"recreate plan {self.container}",
                        group="recreate", exit_on_error=False)

    async def _prepare(self) -> None:
        assert self.actions is not None
        try:
            plan = await self.actions.recreate_plan(self.server_name, self.container)
        except ActionRefused as exc:
            self._refused(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown in the modal
            self._refused(f"Recreate cannot be prepared: {type(exc).__name__}: {exc}")
            return
        self.plan = plan
        self._show_plan(plan)
        self.state = "confirming"
        self._set_status(Text("Waiting for confirmation…"))
        self.app.push_screen(self._confirm_screen(plan), callback=self._confirmed)

    def _confirm_screen(self, plan: Any) -> ConfirmScreen:
        assert isinstance(plan, RecreatePlan)
        title = Text.assemble("Recreate service ", safe(plan.service, "bold"), " on ",
                              safe(plan.server, "bold"), "?")
        body: list[str | Text] = []
        note = fix_note_line(self.app, "recreate", plan.server, self.container)
        if note is not None:
            body.append(note)
        body += [
            Text.assemble("Command: ", safe(plan.command_text, "bold")),
            Text.assemble("Where: ", safe(plan.where)),
            Text.assemble(safe(plan.replaces), " is removed and a new container is created "
                          "from the compose files and env files as they are now."),
            Text("It serves nothing until the new container is up."),
            Text("The intent and the outcome go to the audit log."),
        ]
        return ConfirmScreen(title, body, typed_name=plan.server if plan.protected else None)

    def _confirmed(self, confirmed: bool | None) -> None:
        if not confirmed:
            self.state = "done"
            self.app.notify("Recreate cancelled; nothing was run.", markup=False)
            self.dismiss(None)
            return
        super()._confirmed(confirmed)

    async def _run(self) -> None:
        assert self.actions is not None
        try:
            result = await self.actions.recreate(self.server_name, self.container,
                                                 on_start=self._follow_run)
        except ActionRefused as exc:
            self._refused(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown in the modal, never fatal
            self._finish(None, f"Recreate failed to run: {type(exc).__name__}: {exc}")
            return
        self._finish(result)

    def _update_hint(self) -> None:
        super()._update_hint()
        if self.state == "running":
            self.query_one("#hint", Static).update(Text("c or esc: cancel the recreate"))


async def open_shell(app: OpsConsoleApp, server: str, container: str) -> None:
    """``docker exec -it`` in ``container`` with the TUI suspended, then the console back."""
    actions = app.fleet.actions
    if actions is None:
        app.say("A shell is not available: this console has no actions service.",
                severity="warning")
        return
    try:
        with app.batch_update(), app.suspend():
            # batch_update: no frame is queued while suspended (the writer would fill up)
            result: ActionResult = await actions.shell(server, container)
    except ActionRefused as exc:
        app.say(make_visible(str(exc), 400), severity="warning")
        return
    except Exception as exc:  # noqa: BLE001 - the console comes back, whatever happened
        app.say(make_visible(f"The shell in {container} on {server} failed: "
                             f"{type(exc).__name__}: {exc}", 400), severity="error")
        return
    app.say(make_visible(f"Shell in {container} on {server} ended "
                         f"(exit status {result.exit_status}).", 300))


@register_command_source
def _palette(app: OpsConsoleApp) -> list[CommandEntry]:
    containers = app.fleet.containers
    if containers is None:
        return []
    servers = containers.snapshot().servers
    entries: list[CommandEntry] = []
    for server, part in servers.items():
        for info in part.containers:
            if info.project and info.service:
                entries.append((f"Recreate {info.name} on {server}",
                                partial(app.request_recreate, server, info.name),
                                "docker compose up -d --no-deps --force-recreate for its "
                                "service (asks for confirmation first)"))
            entries.append((f"Shell in {info.name} on {server}",
                            partial(app.request_shell, server, info.name),
                            "docker exec -it: bash or sh; the console suspends meanwhile"))
    return entries
