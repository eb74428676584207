"""The states an operator meets, as fixed fleets for the snapshot tests.

``fleet_for(state)`` gives a ``FakeFleet`` whose every pane is in one state:

- ``healthy``: every container running and healthy, every probe 200, every secret present,
  a few routine auth events;
- ``failing``: the incident mix of ``fakes.py`` (an exited worker, an unhealthy backend, a
  502 through nginx, a missing and a weak secret, JWT_SECRET drifting, auth errors);
- ``lost``: the failing mix with bravo's connection lost and retrying, and its log source
  lost;
- ``empty``: servers up with nothing on them yet: no containers, no endpoints, no secrets
  declared, no auth event.

``StaticActions`` stands in for the actions service of the migrate, test-login and audit
screens: fixed plans, runs, results and audit entries, with frozen elapsed times.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from console.config import MigrateAction, ServerConfig, TestLoginAction
from console.engine.actions import (
    LoginResult,
    MigrationPlan,
    OutputLine,
    SignatureCheck,
    TokenInfo,
)
from console.engine.audit import AuditEntry, AuditRead
from console.engine.health import HealthSnapshot
from console.engine.logs import SourceStatus
from console.engine.secrets import ServerSecrets, VolumeStatus
from console.models import ActionResult, ConnState
from tests.support.clock import FROZEN_NOW
from tests.support.docker import FakeDaemon, inspect_doc
from tests.support.fleet import (
    FakeFleet,
    FrozenLogService,
    NoActions,
    StaticHealth,
    StaticSecrets,
    StaticService,
    frozen_logs,
    make_config,
    probe_state,
    secret_status,
)
from tests.support.hosts import FakeHost

STATES = ("healthy", "failing", "lost", "empty")


def action_config() -> Any:
    """The standard two servers, with a migration and a test login configured on each."""
    login = TestLoginAction(url="http://127.0.0.1:8080/api/v1/auth/login",
                            json={"email": "${OPS_LOGIN_USER}", "password": "${OPS_LOGIN_PW}"},
                            verify_with_secret="JWT_SECRET")
    migrate = MigrateAction(command=("alembic", "upgrade", "head"), container="crm-backend-1",
                            timeout=120.0)
    return make_config(
        ServerConfig(name="alpha", host="10.0.0.1", compose_project="crm", migrate=migrate,
                     test_login=login),
        ServerConfig(name="bravo", host="10.0.0.2", protected=True, migrate=migrate,
                     test_login=login))


def healthy_daemons() -> dict[str, FakeDaemon]:
    return {
        "alpha": FakeDaemon([
            inspect_doc("a1" * 32, "crm-backend-1", service="backend"),
            inspect_doc("a2" * 32, "crm-nginx-1", service="nginx",
                        started=FROZEN_NOW - timedelta(days=2, hours=4)),
            inspect_doc("a3" * 32, "crm-worker-1", service="worker"),
        ]),
        "bravo": FakeDaemon([
            inspect_doc("b1" * 32, "crm2-backend-1", project="crm2", service="backend",
                        started=FROZEN_NOW - timedelta(hours=20)),
        ]),
    }


class HealthyHealth(StaticHealth):
    def __init__(self) -> None:
        super().__init__()
        self.states = [
            probe_state("alpha", "backend", "ok", ok=True, status=200, reason="200 OK in 7 ms",
                   latency=7.0, history=(6.0, 7.5, 9.0, 7.0), changed_s=4 * 3600),
            probe_state("alpha", "login via nginx", "ok", ok=True, status=200,
                   reason="200 OK in 11 ms", latency=11.0, history=(10.0, 12.0, 11.0),
                   changed_s=4 * 3600),
            probe_state("bravo", "backend", "ok", ok=True, status=200, reason="200 OK in 9 ms",
                   latency=9.0, history=(9.0, 8.0, 9.0), changed_s=20 * 3600),
        ]


class EmptyHealth(StaticHealth):
    def snapshot(self) -> HealthSnapshot:
        return HealthSnapshot(endpoints=())


class HealthySecrets(StaticSecrets):
    def __init__(self) -> None:
        super().__init__()
        env, box = "/srv/crm/.env", "container:crm-backend-1"
        self.servers["alpha"] = dataclasses.replace(self.servers["alpha"], statuses=tuple(
            secret_status("alpha", name, place, "present")
            for name in ("JWT_SECRET", "SERVICE_SECRET") for place in (env, box)))
        self.servers["bravo"] = dataclasses.replace(self.servers["bravo"], statuses=tuple(
            secret_status("bravo", name, "/srv/crm2/.env", "present")
            for name in ("JWT_SECRET", "SERVICE_SECRET")),
            volumes=(VolumeStatus("bravo", "crm2_dbdata", "crm2", "present", True,
                                  used_by=("crm2-backend-1",)),))

    drifting: dict[str, str] = {}


class EmptySecrets(StaticSecrets):
    def __init__(self) -> None:
        super().__init__()
        self.servers = {name: ServerSecrets(server=name, state="ok", since=FROZEN_NOW,
                                            checked_at=FROZEN_NOW - timedelta(seconds=10))
                        for name in ("alpha", "bravo")}

    drifting: dict[str, str] = {}


HEALTHY_LINES = [
    ("alpha", "crm-backend-1", 600, "[AUTH] Login failed: invalid password for ana@example.com"),
    ("alpha", "crm-nginx-1", 420, '172.18.0.1 - - "POST /api/v1/auth/login HTTP/1.1" 401 43'),
    ("bravo", "crm2-backend-1", 200, "[AUTH] JWT expired for user 17 (refresh follows)"),
]


class LostSourceLogs(FrozenLogService):
    """The frozen log pipeline, with bravo's container source lost with its server."""

    def sources(self) -> list[SourceStatus]:
        return [SourceStatus("alpha", "crm-backend-1", "container", "following"),
                SourceStatus("bravo", "crm2-backend-1", "container", "lost",
                             "connection refused; retrying", since=FROZEN_NOW)]


