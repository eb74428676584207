"""``x``: a shell in a container, through tmux on the lab.

Over alpha's SSH connection with a PTY (the engine's shell, as the TUI runs it), and from
the TUI itself: it suspends, the shell takes the terminal, and the console comes back.
What was typed never reaches the audit log.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.timeout(180),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

ROOT = Path(__file__).resolve().parents[2]

SHELL_SCRIPT = textwrap.dedent("""
    import asyncio, dataclasses, sys
    from pathlib import Path
    from console.config import load_config
    from console.engine.actions import ActionService
    from console.engine.audit import AuditLog
    from console.engine.dockerapi import DockerClients
    from console.engine.hosts import make_host

    async def main():
        config = load_config(sys.argv[1])
        alpha = config.servers[0]
        host = make_host(alpha)
        await host.start()
        assert await host.wait_up(30)
        clients = DockerClients()
        actions = ActionService(config, {alpha.name: host}, clients=clients,
                                audit=AuditLog(Path(sys.argv[2])))
        result = await actions.shell(alpha.name, "crm-backend-1")
        print(f"\\r\\nSHELL-RESULT {result.exit_status}", flush=True)
        clients.close()
        await host.close()

    asyncio.run(main())
""")


class Tmux:
    def __init__(self, name: str) -> None:
        self.name = name

    def start(self, command: str, cwd: Path) -> None:
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "120", "-y", "32",
                        "-c", str(cwd), command], check=True)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def screen(self) -> str:
        done = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name],
                              capture_output=True, text=True, check=False)
        return done.stdout

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False,
                       capture_output=True)


def config_with_audit(lab: Any, tmp_path: Path) -> tuple[Path, Path]:
    audit = tmp_path / "audit.jsonl"
    text = lab.config_path.read_text()
    lines = [line for line in text.splitlines() if not line.startswith("audit_log")]
    out = []
    for line in lines:
        out.append(line)
        if line.strip() == "[console]":
            out.append(f'audit_log = "{audit}"')
    path = tmp_path / "config.toml"
    path.write_text("\n".join(out) + "\n")
    return path, audit


def records(audit: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit.read_text().splitlines()]


def test_a_shell_over_ssh_in_a_pty(lab: Any, tmp_path: Path) -> None:
    config, audit = config_with_audit(lab, tmp_path)
    script = tmp_path / "shell.py"
    script.write_text(SHELL_SCRIPT)
    tmux = Tmux(f"ops-shell-{time.monotonic_ns()}")
    tmux.start(f"PYTHONPATH={ROOT} {sys.executable} {script} {config} {audit}; sleep 60", ROOT)
    try:
        tmux.wait_for("#", timeout=30)  # the container's root prompt
        tmux.keys("echo SHELL-$((6*7)) $(stty size)", "Enter")
        tmux.wait_for("SHELL-42 32 120")  # a PTY of the terminal's size
        tmux.keys("exit 5", "Enter")
        tmux.wait_for("SHELL-RESULT 5")
    finally:
        tmux.kill()
    intent, outcome = records(audit)
    assert (intent["action"], intent["phase"], intent["target"]) == (
        "shell", "intent", "crm-backend-1")
    assert outcome["outcome"] == "failed" and outcome["exit_status"] == 5
    assert "SHELL-" not in audit.read_text() and "stty" not in audit.read_text()


def test_x_in_the_tui_suspends_it_and_brings_it_back(lab: Any, tmp_path: Path) -> None:
    config, audit = config_with_audit(lab, tmp_path)
    tmux = Tmux(f"ops-tui-{time.monotonic_ns()}")
    tmux.start(f"PYTHONPATH={ROOT} {sys.executable} -m console --config {config}; sleep 60",
               ROOT)
    try:
        tmux.wait_for("crm-backend-1", timeout=60)
        tmux.keys("1")
        time.sleep(1.0)
        before = tmux.screen()
        tmux.keys("x")
        tmux.wait_for("#", timeout=30)
        tmux.keys("echo TUI-$((6*7))", "Enter")
        tmux.wait_for("TUI-42")
        tmux.keys("exit", "Enter")
        after = tmux.wait_for("crm-backend-1", timeout=30)
        assert "TUI-42" not in after  # the console's own screen again, not the shell's
        assert after.splitlines()[0] == before.splitlines()[0]
        tmux.keys("q")
    finally:
        tmux.kill()
    actions = [(r["action"], r["phase"]) for r in records(audit)]
    assert ("shell", "intent") in actions and ("shell", "outcome") in actions
    assert "TUI-" not in audit.read_text()
