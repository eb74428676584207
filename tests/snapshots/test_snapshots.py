"""Snapshots of the main screen (80x24 and 160x48) and the help screen.

Deterministic: fake hosts and a fake Docker daemon (tests/support/), a frozen clock for
every time-dependent text (uptime, "retrying 12s ago"), no cursor blink (conftest.py).
Every pane is the real widget; the health and secrets panes read fixed states and the logs
pane the real LogService holding fixed lines (tests/support/fleet.py), so the main screen
shows a 502, a drifting JWT_SECRET and auth events as in an incident. Update with
``--snapshot-update`` after a deliberate change, and look at the report before accepting it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from console.models import ConnState
from console.ui.app import OpsConsoleApp
from console.ui.screens.help import HelpScreen
from tests.support.clock import FROZEN_NOW
from tests.support.fleet import FakeFleet, make_config
from tests.support.hosts import FakeHost
from tests.support.ui import wait_loaded


def build_app(fleet: FakeFleet) -> OpsConsoleApp:
    return OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW)


def test_main_screen_80x24(snap_compare: Any) -> None:
    assert snap_compare(build_app(FakeFleet(every_pane=True)), terminal_size=(80, 24),
                        run_before=wait_loaded)


def test_main_screen_160x48_with_a_server_down(snap_compare: Any) -> None:
    config = make_config()
    hosts = {
        "alpha": FakeHost("alpha"),
        "bravo": FakeHost("bravo", ConnState.RETRYING, "connection refused",
                          since=FROZEN_NOW - timedelta(seconds=12),
                          retry_at=FROZEN_NOW + timedelta(seconds=4)),
    }
    app = build_app(FakeFleet(config, hosts=hosts, every_pane=True))
    assert snap_compare(app, terminal_size=(160, 48), run_before=wait_loaded)


def test_help_screen(snap_compare: Any) -> None:
    async def open_help(pilot: Any) -> None:
        await wait_loaded(pilot)
        await pilot.press("question_mark")
        for _ in range(100):
            if isinstance(pilot.app.screen, HelpScreen):
                break
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(build_app(FakeFleet(every_pane=True)), terminal_size=(100, 36),
                        run_before=open_help)
