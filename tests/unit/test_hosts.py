"""Hosts without a server: LocalHost for real, SSHHost's connection loop against dead ports,
the backoff schedule, the remote command wrapper (run locally with sh) and the wording of
every SSH refusal."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import subprocess
import time
from pathlib import Path

import asyncssh
import pytest

from console.config import ServerConfig
from console.engine.host_api import HostUnavailable
from console.engine.hosts import (
    AgentInfo,
    LocalHost,
    SSHHost,
    auth_rejected_message,
    backoff_delay,
    changed_host_key_message,
    encrypted_identity_message,
    known_hosts_name,
    make_host,
    no_credentials_message,
    unknown_host_key_message,
)
from console.engine.hosts.commands import command_line
from console.engine.hosts.ssh import channel_open_error
from console.models import ConnectionStatus, ConnState

LOCAL = ServerConfig(name="local")


def _gone(pid: int) -> bool:
    """True once pid no longer exists or is only a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        await asyncio.sleep(0.05)
    return _gone(pid)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- backoff


def test_backoff_grows_and_is_capped_without_jitter() -> None:
    delays = [backoff_delay(n, jitter=0.0) for n in range(10)]
    assert delays[:6] == [1, 2, 4, 8, 16, 30]
    assert all(d == 30 for d in delays[5:])
    assert delays == sorted(delays)


def test_backoff_jitter_stays_within_bounds_and_under_cap() -> None:
    assert backoff_delay(2, rand=lambda: 0.0) == pytest.approx(4 * 0.8)
    assert backoff_delay(2, rand=lambda: 1.0) == pytest.approx(4 * 1.2)
    assert backoff_delay(20, rand=lambda: 1.0) == 30  # jitter never lifts it over the cap
    for attempt in (0, 3, 7, 100, 10_000):
        assert 0 < backoff_delay(attempt) <= 30


def test_backoff_respects_custom_base_and_cap() -> None:
    assert [backoff_delay(n, base=0.5, cap=3, jitter=0) for n in range(5)] == [0.5, 1, 2, 3, 3]


# --------------------------------------------------------------------------- LocalHost


def test_make_host_picks_local_or_ssh() -> None:
    assert isinstance(make_host(LOCAL), LocalHost)
    assert isinstance(make_host(ServerConfig(name="prod", host="203.0.113.10")), SSHHost)


async def test_local_run_collects_output_status_and_input() -> None:
    host = LocalHost(LOCAL)
    result = await host.run(["sh", "-c", 'printf "%s" "$1"; echo oops >&2; exit 3', "sh",
                             "a b;$HOME"])
    assert (result.exit_status, result.stdout, result.stderr) == (3, b"a b;$HOME", b"oops\n")
    echoed = await host.run(["cat"], input=b"\x00binary\xff")
    assert echoed.ok and echoed.stdout == b"\x00binary\xff"


async def test_local_run_missing_command_is_127_like_a_shell() -> None:
    result = await LocalHost(LOCAL).run(["no-such-command-ops-console"])
    assert result.exit_status == 127
    assert b"not found" in result.stderr


async def test_local_run_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    host = LocalHost(LOCAL)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="within 0.5s"):
        await host.run(["sh", "-c", f'sleep 30 & echo "$$ $!" > {pidfile}; wait'],
                       timeout=0.5)
    # The whole group gets SIGKILL at once; killing only the shell would leave `sleep`
    # holding the pipes until the 2 s grace ran out.
    assert time.monotonic() - started < 1.8
    shell, child = (int(p) for p in pidfile.read_text().split())
    assert await _wait_gone(shell) and await _wait_gone(child)


async def test_local_stream_yields_output_and_close_kills_the_process() -> None:
    host = LocalHost(LOCAL)
    agen = host.stream(["sh", "-c", 'echo "$$"; while :; do echo tick; sleep 0.05; done'])
    first = await agen.__anext__()
    pid = int(first.split(b"\n")[0])
    seen = first
    while seen.count(b"tick") < 3:
        seen += await agen.__anext__()
    await agen.aclose()
    assert await _wait_gone(pid)


