"""SSHHost against real OpenSSH: commands, files, the forwarded Docker socket, tunnels, the
refusals an operator must be able to act on, and a server that dies mid-session.

Tests that break sshd (kill it, freeze it, swap keys, log in with encrypted keys) use a
private sshd started by this module in a temporary directory, so the shared lab servers are
never disturbed; tests that need the lab's Docker daemon or backend use the ``lab`` fixture,
and a few talk to the lab's own server alpha exactly as the console does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.config import ServerConfig
from console.engine.host_api import HostUnavailable
from console.engine.hosts import SSHHost
from console.models import ConnectionStatus, ConnState
from tests.lab.sshd import sshd_config

pytestmark = pytest.mark.lab

ENCRYPTED_PASSPHRASE = "correct horse battery staple"

# --------------------------------------------------------------------------- private sshd


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(path: Path, passphrase: str = "") -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", path.name,
                    "-f", str(path)], check=True, capture_output=True)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _gone(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] == "Z"


def _descendants(root_pid: int) -> list[int]:
    """Every process below root_pid. sshd's per-connection children call setsid() and
    retitle themselves, so neither the process group nor ``pkill -f`` finds them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


class PrivateSshd:
    """``sshd -D`` on 127.0.0.1:<free port> with its own host key and client keys."""

    def __init__(self, root: Path, *, sftp: bool = True) -> None:
        self.root = root
        self.port = _free_port()
        self.sftp = sftp
        self.proc: subprocess.Popen[bytes] | None = None
        self.host_key = root / "host_ed25519"
        self.client_key = root / "id_ed25519"
        self.encrypted_key = root / "id_encrypted"
        self.known_hosts = root / "known_hosts"
        self.config = root / "sshd_config"
        self.log = root / "sshd.log"

    def setup(self) -> PrivateSshd:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        _keygen(self.host_key)
        _keygen(self.client_key)
        _keygen(self.encrypted_key, ENCRYPTED_PASSPHRASE)
        pubs = [k.with_suffix(".pub").read_text() for k in (self.client_key,
                                                             self.encrypted_key)]
        (self.root / "authorized_keys").write_text("".join(pubs))
        self.known_hosts.write_text(self.known_hosts_line())
        self.config.write_text(sshd_config(
            self.port, self.host_key, self.root / "sshd.pid", self.root / "authorized_keys",
            log_level="ERROR", max_sessions=10, sftp=self.sftp))
        return self

    def known_hosts_line(self, pub: Path | None = None) -> str:
        kind, blob = (pub or self.host_key.with_suffix(".pub")).read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def server(self, **overrides: object) -> ServerConfig:
        fields: dict[str, object] = dict(
            name="private", host="127.0.0.1", port=self.port, user="root",
            identity_file=str(self.client_key), known_hosts=str(self.known_hosts))
        fields.update(overrides)
        return ServerConfig(**fields)  # type: ignore[arg-type]

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                return sock.recv(4).startswith(b"SSH-")
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(self.config)],
                                         stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-2000:]}")
            if self.answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sshd silent on {self.port}: {self.log.read_text()[-2000:]}")

    def processes(self) -> list[int]:
        return [] if self.proc is None else [self.proc.pid, *_descendants(self.proc.pid)]

    def stop(self) -> None:
        """Kill the listener and every session process at once, like a crashed server."""
        if self.proc is None:
            return
        victims = self.processes()
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        deadline = time.monotonic() + 5
        while any(not _gone(p) for p in victims[1:]) and time.monotonic() < deadline:
            time.sleep(0.05)

    def signal_all(self, sig: int) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateSshd]:
    server = PrivateSshd(tmp_path_factory.mktemp("sshd")).setup()
    server.start()
    yield server
    server.signal_all(signal.SIGCONT)
    server.stop()