def fleet_for(state: str, config: Any = None) -> FakeFleet:
    """A fleet whose every pane shows ``state`` (one of ``STATES``)."""
    config = config or make_config()
    if state == "healthy":
        fleet = FakeFleet(config, daemons=healthy_daemons(), every_pane=True)
        fleet.health, fleet.secrets = HealthyHealth(), HealthySecrets()
        fleet.logs = FrozenLogService(config, fleet.hosts, containers=StaticService())
        for server, source, ago, text in HEALTHY_LINES:
            fleet.logs.feed(server, source, [text], times=[FROZEN_NOW - timedelta(seconds=ago)])
        return fleet
    if state == "failing":
        return FakeFleet(config, every_pane=True)
    if state == "lost":
        hosts = {"alpha": FakeHost("alpha"),
                 "bravo": FakeHost("bravo", ConnState.RETRYING, "connection refused",
                                   since=FROZEN_NOW - timedelta(seconds=12),
                                   retry_at=FROZEN_NOW + timedelta(seconds=4))}
        fleet = FakeFleet(config, hosts=hosts, every_pane=True)
        logs = LostSourceLogs(config, hosts, containers=StaticService())
        for line in frozen_logs(config, hosts).buffered():
            logs.feed(line.server, line.source, [line.text], times=[line.time])
        fleet.logs = logs
        return fleet
    if state == "empty":
        fleet = FakeFleet(config, daemons={"alpha": FakeDaemon(), "bravo": FakeDaemon()},
                          every_pane=True)
        fleet.health, fleet.secrets = EmptyHealth(), EmptySecrets()
        fleet.logs = FrozenLogService(config, fleet.hosts, containers=StaticService())
        return fleet
    raise ValueError(state)


# --------------------------------------------------------------------------- actions


class FrozenRun:
    """A migration run as the screen reads it, with a fixed elapsed time."""

    def __init__(self, plan: MigrationPlan, lines: list[OutputLine], *, elapsed_s: float,
                 outcome: str = "", exit_status: int | None = None) -> None:
        self.plan = plan
        self.lines = lines
        self.elapsed_s = elapsed_s
        self.outcome = outcome
        self.exit_status = exit_status
        self.dropped_lines = 0
        self.state = "done" if outcome else "running"
        self.finished = asyncio.Event()
        if outcome:
            self.finished.set()

    def subscribe(self, callback: Callable[[OutputLine], None]) -> Callable[[], None]:
        return lambda: None

    def cancel(self) -> bool:
        return False


MIGRATION_OUTPUT = [
    OutputLine("console", "docker exec crm-backend-1 alembic upgrade head", 0.0),
    OutputLine("stdout", "INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.", 0.4),
    OutputLine("stdout", "INFO  [alembic.runtime.migration] Running upgrade 1a2b -> 3c4d, "
               "add sessions table", 0.9),
]
MIGRATION_ERROR = [
    OutputLine("stderr", "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) "
               "connection to server at \"db\" (172.18.0.4), port 5432 failed: "
               "Connection refused", 2.8),
    OutputLine("stderr", "[bold]not markup[/bold] \x1b[2J", 2.9),
]


