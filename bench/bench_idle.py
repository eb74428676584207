"""Benchmark: the console's CPU while idle with the lab connected, and its memory.

The real ``ops-console`` runs in a real pty (a private tmux server), connected to the lab's
two servers, with no traffic. Once its screen shows every container of both servers, its
CPU time (utime + stime from /proc/<pid>/stat, all threads) is read over a window: 60 s, or
25 s with ``--quick``. Target: under 1% of one core.

Baseline, measured in the same run and at the same time: a bare Textual app (a Static and a
Footer) in the same kind of pty, i.e. what the framework itself costs when nothing happens.
RSS of the console is reported for information (the 50-server RSS target is in
bench_fanout).

    python -m bench.bench_idle
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import figure, is_quick

LAB_CONFIG = Path(os.environ.get("OPS_LAB_ROOT", "/srv/ops-lab")) / "config.toml"
WINDOW_S = 60.0
QUICK_WINDOW_S = 25.0
SETTLE_S = 3.0
"""After the screen is filled: let start-up work (first probes, first frames) finish."""
CPU_TARGET_PCT = 1.0
TMUX_SOCKET = "ops-bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")

BARE_APP = ("from textual.app import App\n"
            "from textual.widgets import Footer, Static\n"
            "class Bare(App):\n"
            "    def compose(self):\n"
            "        yield Static('idle')\n"
            "        yield Footer()\n"
            "Bare().run()\n")

_names = itertools.count()


def console_argv(config: Path) -> list[str]:
    """The installed entry point when there is one, else ``python -m console``."""
    exe = shutil.which("ops-console")
    return [exe, "--config", str(config)] if exe else [sys.executable, "-m", "console",
                                                       "--config", str(config)]


def bare_app_argv() -> list[str]:
    return [sys.executable, "-c", BARE_APP]


class TmuxApp:
    """A TUI process in its own tmux session (a real pty), on a private tmux server."""

    def __init__(self, argv: list[str], size: tuple[int, int] = (160, 50),
                 env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.size = size
        self.env = env or {}
        self.session = f"bench-{os.getpid()}-{next(_names)}"
        self.pid: int | None = None

    def _tmux(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True,
                              text=True, check=check)
        return proc.stdout

    def start(self) -> TmuxApp:
        reap_stale_sessions()
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        command = f"exec {'env ' + exports + ' ' if exports else ''}{shlex.join(self.argv)}"
        self._tmux("new-session", "-d", "-s", self.session, "-x", str(self.size[0]),
                   "-y", str(self.size[1]), command)
        self.pid = int(self._tmux("display-message", "-p", "-t", self.session,
                                  "#{pane_pid}").strip())
        return self

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session, check=False)

    def wait_for(self, needles: list[str], timeout: float) -> float:
        """Seconds until every needle is on screen; TimeoutError with the screen if not."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive():
                raise RuntimeError(f"{self.argv[0]} exited early")
            text = self.screen()
            if all(n in text for n in needles):
                return time.monotonic() - started
            time.sleep(0.2)
        missing = [n for n in needles if n not in self.screen()]
        raise TimeoutError(f"not on screen after {timeout:.0f} s: {missing}")

    def alive(self) -> bool:
        return self.pid is not None and Path(f"/proc/{self.pid}").exists()

    def cpu_seconds(self) -> float:
        """utime + stime of the process (all its threads), in seconds."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory_mb(self) -> dict[str, float]:
        """VmRSS and VmHWM (peak RSS) in MB."""
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
        return out

    def stop(self) -> None:
        """Quit with ``q`` like an operator, then make sure the session is gone."""
        with contextlib.suppress(Exception):
            self._tmux("send-keys", "-t", self.session, "q", check=False)
            deadline = time.monotonic() + 6
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
        self._tmux("kill-session", "-t", self.session, check=False)

    def __enter__(self) -> TmuxApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stale_sessions(names: list[str], alive: Callable[[int], bool]) -> list[str]:
    """Sessions ``bench-<pid>-<n>`` whose creating run (``pid``) is gone."""
    out = []
    for name in names:
        parts = name.split("-")
        if len(parts) == 3 and parts[0] == "bench" and parts[1].isdigit() \
                and not alive(int(parts[1])):
            out.append(name)
    return out


def reap_stale_sessions() -> list[str]:
    """Kill the tmux sessions (and so the consoles in them) of a killed earlier run.

    A run stopped with SIGKILL cannot quit its apps; a console left running in a forgotten
    pty would take CPU from every later figure.
    """
    proc = subprocess.run(["tmux", "-L", TMUX_SOCKET, "list-sessions", "-F",
                           "#{session_name}"], capture_output=True, text=True, check=False)
    names = proc.stdout.split() if proc.returncode == 0 else []
    stale = stale_sessions(names, lambda pid: Path(f"/proc/{pid}").exists())
    for name in stale:
        subprocess.run(["tmux", "-L", TMUX_SOCKET, "kill-session", "-t", name],
                       capture_output=True, check=False)
    return stale


def cpu_share(apps: list[TmuxApp], window: float) -> list[float]:
    """Percent of one core each app used over the same ``window`` seconds."""
    before = [a.cpu_seconds() for a in apps]
    started = time.monotonic()
    time.sleep(window)
    wall = time.monotonic() - started
    return [100 * (a.cpu_seconds() - b) / wall for a, b in zip(apps, before, strict=True)]


def lab_needles(config_path: Path) -> list[str]:
    """What a connected console shows: every lab container name (from the lab's config)."""
    import tomllib

    data = tomllib.loads(config_path.read_text())
    names = []
    for server in data.get("servers", []):
        names += server.get("logs", {}).get("containers", [])
        names += server.get("secrets", {}).get("containers", [])
    return sorted(set(names))


def run(quick: bool | None = None) -> dict[str, Any]:
    quick = is_quick() if quick is None else quick
    window = QUICK_WINDOW_S if quick else WINDOW_S
    if not LAB_CONFIG.exists():
        raise RuntimeError(f"no lab config at {LAB_CONFIG}: run `python -m tests.lab up`")
    env = {"TERM": "xterm-256color", "COLORTERM": "truecolor"}
    with TmuxApp(console_argv(LAB_CONFIG), env=env) as app, \
            TmuxApp(bare_app_argv(), env=env) as bare:
        connect_s = app.wait_for(lab_needles(LAB_CONFIG), timeout=60)
        bare.wait_for(["idle"], timeout=30)
        time.sleep(SETTLE_S)
        app_pct, bare_pct = cpu_share([app, bare], window)
        memory = app.memory_mb()
        bare_memory = bare.memory_mb()
    return {
        "window_s": window,
        "figures": [
            figure("idle CPU, lab connected (2 servers)", round(app_pct, 3), "% core",
                   target=CPU_TARGET_PCT, op="<", baseline=round(bare_pct, 3),
                   baseline_label="bare Textual app",
                   note=f"{window:.0f} s window in a tmux pty"),
            figure("RSS, lab connected", round(memory.get("VmRSS", 0), 1), "MB",
                   baseline=round(bare_memory.get("VmRSS", 0), 1),
                   baseline_label="bare Textual app",
                   note=f"peak {memory.get('VmHWM', 0):.0f} MB"),
            figure("containers on screen after launch", round(connect_s, 2), "s",
                   note="tmux screen polled every 0.2 s"),
        ],
        "idle_cpu_pct": round(app_pct, 3),
        "bare_textual_cpu_pct": round(bare_pct, 3),
        "rss_mb": memory,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
