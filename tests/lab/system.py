"""The machine under the lab: packages, dockerd, processes, one lock.

Why so defensive: the lab runs on fresh CI machines (nothing installed, nothing running) and
on reused developer machines (a dockerd someone else started, pid files left by a killed
session). Each step checks what is there before acting, so ``up`` is cheap when warm.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

DOCKER_SOCKET = "/var/run/docker.sock"
DOCKER_PID = Path("/var/run/docker.pid")

# What `up` needs on the machine: a command to look for, and the Debian package that gives it.
REQUIRED_TOOLS: tuple[tuple[str, str], ...] = (
    ("dockerd", "docker.io"),
    ("sshd", "openssh-server"),
    ("ssh-keygen", "openssh-server"),
    ("debootstrap", "debootstrap"),
    ("ip", "iproute2"),
    ("iptables", "iptables"),
    ("docker-compose", "docker-compose"),
)
APT_PACKAGES = ("docker.io", "openssh-server", "debootstrap", "busybox-static", "iproute2",
                "iptables", "docker-compose")
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class LabError(RuntimeError):
    """The lab cannot reach the state asked for; the message says what to look at."""


_T0 = time.monotonic()


def say(message: str) -> None:
    """Progress on stderr with the time since start, so slow steps are visible in CI logs."""
    print(f"[lab {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def run(argv: Sequence[str], *, check: bool = True, timeout: float | None = 600,
        quiet: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command; on failure raise LabError with the tail of its output."""
    full_env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:{SBIN_PATH}", **(env or {})}
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=full_env, check=False)
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-15:]
        raise LabError(f"{argv[0]} exited {proc.returncode}: " + "\n".join(tail))
    if not quiet and proc.returncode != 0:
        say(f"{' '.join(argv[:3])} exited {proc.returncode}")
    return proc


def which(tool: str) -> str | None:
    return shutil.which(tool, path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")


def is_root() -> bool:
    return os.geteuid() == 0


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise lab changes: several pytest runs on one machine may call ``up`` at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- packages


def missing_packages() -> list[str]:
    missing = [pkg for tool, pkg in REQUIRED_TOOLS if which(tool) is None]
    if not _dpkg_installed("busybox-static"):
        missing.append("busybox-static")
    return sorted(set(missing))


def _dpkg_installed(package: str) -> bool:
    proc = run(["dpkg-query", "-W", "-f", "${db:Status-Status}", package], check=False,
               quiet=True)
    return proc.returncode == 0 and proc.stdout.strip() == "installed"


def ensure_packages() -> None:
    """apt-get install what is missing; `apt-get update` once, only if something is."""
    missing = missing_packages()
    if not missing:
        return
    if not is_root():
        raise LabError(f"missing packages {', '.join(missing)} and not root to install them")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    say(f"installing {' '.join(missing)} (apt-get update first)")
    run(["apt-get", "update"], env=env, timeout=900)
    run(["apt-get", "install", "-y", *APT_PACKAGES], env=env, timeout=1800)
    still = missing_packages()
    if still:
        raise LabError(f"apt-get install did not provide {', '.join(still)}")


# --------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not alive for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (for sshd: the per-connection processes)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_and_wait(pids: Sequence[int], timeout: float = 5.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def tcp_banner(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bytes | None:
    """The first bytes a TCP server sends (an SSH banner), or None if nothing answers."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64)
    except OSError:
        return None


# --------------------------------------------------------------------------- dockerd


def docker_answers(timeout: float = 3.0, sock_path: str = DOCKER_SOCKET) -> bool:
    """Whether the socket answers a ping (raw HTTP: no SDK import, no env lookup)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(sock_path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(256)
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


def ensure_dockerd(log_path: Path, timeout: float = 90.0, sock_path: str = DOCKER_SOCKET,
                   pid_file: Path = DOCKER_PID, extra_args: Sequence[str] = ()) -> int | None:
    """Use the running dockerd if it answers; otherwise start one that outlives us.

    Returns the pid of a dockerd it started, None if one already answered. The socket,
    pid file and extra arguments exist so the start path can be exercised on a second,
    private daemon without touching the machine's one.
    """
    if docker_answers(sock_path=sock_path):
        return None
    if not is_root():
        raise LabError(f"docker socket {sock_path} does not answer and not root to start "
                       "dockerd")
    pid = read_pid(pid_file)
    if pid and pid_alive(pid) and "dockerd" in " ".join(cmdline(pid)):
        say(f"dockerd (pid {pid}) is running but not answering yet; waiting")
        if _wait_docker(min(timeout, 30.0), sock_path):
            return None
        raise LabError(f"dockerd pid {pid} runs but {sock_path} does not answer; "
                       "see its log")
    if pid_file.exists():
        say(f"removing stale {pid_file} (pid {pid} is not a running dockerd)")
        pid_file.unlink(missing_ok=True)
    dockerd = which("dockerd")
    if dockerd is None:
        raise LabError("dockerd not found")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say(f"starting dockerd (log {log_path})")
    argv = [dockerd, "--host", f"unix://{sock_path}", "--pidfile", str(pid_file), *extra_args]
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        # `setsid -f` forks and returns at once: dockerd gets its own session, is reparented
        # to init (no zombie, no "still running" warning here) and survives a killed CI
        # process group; no inherited fds keep our pipes open.
        subprocess.run(["setsid", "-f", *argv], stdin=devnull, stdout=log, stderr=log,
                       close_fds=True, cwd="/", env={**os.environ, "PATH": SBIN_PATH},
                       check=True, timeout=30)
    deadline = time.monotonic() + timeout
    started = None
    while time.monotonic() < deadline:
        started = read_pid(pid_file) or started
        if docker_answers(1.0, sock_path):
            say(f"dockerd up (pid {started})")
            return started
        if started is not None and not pid_alive(started):
            raise LabError(f"dockerd (pid {started}) exited: {_tail(log_path)}")
        time.sleep(0.3)
    raise LabError(f"dockerd did not answer within {timeout:.0f}s: {_tail(log_path)}")


def _wait_docker(timeout: float, sock_path: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker_answers(1.0, sock_path):
            return True
        time.sleep(0.5)
    return False


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
