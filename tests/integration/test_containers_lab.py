"""The TUI, headless, against the real lab through real SSH: the containers pane and restart.

Every test drives ``OpsConsoleApp`` with the lab's generated config (two sshd on loopback,
so every Docker call goes through an SSH-forwarded socket) and checks the result against
the Docker API directly, not against what the console says about itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Input

from console.config import load_config
from console.ui.app import OpsConsoleApp
from console.ui.screens.confirm import ConfirmScreen

pytestmark = [pytest.mark.lab, pytest.mark.timeout(180)]


async def until(pilot: Any, predicate: Callable[[], bool], timeout: float,
                what: str) -> float:
    """Wait for a condition while the app runs; returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        await pilot.pause(0.05)
    return time.monotonic() - start


def rows(app: OpsConsoleApp) -> list[tuple[str, ...]]:
    return app.pane("containers").row_texts()


def row(app: OpsConsoleApp, name: str) -> tuple[str, ...] | None:
    return next((r for r in rows(app) if r[0].strip() == name), None)


def server_row(app: OpsConsoleApp, server: str) -> tuple[str, ...]:
    return next(r for r in rows(app) if r[0] == f"▾ {server}")


async def started_at(lab: Any, name: str) -> str:
    """StartedAt straight from the Docker API (not through the console)."""
    def read() -> str:
        client = lab.docker()
        try:
            return client.api.inspect_container(name)["State"]["StartedAt"]
        finally:
            client.close()

    return await asyncio.to_thread(read)


def make_app(lab: Any) -> OpsConsoleApp:
    return OpsConsoleApp(load_config(lab.config_path))


async def wait_listed(pilot: Any) -> None:
    app = pilot.app
    await until(pilot, lambda: all(row(app, n) is not None and row(app, n)[1] == "running"
                                   for n in ("crm-backend-1", "crm-nginx-1",
                                             "crm2-backend-1")),
                30, "the lab's containers listed as running")


async def restart_through_ui(pilot: Any, lab: Any, server: str, name: str,
                             confirm: Callable[[], Any]) -> list[str]:
    """Select, press r, confirm with ``confirm()``; returns the states the row went through."""
    app = pilot.app
    pane = app.pane("containers")
    seen: list[str] = []

    def watch(_change: object) -> None:
        info = next((c for c in app.fleet.containers.snapshot()[server].containers
                     if c.name == name), None)
        if info is not None and (not seen or seen[-1] != info.state):
            seen.append(info.state)

    unsubscribe = app.fleet.containers.subscribe(watch)
    try:
        before = await started_at(lab, name)
        pane.focus()
        assert pane.select_container_row(server, name)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "confirm modal")
        await confirm()
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), 5,
                    "modal closed")
        # The restart really happened: Docker's own StartedAt moved on.
        deadline = time.monotonic() + 60
        while await started_at(lab, name) == before:
            assert time.monotonic() < deadline, f"{name} was not restarted"
            await pilot.pause(0.2)
        await until(pilot, lambda: row(app, name) is not None and row(app, name)[1] == "running",
                    60, f"{name} shown running again")
    finally:
        unsubscribe()
    return seen


async def test_tui_shows_the_lab_containers_through_ssh(lab_clean: Any) -> None:
    app = make_app(lab_clean)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_listed(pilot)
        from console.engine.hosts import SSHHost
        assert all(isinstance(h, SSHHost) for h in app.fleet.hosts.values())
        assert server_row(app, "alpha")[1] == "up"
        assert server_row(app, "bravo")[1] == "up"
        names = [r[0].strip() for r in rows(app)]
        # Grouped: each server, then its compose project, then its containers.
        assert names.index("▾ alpha") < names.index("crm") < names.index("crm-backend-1")
        assert names.index("▾ bravo") < names.index("crm2") < names.index("crm2-backend-1")
        assert names.index("crm-nginx-1") < names.index("▾ bravo")  # compose_project filter
        backend = row(app, "crm-backend-1")
        assert backend[2] in ("healthy", "starting") and backend[5] == "ops-lab-app:1"
        assert backend[3].isdigit()
        header = str(app.query_one("#status-bar").render())
        assert "alpha up" in header and "bravo up" in header
        await pilot.press("q")


async def test_r_then_y_restarts_an_alpha_container(lab_clean: Any) -> None:
    app = make_app(lab_clean)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_listed(pilot)

        async def press_y() -> None:
            assert app.screen.typed_name is None  # alpha is not protected
            await pilot.press("y")

        seen = await restart_through_ui(pilot, lab_clean, "alpha", "crm-nginx-1", press_y)
        assert seen[0] == "restarting" and seen[-1] == "running", seen
        await until(pilot, lambda: row(app, "crm-nginx-1")[2] == "healthy", 60,
                    "nginx healthy again (health events)")


async def test_restart_on_protected_bravo_needs_the_typed_name(lab_clean: Any) -> None:
    app = make_app(lab_clean)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_listed(pilot)
        before = await started_at(lab_clean, "crm2-backend-1")

        async def type_name() -> None:
            screen = app.screen
            assert screen.typed_name == "bravo"
            assert isinstance(app.focused, Input)
            await pilot.press("y", "enter")  # not enough on a protected server
            await pilot.pause(0.5)
            assert app.screen is screen
            assert await started_at(lab_clean, "crm2-backend-1") == before
            app.focused.value = ""
            await pilot.press(*"bravo", "enter")

        seen = await restart_through_ui(pilot, lab_clean, "bravo", "crm2-backend-1",
                                        type_name)
        assert "restarting" in seen and seen[-1] == "running", seen


async def test_lost_sshd_is_shown_within_5s_and_recovers_by_itself(lab_clean: Any) -> None:
    app = make_app(lab_clean)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_listed(pilot)
        with lab_clean.sshd_stopped("alpha"):
            took = await until(pilot, lambda: server_row(app, "alpha")[1] != "up", 5,
                               "alpha shown as not up")
            assert took < 5
            state = server_row(app, "alpha")
            assert state[1] in ("lost", "retrying", "unavailable"), state
            assert "last known state" in state[5]
            # The rest of the UI keeps working: bravo is live, keys answer.
            assert server_row(app, "bravo")[1] == "up"
            await pilot.press("question_mark")
            await until(pilot, lambda: app.screen.__class__.__name__ == "HelpScreen", 2,
                        "help opens while alpha is down")
            await pilot.press("escape")
        await until(pilot, lambda: server_row(app, "alpha")[1] == "up", 60,
                    "alpha back up by itself")
        assert "last known state" not in server_row(app, "alpha")[5]
        assert row(app, "crm-backend-1")[1] == "running"
