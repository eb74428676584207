"""The migrate, test-login and audit screens over a real ActionService with fakes under it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, RichLog, Static

from console.config import SecretsConfig
from console.engine.audit import AuditLog
from console.ui.screens.audit_view import AuditScreen, action_commands
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.migrate import MigrateScreen
from console.ui.screens.test_login import TestLoginScreen as LoginScreen
from console.ui.screens.test_login import format_time_left
from tests.support.actions import (
    PASSWORD,
    SECRET,
    action_config,
    fleet_for,
    good_login,
    login_config,
)
from tests.support.docker import FakeDockerClient
from tests.support.http import LoginServer
from tests.support.ui import Harness, messages, until

pytestmark = pytest.mark.timeout(60)
SIZE = (120, 40)


def log_text(screen: Any) -> str:
    if not screen.is_mounted:
        return ""
    log = screen.query_one("#output", RichLog)
    return "\n".join("".join(seg.text for seg in strip) for strip in log.lines)


def static_text(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def audit_phases(config: Any) -> list[tuple[str, str | None]]:
    lines = config.console.audit_log.read_text().splitlines()
    return [(r["phase"], r.get("outcome")) for r in map(json.loads, lines)]


# --------------------------------------------------------------------------- migrate


async def test_migrate_confirms_then_streams_output_and_exit_status(tmp_path: Path):
    client = FakeDockerClient()
    client.daemon.script.update(frames=[(b"[MIGRATE] schema version 1\n", None),
                                     (None, b"[MIGRATE] ERROR: boom\n")], exit_code=2)
    config = action_config(tmp_path)
    app = Harness(fleet_for(config, client), lambda fleet: MigrateScreen(fleet, "alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#body", Static).render())
        assert "alembic upgrade head" in body and "in container app on alpha" in body
        assert app.screen.typed_name is None  # alpha is not protected
        assert client.daemon.created == []  # nothing runs before the yes
        await pilot.press("y")
        screen = app.screen
        assert isinstance(screen, MigrateScreen)
        await until(pilot, lambda: screen.state == "done")
        await pilot.pause(0.2)
        output = log_text(screen)
        assert "[MIGRATE] schema version 1" in output
        assert "! [MIGRATE] ERROR: boom" in output
        status = static_text(screen, "#status")
        assert "failed: exit status 2" in status and "boom" in status
        assert audit_phases(config) == [("intent", None), ("outcome", "failed")]
        await pilot.press("escape")
        await until(pilot, lambda: app.dismissed)
    assert app.dismissed[0].exit_status == 2


async def test_protected_server_needs_the_typed_name(tmp_path: Path):
    client = FakeDockerClient()
    config = action_config(tmp_path)
    config = dataclasses.replace(config, servers=(
        dataclasses.replace(config.servers[0], protected=True),))
    app = Harness(fleet_for(config, client), lambda fleet: MigrateScreen(fleet, "alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.typed_name == "alpha"
        await pilot.press("y")  # not enough on a protected server
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and client.daemon.created == []
        app.screen.query_one("#typed", Input).value = "alpha"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MigrateScreen)
                    and app.screen.state == "done")
    assert len(client.daemon.created) == 1


async def test_declining_runs_nothing(tmp_path: Path):
    client = FakeDockerClient()
    config = action_config(tmp_path)
    app = Harness(fleet_for(config, client), lambda fleet: MigrateScreen(fleet, "alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: app.dismissed)
        assert any("nothing was run" in m for m in messages(app))
    assert client.daemon.created == [] and not config.console.audit_log.exists()


async def test_c_cancels_a_running_migration(tmp_path: Path):
    client = FakeDockerClient()
    client.daemon.script.update(frames=[(b"working\n", None)], hang=True)
    config = action_config(tmp_path)
    app = Harness(fleet_for(config, client), lambda fleet: MigrateScreen(fleet, "alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        screen = app.screen
        await until(pilot, lambda: screen.run is not None and screen.run.pid is not None)
        await until(pilot, lambda: "working" in log_text(screen))
        assert "running" in static_text(screen, "#status")
        await pilot.press("q")  # closing is refused while it runs
        assert app.screen is screen
        await pilot.press("c")
        await until(pilot, lambda: screen.state == "done")
        assert "cancelled: exit status 143" in static_text(screen, "#status")
        output = log_text(screen)  # lines that came after the first flush are there too
        assert "» cancelling: cancelled by the operator" in output
        assert "» cancelled: cancelled by the operator; exit status 143" in output
    assert audit_phases(config)[-1] == ("outcome", "cancelled")


async def test_read_only_refuses_without_asking(tmp_path: Path):
    client = FakeDockerClient()
    config = action_config(tmp_path, read_only=True)
    app = Harness(fleet_for(config, client), lambda fleet: MigrateScreen(fleet, "alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MigrateScreen))
        await pilot.pause(0.1)
        screen = app.screen
        assert screen.state == "refused"
        assert "Read-only mode" in static_text(screen, "#status")
        assert not isinstance(app.screen, ConfirmScreen)
    assert client.daemon.created == []


async def test_server_output_is_shown_literally(tmp_path: Path):
    client = FakeDockerClient()
    hostile = b"[bold]not bold[/bold] [/foo] \x1b[2J\x1b]52;c;aGk=\x07 done\n"
    client.daemon.script.update(frames=[(hostile, None)])
    config = action_config(tmp_path)
    app = Harness(fleet_for(config, client), lambda fleet: MigrateScreen(fleet, "alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        screen = app.screen
        await until(pilot, lambda: screen.state == "done")
        await pilot.pause(0.2)
        output = log_text(screen)
    assert "[bold]not bold[/bold] [/foo]" in output
    assert "\\x1b[2J" in output and "\\x07" in output and "\x1b" not in output


async def test_reopening_attaches_to_the_running_migration(tmp_path: Path):
    client = FakeDockerClient()
    client.daemon.script.update(frames=[(b"step 1\n", None)], hang=True)
    config = action_config(tmp_path)
    fleet = fleet_for(config, client)
    app = Harness(fleet, lambda fleet: None)
    async with app.run_test(size=SIZE) as pilot:
        task = asyncio.create_task(fleet.actions.migrate("alpha"))
        await until(pilot, lambda: fleet.actions.running_migration("alpha") is not None
                    and fleet.actions.running_migration("alpha").lines)
        screen = MigrateScreen(fleet, "alpha")
        app.push_screen(screen)
        await until(pilot, lambda: "step 1" in log_text(screen))
        assert not isinstance(app.screen, ConfirmScreen)
        entries = [label for label, _, _ in action_commands(app)]
        assert "Cancel migration on alpha" in entries and "Audit log" in entries
        await pilot.press("c")
        await until(pilot, lambda: screen.state == "done")
        await asyncio.wait_for(task, 10)
        assert [label for label, _, _ in action_commands(app)] == ["Audit log"]


# --------------------------------------------------------------------------- test-login


async def test_test_login_screen_shows_class_claims_expiry_and_signature(tmp_path: Path,
                                                                         monkeypatch):
    monkeypatch.setenv("OPS_LOGIN_USER", "admin@example.com")
    monkeypatch.setenv("OPS_LOGIN_PASSWORD", PASSWORD)
    env_file = tmp_path / "crm.env"
    env_file.write_text(f"JWT_SECRET={SECRET}-but-changed\n")

    async with LoginServer(good_login) as server:
        config = login_config(tmp_path, server.url, verify_with_secret="JWT_SECRET")
        config = dataclasses.replace(config, servers=(dataclasses.replace(
            config.servers[0], secrets=SecretsConfig(env_files=(str(env_file),))),))
        app = Harness(fleet_for(config, FakeDockerClient()),
                      lambda fleet: LoginScreen(fleet, "alpha"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, LoginScreen)
                        and app.screen.result is not None)
            screen = app.screen
            outcome = static_text(screen, "#outcome")
            assert outcome.startswith("accepted") and "HTTP 200" in outcome
            assert " ms" in outcome
            assert "alg HS256" in static_text(screen, "#token")
            table = screen.query_one("#claims", DataTable)
            rows = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[1])
                    for i in range(table.row_count)}
            assert rows["sub"] == "admin@example.com" and rows["iss"] == "crm-backend"
            assert "UTC" in rows["exp"] and "UTC" in rows["iat"]
            assert "left" in static_text(screen, "#expiry")
            signature = static_text(screen, "#signature")
            assert "signature INVALID: the secret differs" in signature
            screen_text = "\n".join(static_text(screen, f"#{i}") for i in
                                    ("request", "outcome", "token", "expiry", "signature"))
            assert PASSWORD not in screen_text and SECRET not in screen_text
            await pilot.press("r")
            await until(pilot, lambda: len(server.requests) == 2 and not screen.busy)
            await pilot.press("escape")
            await until(pilot, lambda: app.dismissed)


async def test_test_login_screen_names_a_missing_variable(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("OPS_LOGIN_USER", raising=False)
    monkeypatch.delenv("OPS_LOGIN_PASSWORD", raising=False)
    config = login_config(tmp_path, "http://127.0.0.1:9/login")
    app = Harness(fleet_for(config), lambda fleet: LoginScreen(fleet, "alpha"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and app.screen.refusal)
        assert "OPS_LOGIN_USER is not set" in static_text(app.screen, "#outcome")


def test_format_time_left():
    assert format_time_left(872) == "14m 32s left"
    assert format_time_left(7500) == "2h 05m left"
    assert format_time_left(-190) == "expired 3m 10s ago"
    assert format_time_left(None) == "no expiry"
    assert format_time_left(3 * 86400 + 3600) == "3d 01h left"


# --------------------------------------------------------------------------- audit view


async def test_audit_view_lists_newest_first_with_unfinished_and_torn_lines(tmp_path: Path):
    config = action_config(tmp_path)
    log = AuditLog(config.console.audit_log, user="alice", hostname="box")
    done = log.intent("restart", "alpha", "crm-backend-1")
    log.outcome(done, "restart", "alpha", "crm-backend-1", outcome="succeeded", ok=True)
    await asyncio.sleep(0.01)
    log.intent("migrate", "alpha", "[red]crm-backend-1")  # the console died here
    with config.console.audit_log.open("ab") as handle:
        handle.write(b'{"v":1,"id":"x","pha')
    app = Harness(fleet_for(config), lambda fleet: AuditScreen(fleet))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, AuditScreen)
                    and app.screen.read is not None)
        screen = app.screen
        table = screen.query_one("#entries", DataTable)
        first = [str(cell) for cell in table.get_row_at(0)]
        second = [str(cell) for cell in table.get_row_at(1)]
        assert first[3] == "migrate" and first[5] == "no outcome recorded"
        assert first[4] == "[red]crm-backend-1" and first[1] == "alice@box"
        assert second[3] == "restart" and second[5] == "succeeded"
        assert "1 unreadable line(s) skipped" in static_text(screen, "#title")
        await pilot.press("q")
        await until(pilot, lambda: app.dismissed)
