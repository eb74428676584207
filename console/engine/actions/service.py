"""ActionService: restart, migrate and test-login, each refused when unsafe and always audited.

Every action follows the same path: check it may run (``read_only``, one migration per
server, a configured command), write the *intent* to the audit log (no record, no action:
``AuditUnavailable`` becomes a refusal), run it, write the *outcome* (``audited``).
Refusals are raised as ``ActionRefused`` with a sentence for the operator; failures of the
action itself come back as results (``ok=False``) because they are information, not bugs.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from console.config import Config, ConfigError, ServerConfig, expand_env_tree
from console.engine import dockerapi
from console.engine.actions import migrate as migrate_mod
from console.engine.actions.audited import ActionRefused, audited, refuse
from console.engine.actions.compose_ops import ComposeOps
from console.engine.actions.executions import (
    DockerExec,
    ExecClient,
    ExecStreams,
    HostExec,
    socket_exec_stream,
)
from console.engine.actions.login import LoginResult, LoginTester, strings_in
from console.engine.actions.migrate import (
    Execution,
    MigrationPlan,
    MigrationProgress,
    MigrationRun,
    OutputLine,
    migration_plan,
)
from console.engine.actions.recreate import RecreatePlan
from console.engine.audit import AuditLog, AuditRead, AuditValue
from console.engine.contracts import Change, ChangeListener, Unsubscribe
from console.engine.host_api import Host, HostUnavailable
from console.engine.listeners import Listeners
from console.models import ActionResult, ContainerInfo, utcnow

__all__ = ["ActionService", "ActionsSnapshot", "ContainerRestarter", "ServerActions"]

CONNECT_WAIT = 10.0
"""Seconds an action waits for a server that is still connecting before it gives up."""


class ContainerRestarter(Protocol):
    """What the actions need of the container service: restart goes through it, so its pane
    shows the restart live, and it names the container for the audit record."""

    def find(self, server: str, container: str) -> ContainerInfo | None: ...

    async def restart(self, server: str, container_id: str) -> ContainerInfo | None: ...


@dataclass(frozen=True, slots=True)
class ServerActions:
    """One server's actions: the migration running now, and the last result of each action."""

    server: str
    migration: MigrationProgress | None = None
    restart: ActionResult | None = None
    migrate: ActionResult | None = None
    test_login: LoginResult | None = None
    recreate: ActionResult | None = None
    shell: ActionResult | None = None


@dataclass(frozen=True, slots=True)
class ActionsSnapshot:
    """The actions' read model: ``servers`` in config order (a read-only mapping)."""

    servers: Mapping[str, ServerActions]


