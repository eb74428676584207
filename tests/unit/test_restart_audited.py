"""The app's restart goes through the actions service only: audited, or not run at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.ui.app import OpsConsoleApp
from console.ui.screens.confirm import ConfirmScreen
from tests.support.clock import FROZEN_NOW
from tests.support.fleet import FakeFleet
from tests.support.ui import PLACEHOLDERS, messages, until

pytestmark = pytest.mark.timeout(60)


async def confirm_restart_of_the_backend(app: OpsConsoleApp, pilot: Any) -> None:
    """Load the containers pane, select alpha's crm-backend-1, press r, confirm with y."""
    pane = app.pane("containers")
    await until(pilot, lambda: any(r[0].strip() == "crm-backend-1" for r in pane.row_texts()))
    # The operator's choice (a programmatic cursor move is not one: the next diagnosis
    # would put the cursor back on its finding's container).
    assert pane.select_container_row("alpha", "crm-backend-1")
    await pilot.press("r")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
    assert "audit log" in str(app.screen.query_one("#body").render())
    await pilot.press("y")


def make_app(fleet: FakeFleet) -> OpsConsoleApp:
    return OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW,
                         pane_classes=dict(PLACEHOLDERS))


async def test_a_restart_from_the_app_writes_its_intent_and_outcome(tmp_path: Path) -> None:
    fleet = FakeFleet(audit_log=tmp_path / "audit.jsonl")
    app = make_app(fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await confirm_restart_of_the_backend(app, pilot)
        await until(pilot, lambda: "crm-backend-1 on alpha restarted." in messages(app))
    assert ("restart", "a1" * 32) in fleet.daemons["alpha"].calls
    records = [json.loads(line)
               for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["action"], r["target"]) for r in records] == [
        ("intent", "restart", "crm-backend-1"), ("outcome", "restart", "crm-backend-1")]
    assert records[1]["outcome"] == "succeeded" and records[0]["id"] == records[1]["id"]


async def test_no_audit_log_means_no_restart(tmp_path: Path) -> None:
    """The audit log cannot be written (its directory is a file): the restart is refused
    and the container is not touched."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    fleet = FakeFleet(audit_log=blocker / "audit.jsonl")
    app = make_app(fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await confirm_restart_of_the_backend(app, pilot)
        await until(pilot, lambda: any("must not run unaudited" in m for m in messages(app)))
        await pilot.pause(0.2)
    assert not any(call[0] == "restart" for call in fleet.daemons["alpha"].calls)


async def test_a_fleet_without_an_actions_service_restarts_nothing(tmp_path: Path) -> None:
    """No unaudited way round: without the actions service, no restart reaches the
    container service either."""
    fleet = FakeFleet(audit_log=tmp_path / "audit.jsonl")
    fleet.actions = None
    fleet.services = [fleet.containers]
    app = make_app(fleet)
    async with app.run_test(size=(120, 40)) as pilot:
        await confirm_restart_of_the_backend(app, pilot)
        await until(pilot, lambda: any("Restart of crm-backend-1 on alpha failed" in m
                                       for m in messages(app)))
        await pilot.pause(0.2)
    assert not any(call[0] == "restart" for call in fleet.daemons["alpha"].calls)
    assert not (tmp_path / "audit.jsonl").exists()
