"""A throwaway fleet of N sshd on loopback (ports 2400-2449 for 50), each reaching Docker.

Each server is a real OpenSSH daemon with its own config and pid file; they share one
generated host key and one client key in a temp dir (a fleet's hosts would have their own
keys, but key generation is not what is measured). Each reaches this machine's Docker
socket through the SSH connection, exactly as the console reaches a remote host.

    with Fleet50(count=50) as fleet:
        fleet.config_path      # ops-console config with servers s00..s49
        fleet.ports, fleet.key, fleet.known_hosts

Started in parallel (all daemons launched, then all waited for) and torn down at exit,
including the per-connection session processes, even when the benchmark fails. A run that
was killed outright (SIGKILL, a closed terminal) cannot tear down; the next ``up()`` finds
its daemons by their ``ops-bench-fleet-*`` config path, sees that the run that owned them
is gone (``owner.pid``), and stops them before taking the ports (``reap_stale``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.lab.sshd import sshd_config
from tests.lab.system import pid_alive

__all__ = ["Fleet50", "banner_ok", "pids_named", "proc_cpu", "reap_stale", "server_names"]

BASE_PORT = 2400
DIR_PREFIX = "ops-bench-fleet-"
OWNER_FILE = "owner.pid"
DOCKER_SOCKET = "/var/run/docker.sock"

def server_names(count: int) -> list[str]:
    return [f"s{i:02d}" for i in range(count)]


def banner_ok(port: int, timeout: float = 0.5) -> bool:
    """True when an SSH server answers on the port with its banner."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # sshd binds with SO_REUSEADDR too, so TIME-WAIT leftovers of a run do not count
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _parents() -> dict[int, list[int]]:
    """pid -> its children, from one pass over /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    return parents


def _children(pid: int, parents: dict[int, list[int]] | None = None) -> list[int]:
    """Every descendant of ``pid`` (sshd session processes), from /proc."""
    parents = _parents() if parents is None else parents
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Fleet50:
    """``count`` sshd on 127.0.0.1:base_port.. with a generated ops-console config."""

    def __init__(self, count: int = 50, base_port: int = BASE_PORT) -> None:
        self.count = count
        self.ports = [base_port + i for i in range(count)]
        self.names = server_names(count)
        self.dir = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        (self.dir / OWNER_FILE).write_text(str(os.getpid()))
        self.key = self.dir / "id_ed25519"
        self.host_key = self.dir / "host_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.authorized_keys = self.dir / "authorized_keys"
        self.config_path = self.dir / "fleet.toml"
        self.pids: list[int] = []

    # -- life cycle ------------------------------------------------------------------

    def __enter__(self) -> Fleet50:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self, timeout: float = 30.0) -> None:
        if any(not _port_free(p) for p in self.ports):
            reap_stale()
        busy = [p for p in self.ports if not _port_free(p)]
        if busy:
            raise RuntimeError(f"ports already in use: {busy[:5]} (a fleet left running?)")
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        self._keys()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        launches = []
        for name, port in zip(self.names, self.ports, strict=True):
            conf = self.dir / f"sshd_{name}.conf"
            conf.write_text(sshd_config(port, self.host_key, self.dir / f"sshd_{name}.pid",
                                        self.authorized_keys, log_level="ERROR",
                                        sftp=False))
            # without -D sshd daemonizes: the launcher returns once it listens
            launches.append(subprocess.Popen([sshd, "-f", str(conf), "-E",
                                              str(self.dir / f"sshd_{name}.log")]))
        for proc in launches:
            proc.wait(timeout=timeout)
        self._collect_pids()
        deadline = time.monotonic() + timeout
        waiting = set(self.ports)
        while waiting and time.monotonic() < deadline:
            waiting = {p for p in waiting if not banner_ok(p)}
            if waiting:
                time.sleep(0.05)
        if waiting:
            raise RuntimeError(f"{len(waiting)} sshd did not answer (e.g. port "
                               f"{min(waiting)}); logs in {self.dir}")
        self.write_config()

    def _keys(self) -> None:
        for path, comment in ((self.key, "ops-bench-client"), (self.host_key, "ops-bench-host")):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                            "-f", str(path)], check=True)
        self.authorized_keys.write_text(self.key.with_suffix(".pub").read_text())
        kind, blob = self.host_key.with_suffix(".pub").read_text().split()[:2]
        self.known_hosts.write_text("".join(f"[127.0.0.1]:{p} {kind} {blob}\n"
                                            for p in self.ports))

    def _collect_pids(self) -> None:
        self.pids = []
        for name in self.names:
            with contextlib.suppress(OSError, ValueError):
                self.pids.append(int((self.dir / f"sshd_{name}.pid").read_text()))

    def down(self) -> None:
        """Stop every listener and its sessions, then remove the temp dir."""
        self._collect_pids()
        victims = []
        for pid in self.pids:
            victims += [pid, *_children(pid)]
        _terminate(victims)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cpu_seconds(self) -> float:
        """CPU used so far by the fleet: listeners, their sessions, and the sessions' commands.

        Exited sessions are counted through their listener's cutime/cstime (it reaps them);
        live ones through their own stat.
        """
        self._collect_pids()
        parents = _parents()  # one /proc pass for all 50: this runs in the measured process
        total = 0.0
        for pid in self.pids:
            total += proc_cpu(pid, children=True)
            total += sum(proc_cpu(child, children=True, precise=True)
                         for child in _children(pid, parents))
        return total

    # -- configs -----------------------------------------------------------------------

    def write_config(self, count: int | None = None, path: Path | None = None) -> Path:
        """An ops-console config with the first ``count`` servers (docker only)."""
        path = path or self.config_path
        blocks = ["[console]\nread_only = true\n"
                  f'audit_log = "{self.dir / "audit.jsonl"}"\n']
        for name, port in list(zip(self.names, self.ports, strict=True))[:count]:
            blocks.append(
                f'[[servers]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
                f'user = "root"\nidentity_file = "{self.key}"\n'
                f'known_hosts = "{self.known_hosts}"\ndocker_socket = "{DOCKER_SOCKET}"\n')
        path.write_text("\n".join(blocks))
        return path

    def ssh_argv(self, port: int, *command: str) -> list[str]:
        """The OpenSSH client command line for one server, same key and known_hosts."""
        return ["ssh", "-p", str(port), "-i", str(self.key),
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-F", "/dev/null",
                "root@127.0.0.1", *command]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int, children: bool = False, precise: bool = False) -> float:
    """utime + stime of ``pid`` (all its threads) in seconds; with ``children`` also the
    CPU of the children it has reaped. 0.0 when the process is gone.

    ``precise``: take the process's own time from schedstat (nanoseconds, main thread
    only) instead of stat's 10 ms ticks, which round a short-lived sshd session to zero.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    if precise:
        with contextlib.suppress(OSError, ValueError, IndexError):
            own = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK if children else 0.0
    return own + reaped