async def test_local_stream_ends_when_the_command_ends() -> None:
    chunks = [c async for c in LocalHost(LOCAL).stream(["printf", "a\\nb\\n"])]
    assert b"".join(chunks) == b"a\nb\n"


async def test_local_read_file(tmp_path: Path) -> None:
    host = LocalHost(LOCAL)
    path = tmp_path / "f.env"
    path.write_bytes(b"JWT_SECRET=x\n" * 100)
    assert await host.read_file(str(path)) == path.read_bytes()
    assert await host.read_file(str(path), max_bytes=5) == b"JWT_S"
    with pytest.raises(FileNotFoundError):
        await host.read_file(str(tmp_path / "absent"))
    with pytest.raises(IsADirectoryError):
        await host.read_file(str(tmp_path))


async def test_local_read_file_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("x")
    path.chmod(0)
    # Root reads any file, so as root the read is made as "nobody" (the saved uid stays 0,
    # which lets the test switch back).
    as_root = os.geteuid() == 0
    if as_root:
        # Warm the thread pool first: "nobody" cannot read the interpreter's own lazy imports.
        await asyncio.to_thread(lambda: None)
        os.seteuid(65534)
    try:
        with pytest.raises(PermissionError):
            await LocalHost(LOCAL).read_file(str(path))
    finally:
        if as_root:
            os.seteuid(0)


async def test_local_docker_url_and_tcp() -> None:
    host = LocalHost(ServerConfig(name="local", docker_socket="/run/custom.sock"))
    assert await host.docker_base_url() == "unix:///run/custom.sock"

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await host.open_tcp("127.0.0.1", port)
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()


async def test_local_host_is_up_until_closed() -> None:
    host = LocalHost(LOCAL)
    seen: list[ConnectionStatus] = []
    host.add_status_listener(seen.append)
    await host.start()
    assert host.status.is_up and await host.wait_up(0.1)
    await host.close()
    assert [s.state for s in seen] == [ConnState.LOST]
    with pytest.raises(HostUnavailable):
        await host.run(["true"])
    with pytest.raises(HostUnavailable):
        await host.read_file("/etc/hostname")


async def test_argv_must_not_be_a_shell_string() -> None:
    with pytest.raises(ValueError):
        await LocalHost(LOCAL).run("rm -rf /")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        command_line([])


# --------------------------------------------------------------------------- remote wrapper


HOSTILE = ["printf", "%s|", "a b", "$HOME", "'q'", '"dq"', ";id", "`id`", "$(id)", "*", "\\",
           "\n", ""]


