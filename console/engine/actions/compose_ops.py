"""Recreate (``R``) and shell (``x``) for ``ActionService``: each refused when unsafe, audited.

Kept apart from ``service`` so that the service class stays small; ``ActionService`` owns
one ``ComposeOps`` and forwards ``recreate_plan``, ``recreate`` and ``shell`` to it. A
recreate is a ``MigrationRun`` (streamed output, cancel, time limit) with a
``RecreatePlan``; one at a time per server. A shell's audit record says who, when, which
container and how it ended: never what was typed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from console.engine.actions.audited import ActionRefused, audited, refuse
from console.engine.actions.migrate import MigrationRun, OutputLine
from console.engine.actions.recreate import (
    InspectClient,
    RecreatePlan,
    ShellPlan,
    compose_labels_of,
    detect_compose,
    recreate_plan,
    shell_argv,
)
from console.engine.host_api import HostUnavailable
from console.engine.terminal import TerminalHost, bridge, run_here, terminal_size
from console.models import ActionResult, utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from console.engine.actions.service import ActionService

__all__ = ["ComposeOps"]


class ComposeOps:
    """Recreate and shell on behalf of ``owner`` (its config, hosts, clients, audit log)."""

    def __init__(self, owner: ActionService) -> None:
        self.owner = owner
        self.running: dict[str, MigrationRun] = {}

    # -- recreate --------------------------------------------------------------------------

    async def recreate_plan(self, server: str, container: str) -> RecreatePlan:
        """What ``recreate`` would run, for the confirmation; ActionRefused says why not."""
        cfg = self.owner._server(server)
        host = await self.owner._up_host(server)
        client: InspectClient = await self.owner.clients.get(host)
        try:
            name, labels = await compose_labels_of(host, client, container)
        except HostUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the operator sees why
            raise ActionRefused(f"{container} on {server} cannot be inspected: "
                                f"{type(exc).__name__}") from None
        tool = await detect_compose(host) if labels is not None and labels.key() else None
        plan = recreate_plan(cfg.name, cfg.protected, name, labels, tool)
        if isinstance(plan, str):
            raise ActionRefused(plan)
        return plan

    async def recreate(self, server: str, container: str,
                       on_output: Callable[[OutputLine], None] | None = None, *,
                       on_start: Callable[[MigrationRun], None] | None = None
                       ) -> ActionResult:
        """Recreate the container's service, streaming Compose's output; audited."""
        cfg = self.owner._server(server)
        refusal = self.owner._mutating_allowed("recreate")
        if refusal:
            await refuse(self.owner.audit, "recreate", cfg.name, container, refusal)
        try:
            plan = await self.recreate_plan(server, container)
        except ActionRefused as exc:
            await refuse(self.owner.audit, "recreate", cfg.name, container, str(exc))
            raise
        busy = self.running.get(cfg.name)
        if busy is not None:
            await refuse(self.owner.audit, "recreate", cfg.name, plan.target,
                         f"a recreate is already running on {cfg.name}; wait for it to end")
        run = MigrationRun(plan, on_output)
        self.running[cfg.name] = run
        self.owner._changed(cfg.name)
        try:
            async with audited(self.owner.audit, "recreate", cfg.name, plan.target,
                               command=list(plan.compose_argv), project=plan.project,
                               service=plan.service, working_dir=plan.working_dir,
                               protected=cfg.protected) as record:
                if on_start is not None:
                    on_start(run)
                detail = await self.owner._execute(cfg, run)
                ok = run.outcome == "succeeded"
                warning = await record.outcome(run.outcome, ok, exit_status=run.exit_status,
                                               elapsed_s=round(run.elapsed_s, 3),
                                               detail=detail)
        finally:
            self.running.pop(cfg.name, None)
            self.owner._changed(cfg.name)
        if warning:
            run.emit("console", warning)
        detail = f"{detail}; {warning}" if warning else detail
        result = ActionResult("recreate", cfg.name, plan.target, ok, detail, run.exit_status,
                              run.started_at, utcnow())
        self.owner._remember(result)
        return result

    # -- shell -----------------------------------------------------------------------------

    def shell_plan(self, server: str, container: str) -> ShellPlan:
        cfg = self.owner._server(server)
        return ShellPlan(cfg.name, container, tuple(shell_argv(container, cfg.docker_socket)),
                         cfg.is_local)

    async def shell(self, server: str, container: str) -> ActionResult:
        """A shell in ``container`` on the operator's terminal (the UI has suspended itself).

        Refused when read-only. Audited before and after (who, when, container, exit
        status, how long); what was typed is never seen here.
        """
        cfg = self.owner._server(server)
        refusal = self.owner._mutating_allowed("shell")
        if refusal:
            await refuse(self.owner.audit, "shell", cfg.name, container, refusal)
        plan = self.shell_plan(server, container)
        host = await self.owner._up_host(server)
        if not plan.local and not isinstance(host, TerminalHost):
            await refuse(self.owner.audit, "shell", cfg.name, container,
                         f"{cfg.name}'s connection cannot open a terminal")
        started, t0 = utcnow(), time.monotonic()
        async with audited(self.owner.audit, "shell", cfg.name, container,
                           command=list(plan.argv), protected=cfg.protected) as record:
            if plan.local:
                status = await run_here(plan.argv)
            else:
                assert isinstance(host, TerminalHost)
                columns, rows = terminal_size()
                channel = await host.open_terminal(plan.argv, term_type=_term(),
                                                   columns=columns, rows=rows)
                status = await bridge(channel)
            ok = status == 0
            detail = f"the shell ended with exit status {status}"
            await record.outcome("succeeded" if ok else "failed", ok, exit_status=status,
                                 elapsed_s=round(time.monotonic() - t0, 3))
        result = ActionResult("shell", cfg.name, container, ok, detail, status, started,
                              utcnow())
        self.owner._remember(result)
        return result


def _term() -> str:
    import os

    return os.environ.get("TERM") or "xterm-256color"
