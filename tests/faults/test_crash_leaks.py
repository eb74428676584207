"""Crash paths leak no secret: a pane that blows up with secret values in scope.

tests/integration/test_secret_leaks.py (the secrets engineer's) proves a *working* console
never shows a marker. This covers the console *failing*: every pane (and the status bar) is
made to raise from its update path, in a frame that holds the env file's text and a parsed
dict of its values as locals — the shape of a real bug in code that handles values. Then
everything a crash produces is searched for the markers: Textual's crash report (it renders
the traceback *with locals* by default), the exception chain itself, Python logging at
DEBUG, the process's stdout/stderr, the screen at the moment of the crash, and every file
the run wrote. One more case makes the secrets *engine* raise with the value in its message.
"""

from __future__ import annotations

import io
import logging
import os
import secrets as random_secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from console.config import load_config
from console.ui.app import OpsConsoleApp
from tests.support.live_app import screen_text, until, write_config

pytestmark = [pytest.mark.timeout(60)]

# (what, class path, method made to raise, key that opens it or None for a pane)
TARGETS = [
    ("containers", "console.ui.widgets.containers_pane.ContainersPane", "update_rows", None),
    ("health", "console.ui.widgets.health_pane.HealthPane", "update_rows", None),
    ("secrets", "console.ui.widgets.secrets_pane.SecretsPane", "redraw", None),
    ("logs", "console.ui.widgets.logs.pane.LogsPane", "rebuild", None),
    ("status", "console.ui.widgets.header.ServerStatusBar", "render", None),
    ("test-login", "console.ui.screens.test_login.TestLoginScreen", "on_mount", "t"),
    ("migrate", "console.ui.screens.migrate.MigrateScreen", "on_mount", "m"),
]
PASSWORD_VAR = "OPS_FAULT_LOGIN_PASSWORD"


def _markers() -> dict[str, str]:
    return {name: "zq" + random_secrets.token_hex(16)
            for name in ("JWT_SECRET", "SERVICE_SECRET", "DB_PASSWORD")}


def _setup(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    marks = _markers()
    env = tmp_path / "inputs" / ".env"
    env.parent.mkdir()
    env.write_text(f"JWT_SECRET={marks['JWT_SECRET']}\nSERVICE_SECRET={marks['SERVICE_SECRET']}\n"
                   f"DATABASE_URL=postgres://app:{marks['DB_PASSWORD']}@db:5432/app\n")
    out = tmp_path / "out"
    out.mkdir()
    config = write_config(out / "config.toml", f"""
[console]
audit_log = "{out / 'audit.jsonl'}"

[[servers]]
name = "local"
host = "local"
compose_project = "ops-faults-nothing-here"

[servers.secrets]
env_files = ["{env}"]
required = ["JWT_SECRET", "DATABASE_URL", "SERVICE_SECRET"]

[servers.actions.migrate]
command = ["true"]

[servers.actions.test_login]
url = "http://127.0.0.1:9/api/v1/auth/login"
from = "console"
json = {{ email = "fault@example.com", password = "${{{PASSWORD_VAR}}}" }}
""")
    return config, env, list(marks.values())


def _exploding(env: Path) -> Callable[..., Any]:
    """A replacement method that fails with secret values sitting in its locals."""

    def explode(self: Any, *args: Any, **kwargs: Any) -> Any:
        env_text = env.read_text()  # noqa: F841 - in scope on purpose: the crash report's locals
        values = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line)
        service = getattr(self, "service", None)  # noqa: F841 - a secret-bearing object
        password = os.environ.get(PASSWORD_VAR)  # noqa: F841 - the login password, expanded
        raise RuntimeError(f"simulated failure in {type(self).__name__} "
                           f"({len(values)} values in scope)")

    return explode


