"""dockerd stopped under a running console, then started again.

The lab and every other test share one dockerd, so the outage is kept short and always
undone: dockerd is stopped with SIGTERM (a real ``systemctl stop docker``: the socket goes
away, containers are stopped) while holding the lab's lock (another test's ``reset()`` waits
instead of racing us), and afterwards ``lab.reset()`` starts it again exactly as the lab
does (``ensure_dockerd``) and brings the containers back (their restart policy is "no").
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest

from console.config import load_config
from console.ui.app import OpsConsoleApp
from tests.support.live_app import assert_no_traceback, assert_responsive, until

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]


def _server_row(app: Any, server: str) -> tuple[str, ...] | None:
    return next((r for r in app.pane("containers").row_texts() if r[0] == f"▾ {server}"),
                None)


def _listed_running(app: Any, name: str) -> bool:
    return any(r[0].strip() == name and r[1] == "running"
               for r in app.pane("containers").row_texts())


def _stop_dockerd(timeout: float = 30.0) -> None:
    """SIGTERM the lab's dockerd and wait until its socket stops answering."""
    from tests.lab.system import DOCKER_PID, docker_answers, read_pid

    pid = read_pid(DOCKER_PID)
    assert pid, "the lab's dockerd has no pid file"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while docker_answers(0.5):
        assert time.monotonic() < deadline, "dockerd still answers after SIGTERM"
        time.sleep(0.1)


async def test_dockerd_stopped_then_started_is_shown_and_recovers(lab_clean) -> None:
    from tests.lab.system import locked

    app = OpsConsoleApp(load_config(lab_clean.config_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: _listed_running(app, "crm-backend-1")
                    and _listed_running(app, "crm2-backend-1"), 40, "containers listed")
        try:
            with locked(lab_clean.layout.lock):
                await asyncio.to_thread(_stop_dockerd)
                await until(pilot, lambda: _server_row(app, "alpha")[1] == "unavailable", 15,
                            "containers pane says Docker is unavailable on alpha")
                row = _server_row(app, "alpha")
                assert "docker" in row[5].lower(), row  # names Docker, in words
                # The SSH link itself is fine: the header still says up.
                assert "alpha up" in str(app.query_one("#status-bar").render())
                await assert_responsive(pilot)
                assert_no_traceback(app)
        finally:
            await asyncio.to_thread(lab_clean.reset)  # dockerd started + containers back
        await until(pilot, lambda: _server_row(app, "alpha")[1] == "up"
                    and _server_row(app, "bravo")[1] == "up", 60,
                    "containers pane back to up by itself")
        await until(pilot, lambda: _listed_running(app, "crm-backend-1")
                    and _listed_running(app, "crm2-backend-1"), 60,
                    "the recreated containers listed as running")
        await assert_responsive(pilot)
        assert_no_traceback(app)
        await pilot.press("q")
