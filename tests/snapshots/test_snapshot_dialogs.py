"""Snapshots of every dialog: restart confirm (plain and protected), migrate running and
failed, test login with a valid and an INVALID signature, the audit view, the health and
log detail views, and the main screen in each of the three shipped themes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from console.ui.app import OpsConsoleApp
from console.ui.screens.audit_view import AuditScreen, open_audit
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.health_detail import HealthDetailScreen
from console.ui.screens.log_detail import LogDetailScreen
from console.ui.screens.migrate import MigrateScreen
from console.ui.screens.test_login import TestLoginScreen
from tests.snapshots.scenes import (
    action_config,
    fleet_for,
    login_result,
    migration_run,
    with_actions,
)
from tests.support.clock import FROZEN_NOW
from tests.support.fleet import FakeFleet, make_config
from tests.support.ui import wait_loaded

SIZE = (120, 36)


def build(fleet: FakeFleet) -> OpsConsoleApp:
    return OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW)


async def until_screen(pilot: Any, kind: type, ready: Callable[[Any], bool] = lambda s: True
                       ) -> None:
    for _ in range(300):
        screen = pilot.app.screen
        if isinstance(screen, kind) and ready(screen):
            break
        await pilot.pause(0.01)
    await pilot.pause(0.2)


def then(*keys: str, screen: type, ready: Callable[[Any], bool] = lambda s: True,
         before: Callable[[Any], None] | None = None) -> Callable[[Any], Awaitable[None]]:
    async def run_before(pilot: Any) -> None:
        await wait_loaded(pilot)
        if before is not None:
            before(pilot)
            await pilot.pause()
        await pilot.press(*keys)
        await until_screen(pilot, screen, ready)

    return run_before


def select(server: str, name: str) -> Callable[[Any], None]:
    def pick(pilot: Any) -> None:
        pane = pilot.app.pane("containers")
        pane.focus()
        assert pane.select_container_row(server, name)

    return pick


def test_restart_confirm(snap_compare: Any) -> None:
    assert snap_compare(build(with_actions(fleet_for("failing"))), terminal_size=SIZE,
                        run_before=then("r", screen=ConfirmScreen,
                                        before=select("alpha", "crm-backend-1")))


def test_restart_confirm_on_a_protected_server_asks_for_its_name(snap_compare: Any) -> None:
    assert snap_compare(build(with_actions(fleet_for("failing"))), terminal_size=SIZE,
                        run_before=then("r", *"brav", screen=ConfirmScreen,
                                        before=select("bravo", "crm2-backend-1")))


def test_migrate_running(snap_compare: Any) -> None:
    fleet = with_actions(fleet_for("failing", action_config()), run=migration_run(False))
    assert snap_compare(build(fleet), terminal_size=SIZE,
                        run_before=then("m", screen=MigrateScreen,
                                        ready=lambda s: s.state == "running"))


def test_migrate_failed(snap_compare: Any) -> None:
    fleet = with_actions(fleet_for("failing", action_config()), run=migration_run(True))
    assert snap_compare(build(fleet), terminal_size=SIZE,
                        run_before=then("m", screen=MigrateScreen,
                                        ready=lambda s: s.state == "done"))


@pytest.mark.parametrize("verdict", ["valid", "invalid"])
def test_test_login(snap_compare: Any, verdict: str) -> None:
    fleet = with_actions(fleet_for("failing", action_config()), login=login_result(verdict))
    assert snap_compare(build(fleet), terminal_size=SIZE,
                        run_before=then("t", screen=TestLoginScreen,
                                        ready=lambda s: s.result is not None))


def test_audit_view(snap_compare: Any) -> None:
    assert snap_compare(build(with_actions(fleet_for("failing"))), terminal_size=SIZE,
                        run_before=then(screen=AuditScreen, ready=lambda s: s.read is not None,
                                        before=lambda pilot: open_audit(pilot.app)))


def test_health_detail(snap_compare: Any) -> None:
    def on_the_502(pilot: Any) -> None:
        pane = pilot.app.pane("health")
        pane.focus()
        assert pane.select_endpoint("alpha", "login via nginx")

    assert snap_compare(build(fleet_for("failing")), terminal_size=SIZE,
                        run_before=then("enter", screen=HealthDetailScreen, before=on_the_502))


def test_log_detail(snap_compare: Any) -> None:
    assert snap_compare(build(fleet_for("failing")), terminal_size=SIZE,
                        run_before=then("2", "up", "up", "enter", screen=LogDetailScreen))


@pytest.mark.parametrize("theme", ["ops-dark", "ops-light", "ops-high-contrast"])
def test_theme(snap_compare: Any, theme: str) -> None:
    fleet = fleet_for("failing", make_config(theme=theme))
    assert snap_compare(build(fleet), terminal_size=(160, 48), run_before=wait_loaded)