@pytest.fixture
def running_sshd(sshd: PrivateSshd) -> Iterator[PrivateSshd]:
    """The private sshd, guaranteed running before and after the test (even if it broke it)."""
    if not sshd.running:
        sshd.start()
    yield sshd
    sshd.signal_all(signal.SIGCONT)
    if not sshd.running or not sshd.answers():
        sshd.stop()
        sshd.start()


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private ssh-agent for this test (killed afterwards); SSH_AUTH_SOCK points at it."""
    sock = tmp_path / "agent.sock"
    out = subprocess.run(["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True,
                         check=True).stdout
    pid = int(out.split("SSH_AGENT_PID=")[1].split(";")[0])
    monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
    try:
        yield sock
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def _ssh_add(key: Path, passphrase: str, tmp_path: Path) -> None:
    askpass = tmp_path / "askpass"
    askpass.write_text(f"#!/bin/sh\necho '{passphrase}'\n")
    askpass.chmod(0o700)
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
           "DISPLAY": ":0"}
    subprocess.run(["ssh-add", str(key)], env=env, stdin=subprocess.DEVNULL,
                   capture_output=True, check=True, timeout=10)


# --------------------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def connected(server: ServerConfig, **kwargs: object):
    host = SSHHost(server, **kwargs)  # type: ignore[arg-type]
    await host.start()
    try:
        assert await host.wait_up(15), host.status.detail
        yield host
    finally:
        await host.close()


async def refusal(server: ServerConfig) -> ConnectionStatus:
    """The status of a host that cannot connect, after its first attempt."""
    host = SSHHost(server, backoff=lambda attempt: 60)
    seen: list[ConnectionStatus] = []
    host.add_status_listener(seen.append)
    await host.start()
    try:
        deadline = time.monotonic() + 15
        while not seen and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert seen, "no status change within 15 s"
        return seen[0]
    finally:
        await host.close()


async def wait_for(predicate, timeout: float) -> float:
    """Seconds until predicate() held; fails the test on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def docker_ping_and_names(url: str) -> tuple[bool, list[str]]:
    import docker

    client = docker.DockerClient(base_url=url, timeout=20)
    try:
        return client.ping(), [c.name for c in client.containers.list(all=True)]
    finally:
        client.close()


# --------------------------------------------------------------------------- the lab's alpha


