"""R (recreate) and x (shell) in the actions service: plan, refusals, streamed output,
the audit before and after, and no value anywhere. A fake docker-compose on PATH stands in
for Compose (the lab runs the real one)."""

from __future__ import annotations

import json
import os
import pty
from pathlib import Path
from typing import Any

import pytest

from console.config import Config, ConsoleSettings, ServerConfig
from console.engine import dockerapi
from console.engine.actions import ActionRefused, ActionService
from console.engine.actions.recreate import SHELL_SCRIPT, shell_argv
from console.engine.audit import AuditLog
from console.engine.hosts import LocalHost
from console.engine.terminal import bridge
from tests.support.compose import fake_executable, labels_for, with_path_first
from tests.support.docker import FakeDaemon, FakeDockerClient

pytestmark = pytest.mark.timeout(60)
MARKER = "LEAKMARK51c0ffee"


def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, read_only: bool = False,
          protected: bool = False) -> tuple[ActionService, Path, Path]:
    project = tmp_path / "crm"
    project.mkdir()
    (project / "docker-compose.yml").write_text("services:\n  api:\n    image: busybox\n")
    (project / ".env").write_text(f"JWT_SECRET={MARKER}\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "compose.log"
    fake_executable(bin_dir, "docker", "exit 1\n")
    fake_executable(bin_dir, "docker-compose", f"""
        if [ "$1" = version ]; then echo "docker-compose version 1.29.2, build x"; exit 0; fi
        echo "$PWD|$*" >> {log}
        echo "Recreating crm_api_1 ..."
        echo "Recreating crm_api_1 ... done" >&2
        exit 0
    """)
    monkeypatch.setenv("PATH", with_path_first(bin_dir))
    server = ServerConfig(name="alpha", protected=protected)
    config = Config(ConsoleSettings(read_only=read_only, audit_log=tmp_path / "audit.jsonl"),
                    (server,))
    daemon = FakeDaemon()
    for name, labels in {"crm-api-1": labels_for(project, "crm", "api"),
                         "plain-1": {"maintainer": "x"},
                         "nodir-1": {"com.docker.compose.project": "crm",
                                     "com.docker.compose.service": "api"}}.items():
        daemon.add(name, {"JWT_SECRET": MARKER}, project=None, working_dir=None,
                   extra_labels=labels)
    client = FakeDockerClient(daemon)
    service = ActionService(config, {"alpha": LocalHost(server)},
                            clients=dockerapi.DockerClients(factory=lambda url, t: client),
                            audit=AuditLog(config.console.audit_log, user="tester",
                                           hostname="console-box"))
    return service, project, log


def records(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() \
        else []


async def test_recreate_runs_compose_up_in_the_project_and_streams_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service, project, log = setup(tmp_path, monkeypatch, protected=True)
    plan = await service.recreate_plan("alpha", "crm-api-1")
    assert plan.protected and plan.target == "crm-api-1" and plan.service == "api"
    assert plan.command_text == (f"docker-compose -p crm -f {project}/docker-compose.yml "
                                 f"--project-directory {project} up -d --no-deps "
                                 "--force-recreate api")
    assert plan.where == f"in {project} on alpha (project crm)"
    lines: list[tuple[str, str]] = []
    result = await service.recreate("alpha", "crm-api-1",
                                    lambda line: lines.append((line.stream, line.text)))
    assert result.ok and result.action == "recreate" and result.exit_status == 0
    assert ("stdout", "Recreating crm_api_1 ...") in lines
    assert ("stderr", "Recreating crm_api_1 ... done") in lines
    cwd, _, args = log.read_text().strip().partition("|")
    assert cwd == str(project)
    assert args.endswith("up -d --no-deps --force-recreate api")
    intent, outcome = records(tmp_path)
    assert intent["phase"] == "intent" and intent["action"] == "recreate"
    assert intent["target"] == "crm-api-1" and intent["service"] == "api"
    assert outcome["phase"] == "outcome" and outcome["outcome"] == "succeeded"
    assert service.snapshot().servers["alpha"].recreate == result
    everything = (tmp_path / "audit.jsonl").read_text() + repr(result) + repr(lines)
    assert MARKER not in everything


async def test_recreate_output_quoting_secrets_is_redacted_on_screen_result_and_audit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose can quote the environment: a warning with ``JWT_SECRET=...``, an error line
    with a connection URL. Those lines reach the screen, the result and the audit (the
    stderr tail of a failed run) only redacted, as log lines do."""
    service, _, _ = setup(tmp_path, monkeypatch)
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0." + MARKER
    fake_executable(tmp_path / "bin", "docker-compose", f"""
        if [ "$1" = version ]; then echo "docker-compose version 1.29.2, build x"; exit 0; fi
        echo "Recreating crm_api_1 ... JWT_SECRET={MARKER}"
        echo "WARNING: invalid env line: SERVICE_SECRET={MARKER}" >&2
        echo "auth header Bearer {token}"
        echo "ERROR: cannot reach postgres://crm:{MARKER}@db:5432/crm" >&2
        exit 1
    """)
    lines: list[tuple[str, str]] = []
    result = await service.recreate("alpha", "crm-api-1",
                                    lambda line: lines.append((line.stream, line.text)))
    assert not result.ok and result.exit_status == 1
    assert ("stdout", "Recreating crm_api_1 ... JWT_SECRET=[redacted]") in lines
    assert ("stderr", "WARNING: invalid env line: SERVICE_SECRET=[redacted]") in lines
    assert ("stderr", "ERROR: cannot reach postgres://crm:[redacted]@db:5432/crm") in lines
    assert result.detail.startswith("exit status 1: ERROR: cannot reach postgres://crm:")
    everything = ((tmp_path / "audit.jsonl").read_text() + repr(result) + repr(lines)
                  + repr(service.snapshot()))
    assert MARKER not in everything
    assert "[redacted]" in (tmp_path / "audit.jsonl").read_text()


@pytest.mark.parametrize("container, reason", [
    ("plain-1", "plain-1 was not created by Compose: there is no service to recreate "
                "(r restarts it)"),
    ("nodir-1", "nodir-1 has no working-directory label: Compose's project directory is "
                "unknown, so it cannot be recreated from here"),
])
async def test_recreate_is_refused_without_a_compose_service(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, container: str, reason: str) -> None:
    service, _, log = setup(tmp_path, monkeypatch)
    with pytest.raises(ActionRefused) as caught:
        await service.recreate("alpha", container)
    assert str(caught.value) == reason
    assert [r["phase"] for r in records(tmp_path)] == ["refused"]
    assert not log.exists()


async def test_recreate_and_shell_are_refused_read_only(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    service, _, log = setup(tmp_path, monkeypatch, read_only=True)
    for call in (service.recreate("alpha", "crm-api-1"), service.shell("alpha", "crm-api-1")):
        with pytest.raises(ActionRefused) as caught:
            await call
        assert "read-only" in str(caught.value)
    assert [(r["action"], r["phase"]) for r in records(tmp_path)] == [
        ("recreate", "refused"), ("shell", "refused")]
    assert not log.exists()


async def test_recreate_without_compose_on_the_server(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    service, _, _ = setup(tmp_path, monkeypatch)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ActionRefused) as caught:
        await service.recreate_plan("alpha", "crm-api-1")
    assert str(caught.value) == ("alpha has no Compose (neither docker compose nor "
                                 "docker-compose)")


async def test_a_local_shell_is_docker_exec_on_the_terminal_and_audited_without_input(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service, _, _ = setup(tmp_path, monkeypatch)
    argv_log = tmp_path / "exec.log"
    fake_executable(tmp_path / "bin", "docker", f'echo "$*" > {argv_log}; exit 3\n')
    result = await service.shell("alpha", "crm-api-1")
    assert argv_log.read_text().strip() == f"exec -it crm-api-1 sh -c {SHELL_SCRIPT}"
    assert not result.ok and result.exit_status == 3
    intent, outcome = records(tmp_path)
    assert (intent["action"], intent["phase"], intent["target"]) == (
        "shell", "intent", "crm-api-1")
    assert outcome["outcome"] == "failed" and outcome["exit_status"] == 3
    assert set(outcome) <= {"time", "user", "host", "action", "server", "target", "phase",
                            "id", "outcome", "ok", "exit_status", "elapsed_s", "detail",
                            "seq", "console_host", "hostname", "action_id", "pid", "v"}


def test_shell_argv_uses_the_configured_socket() -> None:
    assert shell_argv("c1", "/var/run/docker.sock")[:3] == ["docker", "exec", "-it"]
    assert shell_argv("c1", "/run/user/1000/docker.sock")[:3] == [
        "docker", "-H", "unix:///run/user/1000/docker.sock"]


class FakeChannel:
    """A remote PTY that echoes what it gets, upper-cased, then ends with status 7."""

    def __init__(self) -> None:
        self.written = b""
        self.sizes: list[tuple[int, int]] = []
        self.closed = False
        self._out: list[bytes] = [b"prompt$ "]
        import asyncio

        self._event = asyncio.Event()
        self._event.set()

    def write(self, data: bytes) -> None:
        self.written += data
        self._out.append(data.upper())
        self._event.set()

    async def read(self, size: int) -> bytes:
        while not self._out:
            self._event.clear()
            await self._event.wait()
        chunk = self._out.pop(0)
        return b"" if chunk == b"EXIT\n" else chunk

    def resize(self, columns: int, rows: int) -> None:
        self.sizes.append((columns, rows))

    async def wait(self) -> int | None:
        return 7

    def close(self) -> None:
        self.closed = True


async def test_bridge_joins_a_pty_channel_to_the_terminal_and_restores_it() -> None:
    import asyncio
    import termios

    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    channel = FakeChannel()
    task = asyncio.create_task(bridge(channel, stdin_fd=slave, stdout_fd=slave))
    await asyncio.sleep(0.1)
    assert termios.tcgetattr(slave) != before  # raw while the shell runs
    os.write(master, b"ls\n")
    await asyncio.sleep(0.1)
    os.write(master, b"exit\n")
    status = await asyncio.wait_for(task, 5)
    assert status == 7 and channel.closed
    assert channel.written.startswith(b"ls") and b"exit" in channel.written
    shown = os.read(master, 4096)
    assert b"prompt$ " in shown and b"LS" in shown
    assert termios.tcgetattr(slave) == before  # the terminal is back as it was
    os.close(master)
    os.close(slave)
