"""No secret value ever reaches the screen, a screenshot, a log, a file or an exception.

Every secret in the lab (JWT_SECRET, SERVICE_SECRET, the password inside DATABASE_URL, on
both servers) is set to its own random marker, the backends are recreated with them, and
the config points alpha at three extra env files that fail: one malformed (markers in its
broken lines), one that is a directory, one that does not exist. Then the whole TUI runs
against the lab, headless, through real SSH, and *everything* it produced is searched for
every marker: the screen (SVG screenshot, saved to disk too), the full secrets pane text,
every notification, Python logging at DEBUG (written to a log file), asyncio's unhandled
errors, the test process's stdout/stderr, the service's snapshot and its ``check --json``
shape, and every file written under the test's HOME/XDG dirs or /tmp while it ran.

``check``, ``check --json`` and ``report``: ``test_no_marker_in_headless_command`` runs each
command as a subprocess and scans its output and every file it wrote.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets as random_secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.config import load_config
from console.engine.secrets import secret_status_json

pytestmark = [pytest.mark.lab, pytest.mark.timeout(300)]

SECRET_NAMES = ("JWT_SECRET", "SERVICE_SECRET")


@dataclass
class Leaky:
    """The lab with marker secrets, and where this module's inputs and outputs live."""

    markers: list[str]
    config_path: Path
    inputs: Path  # files we wrote *with* markers on purpose (never scanned)
    outputs: Path  # HOME, XDG dirs, logs, screenshots: everything here is scanned
    broken_env: Path
    lab: Any = None
    started: float = field(default_factory=time.time)

    def assert_markers_in_place(self) -> None:
        """The lab still runs on the markers (so finding none of them means something)."""
        for server in ("alpha", "bravo"):
            assert self.lab.env(server)["JWT_SECRET"] in self.markers


def _marker() -> str:
    return "zq" + random_secrets.token_hex(16)


def _set_markers(lab: Any) -> list[str]:
    """Every secret value becomes a unique marker, in the .env files and the containers."""
    from tests.lab import stack

    markers: list[str] = []
    client = lab.docker()
    try:
        for project in lab.projects.values():
            env = stack.read_env(lab.layout, project)
            for name in SECRET_NAMES:
                env[name] = _marker()
                markers.append(env[name])
            password = _marker()
            markers.append(password)
            # Not sqlite: the backend prints its sqlite path, and that would be the app's
            # leak, not ours. A postgres URL it does not use is never printed by it.
            env["DATABASE_URL"] = f"postgresql://crm:{password}@db.invalid:5432/{project}"
            stack.write_env(lab.layout, project, env)
            stack.recreate(client, lab.layout, f"{project}-backend-1")
    finally:
        client.close()
    return markers


def _config_text(lab: Any, outputs: Path, extra_files: list[str]) -> str:
    """The lab's config with alpha's env files extended and the audit log moved here."""
    text = lab.config_path.read_text()
    alpha_env = json.dumps(str(lab.env_files["alpha"]))
    old = f"env_files = [{alpha_env}]"
    assert text.count(old) == 1, "the lab config's env_files line changed shape"
    text = text.replace(old, "env_files = [" + ", ".join(
        [alpha_env, *(json.dumps(p) for p in extra_files)]) + "]")
    text, count = re.subn(r'(?m)^audit_log = .*$',
                          f"audit_log = {json.dumps(str(outputs / 'audit.jsonl'))}", text)
    assert count == 1
    return text


@pytest.fixture(scope="module")
def leaky(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Leaky]:
    from tests.lab.system import locked

    inputs = tmp_path_factory.mktemp("leak-inputs")
    outputs = tmp_path_factory.mktemp("leak-outputs")
    # The lab is shared by every test session on this machine: hold its lock while the
    # markers are in place, or another session's reset could swap the baseline back in and
    # this module would pass without a single marker to find.
    guard = locked(lab.layout.lock)
    guard.__enter__()
    try:
        markers = _set_markers(lab)
        broken_marker, alone_marker = _marker(), _marker()
        markers += [broken_marker, alone_marker]
        broken = inputs / "broken.env"
        broken.write_text(f"SERVICE_SECRET='{broken_marker}'junk\n{alone_marker} {alone_marker}"
                          f'\nJWT_SECRET="{broken_marker}\nDATABASE_URL={broken_marker}\n')
        directory = inputs / "a-directory.env"
        directory.mkdir()
        config_path = inputs / "config.toml"
        config_path.write_text(_config_text(
            lab, outputs, [str(broken), str(directory), str(inputs / "absent.env")]))
        yield Leaky(markers, config_path, inputs, outputs, broken, lab)
    finally:
        guard.__exit__(None, None, None)
        lab.reset()