def _token(exp_in: timedelta) -> TokenInfo:
    iat = FROZEN_NOW - timedelta(minutes=1)
    return TokenInfo(alg="HS256", typ="JWT", iss="crm", sub="ops-probe@example.com", iat=iat,
                     exp=FROZEN_NOW + exp_in, nbf=None,
                     claims=(("sub", "ops-probe@example.com"), ("iss", "crm"),
                             ("iat", str(int(iat.timestamp()))),
                             ("exp", str(int((FROZEN_NOW + exp_in).timestamp())))))


def login_result(verdict: str) -> LoginResult:
    """A login that the backend accepted; its token's signature ``valid`` or ``invalid``."""
    texts = {
        "valid": "valid: signed with JWT_SECRET of alpha crm/.env",
        "invalid": "INVALID: not signed with JWT_SECRET of alpha crm/.env (the running "
                   "backend signs with another secret: recreate it after changing .env)",
    }
    return LoginResult(
        server="alpha", url="http://127.0.0.1:8080/api/v1/auth/login", from_="server",
        ok=True, klass="accepted", reason="200 OK with an access_token", status=200,
        latency_ms=48.0, token_preview="eyJhbGciOiJIUzI1NiIs…(redacted)",
        token=_token(timedelta(minutes=14, seconds=30)),
        signature=SignatureCheck(verdict=verdict, text=texts[verdict],
                                 place="alpha /srv/crm/.env"),
        checked_at=FROZEN_NOW)


def audit_entries() -> AuditRead:
    def entry(n: int, action: str, server: str, target: str, ago_min: int, outcome: str,
              **kw: Any) -> AuditEntry:
        started = FROZEN_NOW - timedelta(minutes=ago_min)
        finished = None if outcome == "unknown" else started + timedelta(seconds=4)
        return AuditEntry(id=f"e{n}", action=action, server=server, target=target,
                          user="ana", host="ops-laptop", started_at=started,
                          finished_at=finished, outcome=outcome,
                          ok=None if outcome == "unknown" else outcome == "succeeded",
                          result={"ok": True} if outcome != "unknown" else {}, **kw)

    return AuditRead(entries=(
        entry(4, "test_login", "alpha", "http://127.0.0.1:8080/api/v1/auth/login", 2,
              "succeeded", detail="accepted, signature INVALID"),
        entry(3, "migrate", "bravo", "crm2-backend-1", 9, "failed", exit_status=1,
              detail="exit status 1: connection refused"),
        entry(2, "restart", "alpha", "crm-backend-1", 25, "succeeded"),
        entry(1, "restart", "bravo", "crm2-backend-1", 61, "unknown",
              detail="no outcome recorded"),
    ), skipped_lines=1)


class StaticActions(NoActions):
    """The actions service of the screens, answering from fixed data."""

    def __init__(self, config: Any, *, run: FrozenRun | None = None,
                 login: LoginResult | None = None) -> None:
        self.config = config
        self.run = run
        self.login = login
        self.audit = type("Audit", (), {"path": "/var/log/ops-console/audit.jsonl"})()

    def plan(self, server: str) -> MigrationPlan | None:
        action = self.config.server(server).migrate
        if action is None:
            return None
        return MigrationPlan(server=server, command=action.command, container=action.container,
                             timeout=action.timeout,
                             protected=self.config.server(server).protected)

    def running_migration(self, server: str) -> FrozenRun | None:
        return self.run

    async def migrate(self, server: str, on_start: Any = None) -> ActionResult:
        raise AssertionError("the snapshots never start a migration")

    async def test_login(self, server: str) -> LoginResult:
        assert self.login is not None
        return self.login

    async def read_audit(self, limit: int | None = None) -> AuditRead:
        return audit_entries()

    def cancel_migration(self, server: str) -> bool:
        return False


def migration_run(failed: bool) -> FrozenRun:
    plan = MigrationPlan(server="alpha", command=("alembic", "upgrade", "head"),
                         container="crm-backend-1", timeout=120.0, protected=False)
    if failed:
        return FrozenRun(plan, MIGRATION_OUTPUT + MIGRATION_ERROR, elapsed_s=3.1,
                         outcome="failed", exit_status=1)
    return FrozenRun(plan, list(MIGRATION_OUTPUT), elapsed_s=4.2)


def with_actions(fleet: FakeFleet, **kwargs: Any) -> FakeFleet:
    fleet.actions = StaticActions(fleet.config, **kwargs)
    return fleet


__all__ = ["STATES", "StaticActions", "action_config", "fleet_for", "login_result",
           "migration_run", "with_actions"]
