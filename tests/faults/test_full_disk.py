"""A full disk under the audit log and under a report being written.

tests/unit/test_audit.py shows the AuditLog refusing on a really full tmpfs; this is the
operator's side of it: the console running over the lab, its audit log on a 64 KiB tmpfs
filled to the last byte. A restart asked for through the UI must be refused *before* it
runs, with words that say why (no unaudited action), the container must really not have
been restarted, the keys must keep answering, and once space is freed the next restart goes
through and is audited, without restarting the console. ``report -o`` onto the full disk
must fail with a one-line message and exit 2, leaving no half-written report behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.config import load_config
from console.engine.audit import read_audit
from console.ui.app import OpsConsoleApp
from console.ui.screens.confirm import ConfirmScreen
from tests.ci import tmpfs
from tests.support.live_app import assert_no_traceback, assert_responsive, until
from tests.support.ui import messages

pytestmark = [pytest.mark.lab, pytest.mark.timeout(180)]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, filled completely by ``filler``; unmounted afterwards."""
    with tmpfs(tmp_path / "disk", "64k") as mount_point:
        fill(mount_point / "filler")
        yield mount_point


def fill(path: Path) -> None:
    with contextlib.suppress(OSError), path.open("wb", buffering=0) as filler:
        while True:
            filler.write(b"\0" * 512)
    with contextlib.suppress(OSError), path.open("ab", buffering=0) as filler:
        while True:
            filler.write(b"\0")


def _config_on(lab: Any, disk: Path, tmp_path: Path) -> Path:
    text = lab.config_path.read_text()
    old = f'audit_log = "{lab.audit_log}"'
    assert old in text, "the lab config's audit_log line moved"
    path = tmp_path / "config.toml"
    path.write_text(text.replace(old, f'audit_log = "{disk / "audit.jsonl"}"'))
    return path


def _started_at(lab: Any, name: str) -> str:
    client = lab.docker()
    try:
        return client.api.inspect_container(name)["State"]["StartedAt"]
    finally:
        client.close()


def _listed(app: Any, name: str) -> bool:
    return any(r[0].strip() == name and r[1] == "running"
               for r in app.pane("containers").row_texts())


async def _restart_via_keys(pilot: Any, name: str) -> None:
    app = pilot.app
    pane = app.pane("containers")
    pane.focus()
    assert pane.select_container_row("alpha", name)
    await pilot.press("r")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 5, "confirm modal")
    await pilot.press("y")
    await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), 5, "modal closed")


async def test_full_disk_refuses_actions_in_words_and_recovers(lab_clean, full_disk: Path,
                                                               tmp_path: Path) -> None:
    config_path = _config_on(lab_clean, full_disk, tmp_path)
    app = OpsConsoleApp(load_config(config_path))
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: _listed(app, "crm-nginx-1"), 40, "nginx listed")
        before = await asyncio.to_thread(_started_at, lab_clean, "crm-nginx-1")
        await _restart_via_keys(pilot, "crm-nginx-1")
        await until(pilot,
                    lambda: any("no space left" in t.lower() for t in messages(app)),
                    15, f"the refusal names the full disk: {messages(app)}")
        refusal = next(t for t in messages(app) if "no space left" in t.lower())
        assert "refused" in refusal and "unaudited" in refusal, refusal
        await pilot.pause(1.0)
        assert await asyncio.to_thread(_started_at, lab_clean, "crm-nginx-1") == before, \
            "the restart ran although its intent could not be audited"
        await assert_responsive(pilot)
        assert_no_traceback(app)

        # A report written onto the same full disk: one clear line, exit 2, nothing left.
        report = full_disk / "report.md"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console", "report", "--config", str(config_path),
            "-o", str(report), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 2, (proc.returncode, out, err)
        assert b"no space left" in err.lower() and b"Traceback" not in err, err
        left = sorted(p.name for p in full_disk.iterdir() if "report" in p.name)
        assert left == [], f"a half-written report or temp file was left behind: {left}"
        await assert_responsive(pilot)

        # Space comes back: the next restart is audited and runs, no console restart needed.
        (full_disk / "filler").unlink()
        await _restart_via_keys(pilot, "crm-nginx-1")
        await until(pilot, lambda: any("restarted" in t for t in messages(app)), 60,
                    "restart done once space is back")
        assert await asyncio.to_thread(_started_at, lab_clean, "crm-nginx-1") != before
        audit = read_audit(full_disk / "audit.jsonl")
        assert audit.skipped_lines == 0, "the full disk left a torn record"
        entries = audit.entries
        assert any(e.action == "restart" and e.complete for e in entries), entries
        assert_no_traceback(app)
        await pilot.press("q")
