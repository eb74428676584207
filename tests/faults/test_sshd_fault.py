"""sshd killed under a running console, then restarted: every pane says so, keys answer.

tests/integration/test_containers_lab.py already shows the containers pane noticing a lost
sshd within 5 s and recovering; this extends that to the whole screen: the health and
secrets panes and the header name the lost server in words, a keypress round trip stays
under 200 ms while the server is gone, nothing on screen is a traceback, and every pane of
that server comes back by itself once sshd answers again.
"""

from __future__ import annotations

from typing import Any

import pytest

from console.config import load_config
from console.ui.app import OpsConsoleApp
from tests.support.live_app import assert_no_traceback, assert_responsive, until

pytestmark = [pytest.mark.lab, pytest.mark.timeout(150)]

DOWN_WORDS = ("lost", "retrying", "unavailable", "connecting")


def _server_row(app: Any, pane: str, server: str) -> tuple[str, ...] | None:
    return next((r for r in app.pane(pane).row_texts() if r[0] == f"▾ {server}"), None)


def _health_ok(app: Any, server: str) -> bool:
    row = _server_row(app, "health", server)
    return row is not None and row[1].endswith(" ok")


def _secrets_line(app: Any, server: str) -> str:
    return next((line for line in app.pane("secrets").plain_lines()
                 if line.startswith(f"{server}  ")), "")


def _header(app: Any) -> str:
    return str(app.query_one("#status-bar").render())


async def test_sshd_killed_every_pane_says_so_keys_answer_and_it_recovers(lab_clean) -> None:
    app = OpsConsoleApp(load_config(lab_clean.config_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: _health_ok(app, "alpha") and _health_ok(app, "bravo"), 40,
                    "both servers' health probes ok")
        await until(pilot, lambda: "checked" in _secrets_line(app, "alpha"), 30,
                    "alpha's secrets checked")
        with lab_clean.sshd_stopped("alpha"):
            await until(pilot, lambda: "alpha up" not in _header(app), 10,
                        "header shows alpha not up")
            await until(pilot, lambda: any(w in _secrets_line(app, "alpha")
                                           for w in DOWN_WORDS), 5,
                        "secrets pane says alpha is down")
            containers = _server_row(app, "containers", "alpha")
            assert containers is not None and containers[1] in DOWN_WORDS, containers
            # The health pane waits a beat (COALESCE_S) to redraw a round of probes at once.
            await until(pilot, lambda: (_server_row(app, "health", "alpha") or ("", ""))[1]
                        in DOWN_WORDS, 2, "health pane says alpha is down")
            assert "showing the last check" in _secrets_line(app, "alpha")
            await assert_responsive(pilot)
            # bravo is a separate connection and stays live.
            assert "bravo up" in _header(app)
            assert _server_row(app, "containers", "bravo")[1] == "up"
            assert_no_traceback(app)
        await until(pilot, lambda: "alpha up" in _header(app), 60, "alpha reconnects by itself")
        await until(pilot, lambda: _health_ok(app, "alpha"), 30, "alpha's probes ok again")
        await until(pilot, lambda: _secrets_line(app, "alpha").startswith("alpha  all required"),
                    30, "alpha's secrets checked again")
        assert _server_row(app, "containers", "alpha")[1] == "up"
        await assert_responsive(pilot)
        assert_no_traceback(app)
        await pilot.press("q")