async def test_lab_alpha_run_read_docker_and_tunnel(lab) -> None:
    """The console's own path to a lab server: config, one connection, every channel kind."""
    server = lab.load_config().server("alpha")
    async with connected(server) as host:
        result = await host.run(["sh", "-c", 'echo "$1" "$(id -u)"', "sh", "a  'b' $c"])
        assert result.ok and result.stdout == b"a  'b' $c 0\n"

        assert await host.read_file("/etc/os-release") == Path("/etc/os-release").read_bytes()
        with pytest.raises(FileNotFoundError):
            await host.read_file("/nonexistent/ops-console")

        url = await host.docker_base_url()
        assert url.startswith("unix://") and url != "unix:///var/run/docker.sock"
        pong, names = await asyncio.to_thread(docker_ping_and_names, url)
        assert pong and "crm-backend-1" in names

        reader, writer = await host.open_tcp("127.0.0.1", 8000)
        writer.write(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        response = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert response.startswith(b"HTTP/1.") and b" 200 " in response.split(b"\r\n")[0]
        assert b'"status"' in response
    assert not Path(url.removeprefix("unix://")).parent.exists()


async def test_lab_unknown_host_key_is_refused_with_host_and_fingerprint(lab, tmp_path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    server = lab.load_config().server("alpha")
    server = ServerConfig(name="alpha", host=server.host, port=server.port, user=server.user,
                          identity_file=server.identity_file, known_hosts=str(empty))
    status = await refusal(server)
    fingerprint = _fingerprint(lab.layout.host_key("alpha").with_suffix(".pub"))
    assert status.state is ConnState.RETRYING
    assert f"host key for 127.0.0.1:{lab.ports['alpha']} is not in {empty}" in status.detail
    assert fingerprint in status.detail and "refusing to connect" in status.detail
    assert empty.read_text() == ""  # nothing was trusted on first use


# --------------------------------------------------------------------------- private sshd


async def test_run_stream_and_timeouts_kill_remote_processes(running_sshd, tmp_path) -> None:
    async with connected(running_sshd.server()) as host:
        result = await host.run(["sh", "-c", "echo out; echo err >&2; exit 7"])
        assert (result.exit_status, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
        assert (await host.run(["cat"], input=b"fed\n")).stdout == b"fed\n"
        missing = await host.run(["no-such-command-ops-console"])
        assert missing.exit_status == 127 and b"not found" in missing.stderr

        pidfile = tmp_path / "run.pid"
        with pytest.raises(TimeoutError, match="within 0.5s"):
            await host.run(["sh", "-c", f'echo "$$" > {pidfile}; exec sleep 60'], timeout=0.5)
        pid = int(pidfile.read_text())
        await wait_for(lambda: _gone(pid), 5)

        agen = host.stream(["sh", "-c", 'echo "$$"; while :; do echo tick; sleep 0.05; done'])
        first = await agen.__anext__()
        pid = int(first.split(b"\n")[0])
        seen = first
        while seen.count(b"tick") < 3:
            seen += await agen.__anext__()
        await agen.aclose()
        await wait_for(lambda: _gone(pid), 5)

        chunks = [c async for c in host.stream(["printf", "%s\\n", "one", "two"])]
        assert b"".join(chunks) == b"one\ntwo\n"


async def test_more_concurrent_commands_than_sshd_sessions(running_sshd) -> None:
    """sshd allows 10 sessions per connection; the host queues instead of failing."""
    async with connected(running_sshd.server()) as host:
        streams = [host.stream(["sh", "-c", "echo up; sleep 30"]) for _ in range(3)]
        for agen in streams:
            assert await agen.__anext__() == b"up\n"
        results = await asyncio.gather(*(host.run(["echo", str(i)]) for i in range(30)))
        assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(30)]
        for agen in streams:
            await agen.aclose()


async def test_read_file_over_sftp_and_without_it(running_sshd, tmp_path) -> None:
    data = bytes(range(256)) * 1000
    path = tmp_path / "blob"
    path.write_bytes(data)
    no_sftp = PrivateSshd(tmp_path / "nosftp", sftp=False).setup()
    no_sftp.start()
    try:
        for server in (running_sshd.server(), no_sftp.server()):
            async with connected(server) as host:
                assert await host.read_file(str(path)) == data
                assert await host.read_file(str(path), max_bytes=1000) == data[:1000]
                with pytest.raises(FileNotFoundError):
                    await host.read_file(str(tmp_path / "absent"))
                with pytest.raises(IsADirectoryError):
                    await host.read_file(str(tmp_path))
    finally:
        no_sftp.stop()


async def test_open_tcp_tunnels_and_maps_refusal(running_sshd) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo:" + await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, connected(running_sshd.server()) as host:
        reader, writer = await host.open_tcp("127.0.0.1", port)
        writer.write(b"hello\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"echo:hello\n"
        writer.close()
        with pytest.raises(ConnectionRefusedError, match=f"127.0.0.1:{_free_port()}|refused"):
            await host.open_tcp("127.0.0.1", _free_port())
        with pytest.raises(socket.gaierror):
            await host.open_tcp("no-such-host.invalid", 80)


async def test_docker_socket_forward(running_sshd, lab) -> None:
    async with connected(running_sshd.server(docker_socket=lab.docker_socket)) as host:
        url = await host.docker_base_url()
        sock = Path(url.removeprefix("unix://"))
        assert sock.is_socket()
        assert sock.parent.stat().st_mode & 0o777 == 0o700
        assert await host.docker_base_url() == url  # one forward, reused
        pong, names = await asyncio.to_thread(docker_ping_and_names, url)
        assert pong and "crm-backend-1" in names
    assert not sock.parent.exists()  # close() removes the private directory


async def test_changed_host_key_is_refused_distinctly(running_sshd, tmp_path) -> None:
    impostor = tmp_path / "old_host_key"
    _keygen(impostor)
    known = tmp_path / "known_hosts"
    known.write_text(running_sshd.known_hosts_line(impostor.with_suffix(".pub")))
    status = await refusal(running_sshd.server(known_hosts=str(known)))
    real = _fingerprint(running_sshd.host_key.with_suffix(".pub"))
    assert f"host key for 127.0.0.1:{running_sshd.port} CHANGED" in status.detail
    assert real in status.detail and "man-in-the-middle" in status.detail
    assert f"ssh-keygen -R '[127.0.0.1]:{running_sshd.port}' -f {known}" in status.detail


async def test_encrypted_key_without_agent_says_load_it_into_agent(running_sshd, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    key = running_sshd.encrypted_key
    status = await refusal(running_sshd.server(identity_file=str(key)))
    assert f"identity file {key} is encrypted" in status.detail
    assert "SSH_AUTH_SOCK is not set" in status.detail and f"ssh-add {key}" in status.detail
    assert ENCRYPTED_PASSPHRASE not in status.detail


async def test_encrypted_key_loaded_in_agent_logs_in(running_sshd, agent, tmp_path) -> None:
    key = running_sshd.encrypted_key
    status = await refusal(running_sshd.server(identity_file=str(key)))
    assert "ssh-agent holds no keys" in status.detail and f"ssh-add {key}" in status.detail
    _ssh_add(key, ENCRYPTED_PASSPHRASE, tmp_path)
    async with connected(running_sshd.server(identity_file=str(key))) as host:
        assert (await host.run(["true"])).ok


async def test_no_agent_and_no_identity_is_explained(running_sshd, monkeypatch, tmp_path):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh keys, no ~/.ssh/config
    status = await refusal(running_sshd.server(identity_file=None))
    assert "no identity_file is configured" in status.detail
    assert "SSH_AUTH_SOCK is not set" in status.detail
    assert f"root@127.0.0.1:{running_sshd.port}" in status.detail


async def test_sshd_killed_mid_session_is_lost_fast_then_reconnects(running_sshd, lab) -> None:
    host = SSHHost(running_sshd.server(docker_socket=lab.docker_socket))
    states: list[ConnState] = []
    host.add_status_listener(lambda status: states.append(status.state))
    await host.start()
    try:
        assert await host.wait_up(15)
        url = await host.docker_base_url()
        agen = host.stream(["sh", "-c", "while :; do echo tick; sleep 0.1; done"])
        assert b"tick" in await agen.__anext__()

        await asyncio.to_thread(running_sshd.stop)
        lost_after = await wait_for(lambda: not host.status.is_up, 5)
        assert lost_after < 5
        assert ConnState.LOST in states
        with pytest.raises(HostUnavailable):  # the follower learns the stream died
            async for _ in agen:
                pass
        started = time.monotonic()
        with pytest.raises(HostUnavailable, match="unreachable"):
            await host.run(["true"])
        assert time.monotonic() - started < 0.5  # at once, not after a timeout

        await asyncio.sleep(2)  # down for a while: a few failed attempts, backoff grows
        assert host.status.state is ConnState.RETRYING and host.status.retry_at is not None
        await asyncio.to_thread(running_sshd.start)
        assert await host.wait_up(40), host.status.detail
        assert (await host.run(["echo", "back"])).stdout == b"back\n"
        assert await host.docker_base_url() == url  # same path, forward re-created
        pong, _ = await asyncio.to_thread(docker_ping_and_names, url)
        assert pong
        assert states[0] is ConnState.UP and states[-1] is ConnState.UP
    finally:
        await host.close()
    assert not Path(url.removeprefix("unix://")).parent.exists()


async def test_frozen_server_is_noticed_by_keepalives(running_sshd) -> None:
    """A peer that stops answering (power cut, blackhole) closes nothing: keepalives find it."""
    host = SSHHost(running_sshd.server(), keepalive_interval=0.5, keepalive_count_max=2,
                   connect_timeout=2, backoff=lambda attempt: 0.5)
    await host.start()
    try:
        assert await host.wait_up(15)
        running_sshd.signal_all(signal.SIGSTOP)
        try:
            lost_after = await wait_for(lambda: not host.status.is_up, 8)
            assert lost_after < 5
            assert "lost" in host.status.detail
        finally:
            running_sshd.signal_all(signal.SIGCONT)
        assert await host.wait_up(30), host.status.detail
        assert (await host.run(["true"])).ok
    finally:
        await host.close()
