"""Snapshots of every pane in every state an operator meets: healthy, failing, a server
lost, and empty; the whole grid for each, and each pane zoomed (``z``) when it is failing
and when a server is lost. Fixed data from scenes.py, frozen clock, no cursor blink."""

from __future__ import annotations

from typing import Any

import pytest

from console.ui.app import OpsConsoleApp
from tests.snapshots.scenes import STATES, fleet_for
from tests.support.clock import FROZEN_NOW
from tests.support.ui import wait_loaded

PANE_KEYS = {"containers": "1", "logs": "2", "health": "3", "secrets": "4"}


def app_in(state: str) -> OpsConsoleApp:
    fleet = fleet_for(state)
    return OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW)


@pytest.mark.parametrize("state", STATES)
def test_every_pane(snap_compare: Any, state: str) -> None:
    assert snap_compare(app_in(state), terminal_size=(160, 48), run_before=wait_loaded)


@pytest.mark.parametrize("state", ["failing", "lost"])
@pytest.mark.parametrize("pane", list(PANE_KEYS))
def test_one_pane_zoomed(snap_compare: Any, pane: str, state: str) -> None:
    async def zoom(pilot: Any) -> None:
        await wait_loaded(pilot)
        await pilot.press(PANE_KEYS[pane], "z")
        await pilot.pause(0.2)

    assert snap_compare(app_in(state), terminal_size=(120, 36), run_before=zoom)


def test_logs_tab_at_80x24_wraps_long_lines(snap_compare: Any) -> None:
    async def logs_tab(pilot: Any) -> None:
        await wait_loaded(pilot)
        await pilot.press("2")
        await pilot.pause(0.2)

    assert snap_compare(app_in("failing"), terminal_size=(80, 24), run_before=logs_tab)
