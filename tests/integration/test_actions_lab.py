"""Migrate, test-login and the audit log against the real lab, through real SSH.

The engine is driven with the lab's generated config (alpha over sshd on 127.0.0.1:2222,
Docker through the SSH-forwarded socket, HTTP through SSH tunnels), each test with its own
audit file. Results are checked against the lab itself (``/health`` queried directly,
the env file on disk), never only against what the console says.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from console.config import Config, MigrateAction
from console.engine.actions import ActionService, OutputLine
from console.engine.audit import read_audit
from console.engine.dockerapi import DockerClients
from console.engine.hosts import make_host
from tests.lab import LOGIN_PASSWORD

pytestmark = [pytest.mark.lab, pytest.mark.timeout(180)]


# --------------------------------------------------------------------------- helpers


def lab_config(lab: Any, audit_path: Path) -> Config:
    config = lab.load_config()
    return dataclasses.replace(config, console=dataclasses.replace(config.console,
                                                                   audit_log=audit_path))


@contextlib.asynccontextmanager
async def engine(lab: Any, tmp_path: Path) -> AsyncIterator[tuple[ActionService, Config]]:
    """An ActionService over real SSH hosts for alpha and bravo, audited to tmp_path."""
    config = lab_config(lab, tmp_path / "audit.jsonl")
    hosts = {server.name: make_host(server) for server in config.servers}
    clients = DockerClients()
    try:
        for host in hosts.values():
            await host.start()
        for name, host in hosts.items():
            assert await host.wait_up(30), f"{name}: {host.status.describe()}"
        yield ActionService(config, hosts, clients=clients), config
    finally:
        clients.close()
        for host in hosts.values():
            await host.close()


async def health(url: str) -> dict[str, Any]:
    """The backend's /health, fetched directly (not through the console)."""
    def fetch() -> dict[str, Any]:
        with urllib.request.urlopen(f"{url}/health", timeout=10) as response:
            return json.loads(response.read())

    return await asyncio.to_thread(fetch)


async def nginx_ready(lab: Any) -> None:
    """nginx re-resolves the backend every 2 s: after a recreate it may 502 for a moment."""
    from tests.lab.scenarios import wait_status

    await asyncio.to_thread(wait_status, f"{lab.nginx_url}/health", 200, 30.0)


def audit_records(config: Config) -> list[dict[str, Any]]:
    return [json.loads(line) for line in config.console.audit_log.read_text().splitlines()]


def assert_audited(config: Config, action: str, outcome: str, **expect: Any) -> dict:
    """Exactly one intent and one linked outcome for ``action``; returns the outcome."""
    records = [r for r in audit_records(config) if r["action"] == action]
    assert [r["phase"] for r in records] == ["intent", "outcome"], records
    intent, result = records
    assert intent["id"] == result["id"]
    assert intent["server"] == result["server"] == expect.pop("server", "alpha")
    assert intent["user"] and intent["host"] and intent["time"].endswith("Z")
    assert result["outcome"] == outcome
    for key, value in expect.items():
        assert result[key] == value, (key, result)
    assert LOGIN_PASSWORD not in config.console.audit_log.read_text()
    return result