def _run_wrapped(argv: list[str]) -> tuple[int, bytes, bytes]:
    """Run the remote command line with sh, stdin held open as an SSH channel holds it
    (closing it early would, rightly, make the watchdog stop the command)."""
    proc = subprocess.Popen(["sh", "-c", command_line(argv)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    try:
        out, err = proc.stdout.read(), proc.stderr.read()
        return proc.wait(timeout=10), out, err
    finally:
        proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


def test_remote_command_line_passes_argv_verbatim() -> None:
    """What the server's login shell gets: run it with sh here, argv must survive."""
    status, out, err = _run_wrapped(HOSTILE)
    assert status == 0, err
    assert out == ("|".join(HOSTILE[2:]) + "|").encode()


def test_remote_command_line_keeps_exit_status_and_stderr() -> None:
    assert _run_wrapped(["sh", "-c", "echo e >&2; exit 9"]) == (9, b"", b"e\n")


def test_remote_command_line_missing_command_is_127() -> None:
    status, _, err = _run_wrapped(["no-such-command-ops-console", "x"])
    assert status == 127
    assert b"command not found" in err


def test_remote_watchdog_kills_the_command_when_stdin_closes(tmp_path: Path) -> None:
    """sshd closes the command's stdin when our channel goes: the command must die."""
    pidfile = tmp_path / "pid"
    argv = ["sh", "-c", f'echo "$$" > {pidfile}; sleep 30 | cat']
    proc = subprocess.Popen(["sh", "-c", command_line(argv)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        pid = int(pidfile.read_text())
        assert not _gone(pid)
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=5) != 0
        assert asyncio.run(_wait_gone(pid))
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()


# --------------------------------------------------------------------------- SSHHost loop


async def test_ssh_host_down_retries_with_backoff_and_reports_every_change() -> None:
    port = _free_port()  # nothing listens here: connection refused
    attempts: list[int] = []

    def fast_backoff(attempt: int) -> float:
        attempts.append(attempt)
        return 0.05

    host = SSHHost(ServerConfig(name="dead", host="127.0.0.1", port=port, user="root",
                                known_hosts=os.devnull), backoff=fast_backoff)
    seen: list[ConnectionStatus] = []
    broken_calls: list[int] = []

    def broken(status: ConnectionStatus) -> None:
        broken_calls.append(1)
        raise RuntimeError("a pane bug")

    host.add_status_listener(broken)  # must not stop the host or the next listener
    unsubscribe = host.add_status_listener(seen.append)
    assert host.status.state is ConnState.CONNECTING
    await host.start()
    try:
        assert not await host.wait_up(0.6)
        assert len(seen) >= 3 and len(broken_calls) == len(seen)
        assert all(s.state is ConnState.RETRYING for s in seen)
        assert all(s.retry_at is not None for s in seen)
        assert "connection refused" in seen[-1].detail and f"127.0.0.1:{port}" in seen[-1].detail
        assert attempts[:3] == [0, 1, 2]
        # "since" is when the trouble started, not the last attempt
        assert seen[-1].since == seen[0].since

        started = time.monotonic()
        with pytest.raises(HostUnavailable, match="connection refused"):
            await host.run(["true"])
        with pytest.raises(HostUnavailable):
            await host.docker_base_url()
        with pytest.raises(HostUnavailable):
            await host.open_tcp("127.0.0.1", 80)
        with pytest.raises(HostUnavailable):
            await host.read_file("/etc/hostname")
        with pytest.raises(HostUnavailable):
            await host.stream(["true"]).__anext__()
        assert time.monotonic() - started < 0.5

        unsubscribe()
        count = len(seen)
        await asyncio.sleep(0.2)
        assert len(seen) == count
    finally:
        await host.close()
    assert host.status.state is ConnState.LOST and host.status.detail == "closed"
    started = time.monotonic()
    assert not await host.wait_up(5)
    assert time.monotonic() - started < 0.5  # a closed host does not make callers wait
    calls = len(broken_calls)
    await asyncio.sleep(0.2)
    assert len(broken_calls) == calls  # no more attempts after close


async def test_ssh_connect_times_out_on_a_silent_server() -> None:
    """A peer that accepts TCP but never speaks (like a blackhole) must not hang."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes handshakes; nobody ever answers
    port = silent.getsockname()[1]
    host = SSHHost(ServerConfig(name="mute", host="127.0.0.1", port=port,
                                known_hosts=os.devnull),
                   connect_timeout=0.5, backoff=lambda n: 30)
    seen: list[ConnectionStatus] = []
    host.add_status_listener(seen.append)
    try:
        await host.start()
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert seen and seen[0].state is ConnState.RETRYING
        assert "no answer within 0.5s" in seen[0].detail
        assert 20 < (seen[0].retry_in() or 0) <= 30
    finally:
        await host.close()
        silent.close()


async def test_ssh_missing_known_hosts_file_is_refused_before_connecting(tmp_path: Path) -> None:
    host = SSHHost(ServerConfig(name="x", host="127.0.0.1", port=_free_port(),
                                known_hosts=str(tmp_path / "absent")), backoff=lambda n: 30)
    seen: list[ConnectionStatus] = []
    host.add_status_listener(seen.append)
    try:
        await host.start()
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert "known_hosts file" in seen[0].detail and "does not exist" in seen[0].detail
    finally:
        await host.close()


def test_ssh_host_never_disables_host_key_checking() -> None:
    for known in (None, "~/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts"):
        host = SSHHost(ServerConfig(name="p", host="203.0.113.10", known_hosts=known))
        options = host._connect_options()
        assert options["known_hosts"] is not None
        assert options["keepalive_interval"] and options["connect_timeout"]


# --------------------------------------------------------------------------- messages


def test_known_hosts_name_like_openssh() -> None:
    assert known_hosts_name("prod.example", 22) == "prod.example"
    assert known_hosts_name("127.0.0.1", 2222) == "[127.0.0.1]:2222"


FP = "SHA256:jZqPMXK+rk9R1xiNGxwMpwmnpncZW2VkF5mFiOUcT5Y"


def test_unknown_host_key_message_names_host_port_and_fingerprint() -> None:
    text = unknown_host_key_message("127.0.0.1", 2222, "ssh-ed25519", FP, "/kh")
    assert "127.0.0.1:2222" in text and FP in text and "/kh" in text
    assert "refusing" in text and "ssh-keyscan -p 2222 127.0.0.1" in text
    assert "CHANGED" not in text


def test_changed_host_key_message_is_distinct_and_says_how_to_fix() -> None:
    text = changed_host_key_message("10.0.0.5", 22, "ssh-ed25519", FP, "/kh")
    assert "10.0.0.5:22 CHANGED" in text and FP in text
    assert "man-in-the-middle" in text and "refusing" in text
    assert "ssh-keygen -R '10.0.0.5' -f /kh" in text


def test_agent_phrases() -> None:
    assert "SSH_AUTH_SOCK is not set" in AgentInfo(None).phrase()
    assert "no ssh-agent answers" in AgentInfo("/tmp/a.sock").phrase()
    assert "holds no keys" in AgentInfo("/tmp/a.sock", reachable=True).phrase()
    assert "offered 2 keys" in AgentInfo("/a", reachable=True, keys=2).phrase()
    assert "offered 1 key" in AgentInfo("/a", reachable=True, keys=1).phrase()


def test_encrypted_identity_message() -> None:
    no_agent = encrypted_identity_message("root@h:22", "/k/id", AgentInfo(None))
    assert "identity file /k/id is encrypted" in no_agent
    assert "load it into ssh-agent" in no_agent.lower() and "ssh-agent)" in no_agent
    with_agent = encrypted_identity_message("root@h:22", "/k/id",
                                            AgentInfo("/a", reachable=True))
    assert with_agent.endswith("ssh-add /k/id")


def test_no_credentials_and_rejected_messages() -> None:
    text = no_credentials_message("deploy@h:22", AgentInfo(None))
    assert "no identity_file" in text and "SSH_AUTH_SOCK is not set" in text
    assert "deploy@h:22" in text
    rejected = auth_rejected_message("deploy@h:22", ["identity file /k", "ssh-agent offered 1 key"])
    assert "deploy@h:22 rejected" in rejected and "/k" in rejected
    assert "~deploy/.ssh/authorized_keys" in rejected


@pytest.mark.parametrize(("code", "reason", "expected"), [
    (asyncssh.OPEN_CONNECT_FAILED, "Connection refused", ConnectionRefusedError),
    (asyncssh.OPEN_CONNECT_FAILED, "Connection timed out", TimeoutError),
    (asyncssh.OPEN_CONNECT_FAILED, "Name or service not known", socket.gaierror),
    (asyncssh.OPEN_CONNECT_FAILED, "No route to host: unreachable", OSError),
    (asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, "open failed", PermissionError),
    (asyncssh.OPEN_CONNECT_FAILED, "open failed", ConnectionError),
])
def test_tunnel_failures_map_to_local_connect_errors(code: int, reason: str,
                                                      expected: type[OSError]) -> None:
    exc = channel_open_error(asyncssh.ChannelOpenError(code, reason), "db", 5432, "prod")
    assert type(exc) is expected
    assert "db:5432" in str(exc) and "prod" in str(exc)
    if expected is ConnectionRefusedError:
        assert exc.errno == errno.ECONNREFUSED