# --------------------------------------------------------------------------- collecting


@pytest.fixture
def isolated_home(leaky: Leaky, monkeypatch: pytest.MonkeyPatch, request: Any) -> Path:
    """HOME and XDG dirs under the scanned outputs, so any file the console writes is seen."""
    home = leaky.outputs / request.node.name
    for var, sub in (("HOME", "home"), ("XDG_STATE_HOME", "state"),
                     ("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"),
                     ("XDG_DATA_HOME", "data")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.delenv("OPS_CONSOLE_CONFIG", raising=False)
    return home


@pytest.fixture
def debug_log(isolated_home: Path) -> Iterator[Path]:
    """Every log record of the process at DEBUG, with tracebacks, into a file."""
    path = isolated_home / "console-debug.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        logging.captureWarnings(False)
        handler.close()


# Docker's runtime writes each `docker exec` process spec (the container's env included, by
# design) to /tmp/runc-process*: the lab's healthchecks do it every 2 s. Not the console's.
NOT_OURS = re.compile(r"^runc-process\d*$")


def files_written(roots: list[Path], since: float, exclude: Path) -> dict[str, bytes]:
    """Regular files under ``roots`` changed since ``since`` (not our own inputs)."""
    found: dict[str, bytes] = {}
    for root in roots:
        for dirpath, _, filenames in os.walk(root):
            if Path(dirpath).is_relative_to(exclude):
                continue
            for filename in filenames:
                if NOT_OURS.match(filename):
                    continue
                path = Path(dirpath) / filename
                try:
                    info = path.stat()
                    if not path.is_file() or info.st_mtime < since or info.st_size > 20_000_000:
                        continue
                    found[str(path)] = path.read_bytes()
                except OSError:
                    continue
    return found


def assert_no_markers(where: dict[str, str | bytes], markers: list[str]) -> None:
    leaks = []
    for label, content in where.items():
        data = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
        for marker in markers:
            if marker.encode() in data:
                leaks.append(f"{marker[:6]}… in {label}")
    assert not leaks, "secret values leaked: " + "; ".join(leaks)


async def until(pilot: Any, predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await pilot.pause(0.1)


# --------------------------------------------------------------------------- the TUI


async def test_no_marker_anywhere_after_running_the_tui(leaky: Leaky, isolated_home: Path,
                                                        debug_log: Path, capfd: Any) -> None:
    from console.ui.app import OpsConsoleApp
    from console.ui.widgets.secrets_pane import SecretsPane

    started = time.time()
    collected: dict[str, str | bytes] = {}
    notes: list[str] = []
    loop_errors: list[str] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda loop, context: loop_errors.append(repr(context)))

    app = OpsConsoleApp(load_config(leaky.config_path))
    original_notify = app.notify

    def recording_notify(message: Any, *args: Any, **kwargs: Any) -> None:
        notes.append(str(message))
        original_notify(message, *args, **kwargs)

    app.notify = recording_notify  # type: ignore[method-assign]
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(SecretsPane)

        def text() -> str:
            return "\n".join(pane.plain_lines())

        await until(pilot, lambda: text().count("checked") >= 2, 60,
                    "both servers' secrets checked")
        await pilot.press("4")
        await pilot.press("f5")  # the re-check: a second full round of reads
        await pilot.pause(1.0)
        await until(pilot, lambda: text().count("checked") >= 2, 60, "re-checked")
        shown = text()
        # The error paths really ran, and the findings are real (the test can fail):
        assert "line 1: unexpected text after the closing quote (line skipped)" in shown
        assert "line 3: unterminated double quote (line skipped)" in shown
        assert "cannot be read: it is a directory" in shown
        assert "file not found" in shown
        assert "JWT_SECRET ≠ drift" in shown  # each server got its own marker
        assert "? unreadable" in shown
        collected["secrets pane text"] = shown
        collected["screen svg"] = app.export_screenshot()
        shot = app.save_screenshot(filename="secrets-leak.svg", path=str(isolated_home))
        assert Path(shot).stat().st_size > 1000
        service = app.fleet.secrets
        snapshot = service.snapshot().servers
        collected["snapshot repr"] = repr(snapshot)
        collected["service repr"] = repr(service) + repr(service.snapshot().drift)
        collected["check json secrets"] = json.dumps(
            [secret_status_json(s) for s in service.snapshot().statuses])
        collected["check json volumes"] = json.dumps(
            [v.as_json() for r in snapshot.values() for v in r.volumes])
        collected["other panes"] = "\n".join(
            repr(getattr(app.pane(p), "row_texts", lambda: "")()) for p in
            ("containers", "logs", "health"))
        await pilot.press("q")
    out, err = capfd.readouterr()
    collected["stdout"], collected["stderr"] = out, err
    collected["notifications"] = "\n".join(notes)
    collected["asyncio errors"] = "\n".join(loop_errors)
    collected["debug log"] = debug_log.read_bytes()
    assert collected["debug log"], "nothing was logged: the log capture is not working"
    collected.update(files_written([leaky.outputs, Path("/tmp")], started, leaky.inputs))
    assert any(name.endswith("secrets-leak.svg") for name in collected)
    leaky.assert_markers_in_place()
    assert_no_markers(collected, leaky.markers)


async def test_the_scan_would_catch_a_leak(leaky: Leaky, isolated_home: Path) -> None:
    """The scanner itself: a marker written to a file or a string is found."""
    sneaky = isolated_home / "sneaky.txt"
    sneaky.write_text(f"oops {leaky.markers[0]}")
    found = files_written([leaky.outputs], time.time() - 60, leaky.inputs)
    with pytest.raises(AssertionError, match="secret values leaked"):
        assert_no_markers(found, leaky.markers)
    with pytest.raises(AssertionError, match="secret values leaked"):
        assert_no_markers({"text": f"x{leaky.markers[-1]}x"}, leaky.markers)
    sneaky.unlink()


# --------------------------------------------------------------------------- headless


HEADLESS = [
    ("check", ["check", "--json"]),
    ("check", ["check"]),
    ("report", ["report", "-o", "{out}/report.md"]),
    ("report", ["report"]),
]


@pytest.mark.parametrize("module, argv", HEADLESS, ids=[" ".join(a) for _, a in HEADLESS])
def test_no_marker_in_headless_command(leaky: Leaky, isolated_home: Path, module: str,
                                       argv: list[str]) -> None:
    """The headless commands print and write nothing that holds a secret value."""
    started = time.time()
    args = [a.format(out=isolated_home) for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "console", "--config", str(leaky.config_path), *args],
        capture_output=True, timeout=240, env=dict(os.environ), cwd=str(isolated_home))
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode in (0, 1) and "Traceback" not in stderr, \
        f"`ops-console {' '.join(argv)}` failed ({proc.returncode}): {stderr[-2000:]}"
    collected: dict[str, str | bytes] = {"stdout": proc.stdout, "stderr": proc.stderr}
    collected.update(files_written([leaky.outputs, Path("/tmp")], started, leaky.inputs))
    # Exit 1 is "problems found", but only if the command really ran: a missing module
    # also exits 1, and must not pass as "nothing leaked".
    assert b"No module named" not in proc.stderr, stderr[-2000:]
    if args == ["check"]:
        assert b"ops-console check" in proc.stdout, proc.stdout[-2000:]
    if "--json" in args:
        doc = json.loads(proc.stdout)
        assert any(s["name"] == "JWT_SECRET" for server in doc["servers"]
                   for s in server["secrets"])
    if "-o" in args:
        report = (isolated_home / "report.md").read_text()
        assert re.search(r"JWT\\?_SECRET", report), "the report has no secrets matrix"
        collected["report file"] = report
    leaky.assert_markers_in_place()
    assert_no_markers(collected, leaky.markers)