@pytest.fixture(autouse=True)
def credentials(lab: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_LOGIN_USER", lab.login_user)
    monkeypatch.setenv("OPS_LOGIN_PASSWORD", lab.login_password)


# --------------------------------------------------------------------------- migrate


async def test_migrate_upgrades_the_schema_version(lab_clean: Any, tmp_path: Path):
    before = (await health(lab_clean.backend_url))["schema_version"]
    lines: list[OutputLine] = []
    async with engine(lab_clean, tmp_path) as (actions, config):
        result = await actions.migrate("alpha", lines.append)
    after = (await health(lab_clean.backend_url))["schema_version"]

    assert result.ok and result.exit_status == 0, [x.text for x in lines]
    assert after == before + 1
    stdout = [x.text for x in lines if x.stream == "stdout"]
    assert f"[MIGRATE] done: schema version {before} -> {after}" in stdout
    assert lines[0].elapsed_s <= lines[-1].elapsed_s
    outcome = assert_audited(config, "migrate", "succeeded", exit_status=0,
                             target="crm-backend-1")
    assert outcome["elapsed_s"] > 0.5  # three 0.2 s steps really ran


async def test_migration_output_streams_from_the_first_line_20_runs_in_a_row(
        lab_clean: Any, tmp_path: Path):
    """Through the SSH-forwarded Docker socket the exec's answer and its first frames often
    arrive in one read; the first line must still come first, while the command runs, and
    the pid marker must be read (or a cancel could not kill the process)."""
    async with engine(lab_clean, tmp_path) as (actions, config):
        alpha = dataclasses.replace(config.server("alpha"), migrate=MigrateAction(
            command=("sh", "-c", "echo started; sleep 0.5; echo done"),
            container="crm-backend-1"))
        actions.config = dataclasses.replace(config, servers=(alpha,))
        for attempt in range(20):
            runs: list[Any] = []
            seen: list[tuple[str, str, bool, bool]] = []

            def note(line: OutputLine, runs: list[Any] = runs,
                     seen: list[tuple[str, str, bool, bool]] = seen) -> None:
                run = runs[0]
                seen.append((line.stream, line.text, run.running, run.pid is not None))

            result = await actions.migrate("alpha", note, on_start=runs.append)
            assert result.ok, (attempt, result.detail, seen)
            assert seen[0] == ("stdout", "started", True, True), (attempt, seen)
            assert [text for stream, text, *_ in seen if stream == "stdout"] == [
                "started", "done"], (attempt, seen)


async def test_failing_migration_shows_exit_status_and_stderr(lab_clean: Any,
                                                              tmp_path: Path):
    lab_clean.scenario("migration-fail", server="alpha")
    before = (await health(lab_clean.backend_url))["schema_version"]
    lines: list[OutputLine] = []
    async with engine(lab_clean, tmp_path) as (actions, config):
        result = await actions.migrate("alpha", lines.append)

    assert not result.ok and result.exit_status == 2
    stderr = [x.text for x in lines if x.stream == "stderr"]
    assert any("[MIGRATE] ERROR: migration" in text for text in stderr), lines
    assert "exit status 2" in result.detail and "[MIGRATE] ERROR" in result.detail
    assert (await health(lab_clean.backend_url))["schema_version"] == before
    assert_audited(config, "migrate", "failed", exit_status=2)


async def test_migration_in_the_tui_streams_and_ends_with_the_exit_status(lab_clean: Any,
                                                                          tmp_path: Path):
    from textual.widgets import DataTable, RichLog, Static

    from console.ui.app import OpsConsoleApp
    from console.ui.screens.audit_view import AuditScreen, action_commands
    from console.ui.screens.confirm import ConfirmScreen
    from console.ui.screens.migrate import MigrateScreen

    config = lab_config(lab_clean, tmp_path / "audit.jsonl")
    app = OpsConsoleApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        app.action_migrate("alpha")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10)
        await pilot.press("y")
        screen = app.screen
        assert isinstance(screen, MigrateScreen)
        await until(pilot, lambda: screen.state == "done", 60)
        await pilot.pause(0.3)
        status = str(screen.query_one("#status", Static).render())
        output = "\n".join("".join(s.text for s in strip)
                           for strip in screen.query_one("#output", RichLog).lines)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, MigrateScreen), 10)

        # the palette's "Audit log" shows it, newest first
        entry = next(e for e in action_commands(app) if e[0] == "Audit log")
        entry[1]()
        await until(pilot, lambda: isinstance(app.screen, AuditScreen)
                    and app.screen.read is not None, 10)
        first = [str(c) for c in app.screen.query_one(DataTable).get_row_at(0)]
    assert "succeeded: exit status 0" in status
    assert "[MIGRATE] done: schema version" in output
    assert first[2:7] == ["alpha", "migrate", "crm-backend-1", "succeeded", "0"]
    assert_audited(config, "migrate", "succeeded", exit_status=0)


async def test_test_login_in_the_tui(lab: Any, tmp_path: Path):
    from textual.widgets import Static

    from console.ui.app import OpsConsoleApp
    from console.ui.screens.test_login import TestLoginScreen as LoginScreen

    lab.reset()
    await nginx_ready(lab)
    config = lab_config(lab, tmp_path / "audit.jsonl")
    app = OpsConsoleApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")  # the selected server: the first one, alpha
        await until(pilot, lambda: isinstance(app.screen, LoginScreen)
                    and app.screen.result is not None, 30)
        texts = {name: str(app.screen.query_one(f"#{name}", Static).render())
                 for name in ("outcome", "token", "expiry", "signature")}
    assert texts["outcome"].startswith("accepted") and "HTTP 200" in texts["outcome"]
    assert "alg HS256" in texts["token"] and "left" in texts["expiry"]
    assert texts["signature"].startswith("Signature: signature valid")
    assert lab.login_password not in "".join(texts.values())
    assert_audited(config, "test_login", "succeeded", klass="accepted")


