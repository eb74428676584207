"""A container removed (``docker rm -f``) while its logs are being followed, then recreated.

A throwaway busybox container with compose labels of a project only this test's config
watches (``ops-faults``, not the lab's crm ones), on server alpha through real SSH. It prints
an auth-looking line every 200 ms, so the logs pane follows it in its default view. Removing
it mid-stream must end the follow cleanly: the pane's status line says the source is gone in
words, its lines stay readable, keys answer, and no traceback shows. Recreating a container
under the same name must be picked up by itself (no keypress), with the new lines flowing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from console.config import load_config
from console.ui.app import OpsConsoleApp
from tests.support.live_app import assert_no_traceback, assert_responsive, until, write_config

pytestmark = [pytest.mark.lab, pytest.mark.timeout(150)]

NAME = "ops-faults-chatter-1"
PROJECT = "ops-faults"


def _config(lab: Any, tmp_path: Path) -> Path:
    return write_config(tmp_path / "config.toml", f"""
[console]
audit_log = "{tmp_path / 'audit.jsonl'}"

[[servers]]
name = "alpha"
host = "127.0.0.1"
port = {lab.ports['alpha']}
user = "root"
identity_file = "{lab.ssh_key}"
known_hosts = "{lab.known_hosts}"
compose_project = "{PROJECT}"
""")


def _run_chatter(lab: Any, generation: str) -> None:
    from tests.lab import BUSYBOX_IMAGE

    script = (f'i=0; while true; do echo "[AUTH] Login failed: invalid password for '
              f'{generation}-$i@example.com"; i=$((i+1)); sleep 0.2; done')
    client = lab.docker()
    try:
        client.containers.run(
            BUSYBOX_IMAGE, ["sh", "-c", script], name=NAME, detach=True,
            labels={"com.docker.compose.project": PROJECT,
                    "com.docker.compose.service": "chatter"})
    finally:
        client.close()


def _remove_chatter(lab: Any) -> None:
    import docker

    client = lab.docker()
    try:
        client.containers.get(NAME).remove(force=True)
    except docker.errors.NotFound:
        pass
    finally:
        client.close()


def _lines(app: Any) -> list[str]:
    return [line.text for line in app.pane("logs").view.lines]


def _status(app: Any) -> str:
    return str(app.pane("logs").query_one("#logs-status").render())


def _listed(app: Any) -> bool:
    return any(r[0].strip() == NAME for r in app.pane("containers").row_texts())


async def test_container_removed_mid_follow_is_said_and_a_new_one_is_followed(
        lab, tmp_path: Path) -> None:
    await asyncio.to_thread(_remove_chatter, lab)
    await asyncio.to_thread(_run_chatter, lab, "first")
    app = OpsConsoleApp(load_config(_config(lab, tmp_path)))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await until(pilot, lambda: sum("first-" in t for t in _lines(app)) >= 5, 30,
                        "the chatter's lines followed")
            await asyncio.to_thread(_remove_chatter, lab)
            await until(pilot, lambda: not _listed(app), 15, "containers pane drops it")
            await until(pilot, lambda: NAME in _status(app), 15,
                        "logs status line names the removed source")
            status = _status(app)
            assert any(w in status for w in ("missing", "no such container", "gone")), status
            kept = sum("first-" in t for t in _lines(app))
            assert kept >= 5, "the removed container's lines vanished from the view"
            await assert_responsive(pilot)
            assert_no_traceback(app)

            # Same name, new container: followed again without a keypress.
            await asyncio.to_thread(_run_chatter, lab, "second")
            await until(pilot, lambda: sum("second-" in t for t in _lines(app)) >= 3, 30,
                        "the recreated container's lines followed")
            await until(pilot, lambda: NAME not in _status(app), 10,
                        "the status line no longer reports the source as gone")
            await assert_responsive(pilot)
            assert_no_traceback(app)
            await pilot.press("q")
    finally:
        await asyncio.to_thread(_remove_chatter, lab)