def _crash_output(app: OpsConsoleApp, error: BaseException | None) -> str:
    """Textual's crash report as it would be printed, plus the exception chain."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=160, force_terminal=False, color_system=None)
    for renderable in app._exit_renderables:
        console.print(renderable)
    parts = [buffer.getvalue()]
    while error is not None:
        parts += [repr(error), str(error), repr(getattr(error, "args", ()))]
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


def _files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace")
                     for p in root.rglob("*") if p.is_file())


def _assert_clean(where: dict[str, str], markers: list[str]) -> None:
    for name, text in where.items():
        for marker in markers:
            assert marker not in text, f"a secret value reached {name}"


async def _run_until_crash(app: OpsConsoleApp, key: str | None
                           ) -> tuple[str, BaseException | None]:
    """Run the app until it has crashed; returns the screen at that moment and the error."""
    shown = ""
    error: BaseException | None = None
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            shown = screen_text(app)
            if key is not None:
                await pilot.press(key)
            await until(pilot, lambda: app._exception is not None, 20, "the forced crash")
    except Exception as exc:  # noqa: BLE001 - run_test re-raises the app's crash
        error = exc
    return shown, error or app._exception


@pytest.mark.parametrize(("what", "path", "method", "key"), TARGETS,
                         ids=[t[0] for t in TARGETS])
async def test_a_crash_in_any_pane_or_screen_shows_no_secret(
        what: str, path: str, method: str, key: str | None, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog, capfd) -> None:
    config_path, env, markers = _setup(tmp_path)
    password = "zq" + random_secrets.token_hex(16)
    markers.append(password)
    monkeypatch.setenv(PASSWORD_VAR, password)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "out" / "state"))
    module_name, class_name = path.rsplit(".", 1)
    module = __import__(module_name, fromlist=[class_name])
    monkeypatch.setattr(getattr(module, class_name), method, _exploding(env))
    caplog.set_level(logging.DEBUG)
    app = OpsConsoleApp(load_config(config_path))
    shown, error = await _run_until_crash(app, key)
    assert error is not None and f"simulated failure in {class_name}" in str(error), error
    report = _crash_output(app, error)
    assert "simulated failure" in report, "the crash report was not captured"
    captured = capfd.readouterr()
    _assert_clean({"the crash report": report, "logging": caplog.text,
                   "stdout": captured.out, "stderr": captured.err, "the screen": shown,
                   "files written": _files_text(tmp_path / "out")}, markers)


async def test_the_secrets_engine_failing_on_a_value_shows_no_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog, capfd) -> None:
    """A classifier bug that raises with the value in its message: shown as a state only."""
    import console.engine.secrets.observe as secrets_engine

    config_path, _env, markers = _setup(tmp_path)
    monkeypatch.setenv(PASSWORD_VAR, "unused")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "out" / "state"))

    def broken_weakness(name: str, value: str) -> str | None:
        raise ValueError(f"cannot judge {name}={value}")

    monkeypatch.setattr(secrets_engine, "weakness", broken_weakness)
    caplog.set_level(logging.DEBUG)
    app = OpsConsoleApp(load_config(config_path))
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.pane("secrets")
        await until(pilot, lambda: any("JWT_SECRET" in line for line in pane.plain_lines()),
                    20, "the secrets pane lists the names")
        shown = screen_text(app) + "\n".join(pane.plain_lines())
        notes = "\n".join(str(n.message) for n in app._notifications)
        await pilot.press("q")
    captured = capfd.readouterr()
    _assert_clean({"the screen": shown, "notifications": notes, "logging": caplog.text,
                   "stdout": captured.out, "stderr": captured.err,
                   "files written": _files_text(tmp_path / "out"),
                   "the crash report": _crash_output(app, app._exception)}, markers)


def test_the_scan_would_catch_a_leak(tmp_path: Path) -> None:
    """The scanning itself works: a report with locals *would* contain the markers."""
    from rich.traceback import Traceback

    _config, env, markers = _setup(tmp_path)
    try:
        _exploding(env)(object())
    except RuntimeError as exc:
        buffer = io.StringIO()
        Console(file=buffer, width=160).print(
            Traceback.from_exception(type(exc), exc, exc.__traceback__, show_locals=True))
        with pytest.raises(AssertionError, match="a secret value reached"):
            _assert_clean({"a report with locals": buffer.getvalue()}, markers)