def pids_named(name: str) -> list[int]:
    """Pids whose executable name (comm) is ``name``, e.g. every ``dockerd``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    out.append(int(entry.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def stale_fleet_dirs(tmp: Path | None = None) -> list[Path]:
    """Fleet dirs whose owning process is gone (a run killed before its teardown)."""
    tmp = tmp or Path(tempfile.gettempdir())
    out = []
    for path in sorted(tmp.glob(DIR_PREFIX + "*")):
        try:
            owner = int((path / OWNER_FILE).read_text())
        except (OSError, ValueError):
            owner = 0  # a fleet from before owner files, or half made: nobody owns it
        if owner != os.getpid() and not (owner and pid_alive(owner)):
            out.append(path)
    return out


def reap_stale(tmp: Path | None = None) -> list[int]:
    """Stop the sshd (listeners and sessions) of stale fleets and remove their dirs.

    Only daemons whose command line names a stale fleet dir are touched, so a fleet of a
    run still alive (another benchmark in progress) and the lab's own sshd are left alone.
    Returns the pids signalled.
    """
    dirs = stale_fleet_dirs(tmp)
    if not dirs:
        return []
    marks = [str(d) + "/" for d in dirs]
    listeners = [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()
                 and "sshd" in (cmd := _cmdline(int(e.name))) and any(m in cmd for m in marks)]
    victims = []
    for pid in listeners:
        victims += [pid, *_children(pid)]
    _terminate(victims)
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)
    return victims


def _terminate(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return False


if __name__ == "__main__":  # manual use: bring a fleet up, print where, wait for Enter
    with Fleet50() as fleet:
        print(f"{fleet.count} sshd up; config {fleet.config_path}; Enter tears down")
        input()