async def until(pilot: Any, predicate: Callable[[], Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


# --------------------------------------------------------------------------- test-login


async def test_login_with_good_credentials_reports_the_claims(lab: Any, tmp_path: Path):
    lab.reset()
    await nginx_ready(lab)
    async with engine(lab, tmp_path) as (actions, config):
        result = await actions.test_login("alpha")

    assert result.ok and result.klass == "accepted" and result.status == 200, result.reason
    assert result.from_ == "server"  # through alpha's SSH connection
    token = result.token
    assert token is not None and token.alg == "HS256"
    assert token.iss == "crm-lab" and token.sub == "1"
    assert ("email", lab.login_user) in token.claims
    assert token.iat is not None and token.exp is not None
    assert 0 < token.time_left() <= 3600
    assert result.signature is not None and result.signature.verdict == "valid"
    assert result.signature.text.startswith("signature valid")
    assert len(result.token_preview) == 13
    outcome = assert_audited(config, "test_login", "succeeded", status=200, klass="accepted",
                             signature="valid")
    assert outcome["latency_ms"] > 0


async def test_signature_mismatch_when_the_env_file_changed_behind_the_backend(
        lab_clean: Any, tmp_path: Path):
    """The .env was edited (a new JWT_SECRET) but the backend not recreated: its tokens
    will not survive the next restart, and anything configured from the file rejects them."""
    await nginx_ready(lab_clean)
    lab_clean.scenario("env-drift")
    env_file = str(lab_clean.env_files["alpha"])
    async with engine(lab_clean, tmp_path) as (actions, config):
        result = await actions.test_login("alpha")

    assert result.klass == "accepted" and not result.ok
    signature = result.signature
    assert signature is not None and signature.verdict == "invalid"
    assert signature.text.startswith("signature INVALID: the secret differs")
    assert env_file in signature.text and "valid with container:crm-backend-1" in signature.text
    assert dict(signature.places) == {env_file: "invalid", "container:crm-backend-1": "valid"}
    assert_audited(config, "test_login", "failed", signature="invalid")
    text = config.console.audit_log.read_text()
    assert lab_clean.env("alpha")["JWT_SECRET"] not in text


async def test_signature_mismatch_when_the_backend_was_recreated_with_another_secret(
        lab_clean: Any, tmp_path: Path):
    """The reverse: someone started the backend with a different JWT_SECRET and left the
    .env alone. The container checks out against itself; the file does not."""
    from tests.lab import stack

    layout = lab_clean.layout
    original = stack.read_env(layout, "crm")
    other = secrets.token_urlsafe(36)

    def recreate_with_other_secret() -> None:
        client = stack.docker_client()
        try:
            stack.write_env(layout, "crm", {**original, "JWT_SECRET": other})
            stack.recreate(client, layout, "crm-backend-1")
            stack.write_env(layout, "crm", original)  # the file is back, the container not
            stack.wait_healthy(client, ["crm-backend-1"])
        finally:
            client.close()

    await asyncio.to_thread(recreate_with_other_secret)
    await nginx_ready(lab_clean)
    async with engine(lab_clean, tmp_path) as (actions, config):
        result = await actions.test_login("alpha")

    signature = result.signature
    assert result.klass == "accepted" and signature is not None
    assert signature.verdict == "invalid", signature.text
    assert dict(signature.places) == {str(lab_clean.env_files["alpha"]): "invalid",
                                      "container:crm-backend-1": "valid"}
    assert_audited(config, "test_login", "failed", signature="invalid")
    assert other not in config.console.audit_log.read_text()


async def test_login_says_proxy_502_when_the_backend_is_stopped(lab_clean: Any,
                                                                tmp_path: Path):
    lab_clean.scenario("backend-down")
    async with engine(lab_clean, tmp_path) as (actions, config):
        result = await actions.test_login("alpha")

    assert not result.ok and result.klass == "proxy_502" and result.status == 502
    assert "proxy 502" in result.reason
    assert result.token is None and result.signature is None
    assert_audited(config, "test_login", "failed", status=502, klass="proxy_502")


# --------------------------------------------------------------------------- kill -9


def test_kill_9_during_a_migration_leaves_a_parseable_log_with_the_intent(lab_clean: Any,
                                                                          tmp_path: Path):
    """A console engine in a subprocess runs a slow migration in crm-backend-1 and is
    killed with SIGKILL while it runs: the audit log still parses and holds the intent."""
    audit_path = tmp_path / "audit.jsonl"
    marker = f"ops-kill9-{secrets.token_hex(4)}"
    code = textwrap.dedent(f"""
        import asyncio, dataclasses
        from pathlib import Path
        from console.config import MigrateAction, load_config
        from console.engine.actions import ActionService
        from console.engine.hosts import make_host

        config = load_config({str(lab_clean.config_path)!r})
        alpha = dataclasses.replace(config.server("alpha"), migrate=MigrateAction(
            command=("sh", "-c", "echo started; sleep 30 # {marker}"),
            container="crm-backend-1"))
        config = dataclasses.replace(config, servers=(alpha,), console=dataclasses.replace(
            config.console, audit_log=Path({str(audit_path)!r})))

        async def main():
            host = make_host(alpha)
            await host.start()
            assert await host.wait_up(30)
            service = ActionService(config, {{"alpha": host}})
            await service.migrate("alpha", lambda line: print(line.stream, line.text,
                                                              flush=True))

        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=str(Path(__file__).resolve().parents[2]))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first == "stdout started", first
        proc.kill()
        assert proc.wait(timeout=10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    raw = audit_path.read_text()
    assert raw.endswith("\n")
    read = read_audit(audit_path)
    assert read.skipped_lines == 0
    (entry,) = read.entries
    assert entry.action == "migrate" and entry.server == "alpha"
    assert entry.target == "crm-backend-1" and entry.outcome == "unknown"
    assert entry.intent["command"][-1].endswith(marker)
    assert [json.loads(line)["phase"] for line in raw.splitlines()] == ["intent"]