class ActionService:
    """Restart, migrate and test-login over the fleet's hosts, each one audited.

    ``containers`` is the fleet's container service (restart goes through it); ``clients``
    the docker client cache (default: the shared one); ``audit`` the log (default:
    ``config.console.audit_log``); ``exec_streams`` how a migration's ``docker exec``
    output is read (default: our own connection to the Docker socket; tests pass fakes).
    """

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 containers: ContainerRestarter | None = None,
                 clients: dockerapi.DockerClients | None = None,
                 audit: AuditLog | None = None,
                 exec_streams: ExecStreams = socket_exec_stream) -> None:
        self.config = config
        self.hosts = hosts
        self.containers = containers
        self.clients = clients if clients is not None else dockerapi.default_clients()
        self.audit = audit or AuditLog(config.console.audit_log)
        self._exec_streams = exec_streams
        self._login = LoginTester(self._up_host, hosts, self.clients, lambda: CONNECT_WAIT)
        self._migrations: dict[str, MigrationRun] = {}
        self._last: dict[str, ServerActions] = {}
        self._listeners: Listeners[Change] = Listeners("actions")
        self._compose = ComposeOps(self)

    # -- service protocol ----------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to follow: actions run when asked."""

    async def refresh(self) -> None:
        """Nothing to probe: actions are never run by a refresh."""

    async def stop(self) -> None:
        """Kill running migrations: a console that quits must not leave one unattended."""
        runs = [run for run in (*self._migrations.values(), *self._compose.running.values())
                if run.running]
        for run in runs:
            run.cancel("the console is stopping")
        if runs:
            wait = migrate_mod.KILL_GRACE + 2 * migrate_mod.END_GRACE
            await asyncio.gather(*(asyncio.wait_for(run.finished.wait(), wait)
                                   for run in runs), return_exceptions=True)

    def snapshot(self) -> ActionsSnapshot:
        """Per server: the running migration (if any) and the last result of each action."""
        servers: dict[str, ServerActions] = {}
        for server in self.config.servers:
            entry = self._last.get(server.name, ServerActions(server.name))
            run = self._migrations.get(server.name)
            if run is not None:
                entry = dataclasses.replace(entry, migration=run.progress())
            servers[server.name] = entry
        return ActionsSnapshot(MappingProxyType(servers))

    def subscribe(self, listener: ChangeListener) -> Unsubscribe:
        """``listener(Change("actions", server))`` when an action starts or ends there."""
        return self._listeners.add(listener)

    def _changed(self, server: str) -> None:
        self._listeners.emit(Change("actions", server))

    @property
    def read_only(self) -> bool:
        return self.config.console.read_only

    def _server(self, name: str) -> ServerConfig:
        try:
            return self.config.server(name)
        except KeyError:
            raise ActionRefused(f"unknown server {name!r}") from None

    def _host(self, name: str) -> Host:
        host = self.hosts.get(name)
        if host is None:
            raise ActionRefused(f"server {name!r} has no connection in this console")
        return host

    async def _up_host(self, name: str, timeout: float | None = None) -> Host:
        """The host, once up: an action asked for right after start-up waits for the link
        (a few seconds) instead of failing; a server that stays down fails with its state."""
        host = self._host(name)
        wait = CONNECT_WAIT if timeout is None else timeout
        if not host.status.is_up and not await host.wait_up(wait):
            raise HostUnavailable(f"{name}: {host.status.describe()}")
        return host

    def _mutating_allowed(self, action: str) -> str | None:
        if self.read_only:
            return f"{action} refused: the console is read-only ([console] read_only = true)"
        return None

    def _remember(self, result: ActionResult | LoginResult) -> None:
        entry = self._last.get(result.server, ServerActions(result.server))
        if isinstance(result, LoginResult):
            entry = dataclasses.replace(entry, test_login=result)
        elif result.action == "restart":
            entry = dataclasses.replace(entry, restart=result)
        elif result.action == "recreate":
            entry = dataclasses.replace(entry, recreate=result)
        elif result.action == "shell":
            entry = dataclasses.replace(entry, shell=result)
        else:
            entry = dataclasses.replace(entry, migrate=result)
        self._last[result.server] = entry
        self._changed(result.server)

    async def read_audit(self, limit: int | None = 500) -> AuditRead:
        """The audit log, newest first (for the audit view and ``report``); off the loop."""
        return await asyncio.to_thread(self.audit.read, limit)

    # -- restart ---------------------------------------------------------------------------

    async def restart(self, server: str, container: str) -> ActionResult:
        """Restart one container (id or name) through the container service, audited."""
        cfg = self._server(server)
        label = self._container_label(server, container)
        refusal = self._mutating_allowed("restart")
        if refusal:
            await refuse(self.audit, "restart", cfg.name, label, refusal)
        if self.containers is None:
            raise ActionRefused("restart is not available: no container service")
        started = utcnow()
        async with audited(self.audit, "restart", cfg.name, label, container_id=container,
                           protected=cfg.protected) as record:
            try:
                info = await self.containers.restart(server, container)
            except Exception as exc:  # noqa: BLE001 - reported and audited, not raised
                detail = dockerapi.describe_docker_error(exc, cfg.docker_socket)
                warning = await record.outcome("error", False, detail=detail)
                ok = False
            else:
                state = info.state if info is not None else "gone"
                ok = state in ("running", "restarting")
                detail = f"{label} is {state}"
                warning = await record.outcome("succeeded" if ok else "failed", ok,
                                               detail=detail)
        result = ActionResult("restart", cfg.name, label, ok, _join(detail, warning), None,
                              started, utcnow())
        self._remember(result)
        return result

    def _container_label(self, server: str, container: str) -> str:
        info = self.containers.find(server, container) if self.containers is not None \
            else None
        return info.name if info is not None else container

    # -- recreate and shell (``compose_ops``) ---------------------------------------------

    async def recreate_plan(self, server: str, container: str) -> RecreatePlan:
        """What ``recreate`` would run (for the confirmation); ActionRefused says why not."""
        return await self._compose.recreate_plan(server, container)

    async def recreate(self, server: str, container: str,
                       on_output: Callable[[OutputLine], None] | None = None, *,
                       on_start: Callable[[MigrationRun], None] | None = None
                       ) -> ActionResult:
        """``docker compose up -d --no-deps --force-recreate`` for the container's service."""
        return await self._compose.recreate(server, container, on_output, on_start=on_start)

    def running_recreate(self, server: str) -> MigrationRun | None:
        return self._compose.running.get(server)

    async def shell(self, server: str, container: str) -> ActionResult:
        """A shell in the container on the operator's terminal (the UI suspends first)."""
        return await self._compose.shell(server, container)

    # -- migrate ---------------------------------------------------------------------------

    def plan(self, server: str) -> MigrationPlan | None:
        """What ``migrate(server)`` would run (for the confirmation), or None if unset."""
        return migration_plan(self._server(server))

    def running_migration(self, server: str) -> MigrationRun | None:
        return self._migrations.get(server)

    def cancel_migration(self, server: str) -> bool:
        run = self._migrations.get(server)
        return run.cancel() if run is not None else False

    async def migrate(self, server: str, on_output: Callable[[OutputLine], None] | None = None,
                      *, on_start: Callable[[MigrationRun], None] | None = None
                      ) -> ActionResult:
        """Run the server's migration to its end, streaming output to ``on_output``.

        ``on_start`` receives the ``MigrationRun`` once it is registered (to cancel it or
        show its elapsed time). Cancelling the awaiting task also kills the process.
        """
        cfg = self._server(server)
        plan = migration_plan(cfg)
        if plan is None:
            raise ActionRefused(f"no migration is configured for {cfg.name} "
                                "([servers.actions.migrate])")
        refusal = self._mutating_allowed("migrate")
        if refusal:
            await refuse(self.audit, "migrate", cfg.name, plan.target, refusal)
        busy = self._migrations.get(cfg.name)
        if busy is not None:
            await refuse(self.audit, "migrate", cfg.name, plan.target,
                         f"a migration is already running on {cfg.name} (for "
                         f"{busy.elapsed_s:.0f}s); wait for it to end or cancel it")
        run = MigrationRun(plan, on_output)
        self._migrations[cfg.name] = run  # before any await: a second call is refused
        self._changed(cfg.name)
        try:
            return await self._migrate(cfg, run, on_start)
        finally:
            self._migrations.pop(cfg.name, None)
            self._changed(cfg.name)

    async def _migrate(self, cfg: ServerConfig, run: MigrationRun,
                       on_start: Callable[[MigrationRun], None] | None) -> ActionResult:
        plan = run.plan
        async with audited(self.audit, "migrate", cfg.name, plan.target,
                           command=list(plan.command),
                           where="container" if plan.container else "host",
                           protected=cfg.protected) as record:
            record.on_cancel = lambda: _cancelled_fields(run)
            if on_start is not None:
                on_start(run)
            detail = await self._execute(cfg, run)
            ok = run.outcome == "succeeded"
            warning = await record.outcome(run.outcome, ok, exit_status=run.exit_status,
                                           elapsed_s=round(run.elapsed_s, 3), detail=detail)
        if warning:
            run.emit("console", warning)
        result = ActionResult("migrate", cfg.name, plan.target, ok, _join(detail, warning),
                              run.exit_status, run.started_at, utcnow())
        self._remember(result)
        return result

    async def _execute(self, cfg: ServerConfig, run: MigrationRun) -> str:
        """Start, wait for the end / a cancel / the timeout, and settle the outcome."""
        try:
            execution = await self._start_execution(cfg, run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the operator sees why it did not start
            detail = f"could not start: {self._describe(cfg, exc)}"
            run.emit("console", detail)
            run.finish("error", None)
            return detail
        run.state = "running"
        self._changed(cfg.name)
        return await migrate_mod.drive(run, execution, lambda exc: self._describe(cfg, exc))

    async def _start_execution(self, cfg: ServerConfig, run: MigrationRun) -> Execution:
        host = await self._up_host(cfg.name)
        execution: Execution
        if run.plan.container:
            client: ExecClient = await self.clients.get(host)
            execution = DockerExec(run, client, run.plan.container,
                                   await host.docker_base_url(), self._exec_streams)
        else:
            execution = HostExec(run, host)
        await execution.start()
        return execution

    def _describe(self, cfg: ServerConfig, exc: BaseException) -> str:
        return dockerapi.describe_docker_error(exc, cfg.docker_socket)

    # -- test-login ------------------------------------------------------------------------

    async def test_login(self, server: str) -> LoginResult:
        """POST the configured credentials and inspect the answer; audited, never mutating."""
        cfg = self._server(server)
        action = cfg.test_login
        if action is None:
            raise ActionRefused(f"no test-login is configured for {cfg.name} "
                                "([servers.actions.test_login])")
        try:
            body = expand_env_tree(action.json, f"servers.{cfg.name}.actions.test_login.json")
        except ConfigError as exc:
            await refuse(self.audit, "test_login", cfg.name, action.url,
                         f"test-login on {cfg.name}: {exc.message} (needed by "
                         f"{exc.where}); set it in the console's environment")
        sent_values = [v for v in strings_in(body) if v not in strings_in(action.json)]
        async with audited(self.audit, "test_login", cfg.name, action.url, url=action.url,
                           sent_from=action.from_,
                           verify_with_secret=action.verify_with_secret) as record:
            try:
                result = await self._login.run(cfg, action, body, sent_values)
            finally:
                del body
            warning = await record.outcome(
                "succeeded" if result.ok else "failed", result.ok, status=result.status,
                klass=result.klass, latency_ms=result.latency_ms,
                signature=result.signature.verdict if result.signature else None,
                detail=result.reason)
        if warning:
            result = dataclasses.replace(result, reason=_join(result.reason, warning))
        self._remember(result)
        return result


def _cancelled_fields(run: MigrationRun) -> dict[str, AuditValue]:
    """The "cancelled" outcome of a migration whose awaiting task was cancelled."""
    if not run.finished.is_set():
        run.finish("cancelled", run.exit_status)
    return {"exit_status": run.exit_status, "elapsed_s": round(run.elapsed_s, 3),
            "detail": "the console stopped waiting; the process was sent TERM"}


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
