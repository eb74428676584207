"""Local and SSH hosts: run, read, forward the Docker socket, tunnel TCP, reconnect.

``LocalHost`` is this machine: subprocesses, plain files, the local Docker socket.

``SSHHost`` is a server behind **one** asyncssh connection. Every command, file read, Docker
API call (a forwarded unix socket) and tunnelled TCP connection is a channel on it, so an
operator's server sees one login per console, and there is one link whose health decides
whether the server is "up". A supervisor task owns that link: it connects, reports
``ConnectionStatus`` to listeners, notices loss (``connection_lost`` plus keepalives, so a
silently dead peer is found within ~15 s) and reconnects forever with capped, jittered
exponential backoff until ``close()``. While the link is down every call raises
``HostUnavailable`` at once with the status detail, so no pane ever hangs on a dead server.

Status sequence: CONNECTING (first attempt only) -> UP; on loss LOST, then at once RETRYING
with ``retry_at``; every failed attempt announces RETRYING again with its reason and next
``retry_at``. ``since`` stays at the moment the link was lost (or first failed), so a pane
can say "lost 40s ago, retry in 8s"; listeners are called on the event loop at each change.

Security choices, all deliberate:

- Host keys are always checked against known_hosts (``known_hosts`` is never ``None``). An
  unknown or changed key is refused; the message names host:port and the offered key's
  SHA256 fingerprint so the operator can verify it out of band. The offered key is captured
  only to *report* it: ``_Client.validate_host_public_key`` always answers False.
- Authentication follows OpenSSH: the configured ``identity_file``, else ssh-agent and
  ``~/.ssh/config`` (asyncssh reads it by default). An encrypted identity file is never
  prompted for; the console tells the operator to load it into ssh-agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import getpass
import logging
import os
import random
import shlex
import shutil
import signal
import socket
import tempfile
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncssh

from console.config import ServerConfig
from console.engine.host_api import Host, HostUnavailable, StatusListener
from console.engine.listeners import Listeners
from console.engine.shared import RETRY_MAX, RETRY_MIN, retry_delay
from console.models import CommandResult, ConnectionStatus, ConnState, utcnow

__all__ = [
    "AgentInfo",
    "LocalHost",
    "SSHHost",
    "auth_rejected_message",
    "backoff_delay",
    "changed_host_key_message",
    "encrypted_identity_message",
    "known_hosts_name",
    "make_host",
    "no_credentials_message",
    "unknown_host_key_message",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # a blackholed address must not hang the first connect
LOGIN_TIMEOUT = 15.0
KEEPALIVE_INTERVAL = 5.0  # with COUNT_MAX 2: a dead peer is noticed within ~10-15 s
KEEPALIVE_COUNT_MAX = 2
BACKOFF_BASE = RETRY_MIN
BACKOFF_CAP = RETRY_MAX
# OpenSSH's MaxSessions defaults to 10 per connection and counts exec channels and the SFTP
# subsystem (not forwarded sockets). Staying below it means a busy console waits for a free
# session instead of getting "open failed" from sshd.
MAX_SESSIONS = 8
CHUNK = 64 * 1024
STOP_GRACE = 2.0  # seconds a local process gets after SIGTERM before SIGKILL


def make_host(server: ServerConfig) -> Host:
    """The Host for one configured server: this machine for ``host = "local"``, else SSH."""
    return LocalHost(server) if server.is_local else SSHHost(server)


def backoff_delay(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP,
                  jitter: float = 0.2, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0-based): 1, 2, 4, ... <= cap.

    The jitter (+-20 % by default) keeps many hosts that lost the same network link from
    reconnecting in lockstep; the result never exceeds ``cap``.
    """
    raw = retry_delay(attempt, base=base, cap=cap)
    spread = raw * jitter * (2.0 * rand() - 1.0)
    return max(0.0, min(cap, raw + spread))


def _check_argv(argv: Sequence[str]) -> list[str]:
    """A string here is almost always a shell command line by mistake: refuse it."""
    if isinstance(argv, str) or not argv:
        raise ValueError("argv must be a non-empty sequence of arguments, not a shell string")
    return [str(a) for a in argv]


# Runs argv on the server and kills it when our channel goes away. sshd only honours SSH
# "signal" requests with privilege separation, which it skips for root logins, and closing
# a channel does not stop a process that never writes (``sleep``, an idle ``tail -F``). So
# the command's stdin is a pipe we never write to: when the channel closes (aclose(), a
# timeout, a dead link), ``cat`` sees EOF and the watchdog TERMs the command's whole
# session, made with ``setsid`` where available so pipelines die too.
# A background job's stdin is /dev/null unless redirected explicitly, hence fd 3.
_WATCHDOG = (
    'command -v "$1" >/dev/null 2>&1 || { echo "$1: command not found" >&2; exit 127; }\n'
    'exec 3<&0\n'
    'if command -v setsid >/dev/null 2>&1; then setsid "$@" </dev/null 3<&- &\n'
    'else "$@" </dev/null 3<&- &\n'
    'fi\n'
    'c=$!\n'
    '( cat <&3 >/dev/null 2>&1; kill -TERM -"$c" 2>/dev/null || kill -TERM "$c" 2>/dev/null'
    ' ) &\n'
    'w=$!\n'
    'wait "$c"; s=$?\n'
    'kill "$w" 2>/dev/null\n'
    'exit "$s"\n'
)


def _command_line(argv: Sequence[str]) -> str:
    """The remote login shell gets one string: argv is passed to the watchdog verbatim.

    Every argument is quoted with ``shlex.join`` and reaches the command as-is (``"$@"``),
    so nothing in argv is ever interpreted by a shell.
    """
    return f"sh -c {shlex.quote(_WATCHDOG)} sh {shlex.join(_check_argv(argv))}"


def _short(argv: Sequence[str]) -> str:
    """A command for a message: enough to recognise it, never a wall of text."""
    text = shlex.join(argv)
    return text if len(text) <= 80 else text[:77] + "..."


def _plain_command_line(argv: Sequence[str]) -> str:
    """For commands that read our stdin (run with input): no watchdog is possible."""
    return shlex.join(_check_argv(argv))


# --------------------------------------------------------------------------- messages
#
# Pure functions, so the wording an operator reads at 3 AM is unit-tested without a server.


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def unknown_host_key_message(host: str, port: int, key_type: str, fingerprint: str,
                             known_hosts: str) -> str:
    entry = known_hosts_name(host, port)
    port_opt = "" if port == 22 else f"-p {port} "
    return (f"host key for {host}:{port} is not in {known_hosts}: refusing to connect. "
            f"The server offered {key_type} {fingerprint}. Only if you have verified that "
            f"fingerprint with the server's owner, add it: "
            f"ssh-keyscan {port_opt}{host} >> {known_hosts}  (entry {entry})")


def changed_host_key_message(host: str, port: int, key_type: str, fingerprint: str,
                             known_hosts: str) -> str:
    entry = known_hosts_name(host, port)
    return (f"host key for {host}:{port} CHANGED: the server now offers {key_type} "
            f"{fingerprint}, which does not match the key for {entry} in {known_hosts}. "
            f"This is a possible man-in-the-middle attack: refusing to connect. If the server "
            f"was legitimately rebuilt, verify the new fingerprint, then fix known_hosts: "
            f"ssh-keygen -R '{entry}' -f {known_hosts}")


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """What ssh-agent could offer, for explaining an authentication failure."""

    socket: str | None  # SSH_AUTH_SOCK; None when unset
    reachable: bool = False
    keys: int = 0

    def phrase(self) -> str:
        if not self.socket:
            return "no ssh-agent is available (SSH_AUTH_SOCK is not set)"
        if not self.reachable:
            return f"no ssh-agent answers at SSH_AUTH_SOCK={self.socket}"
        if self.keys == 0:
            return "ssh-agent holds no keys"
        return f"ssh-agent offered {self.keys} key{'s' if self.keys != 1 else ''}"


def encrypted_identity_message(target: str, identity_file: str, agent: AgentInfo) -> str:
    if agent.socket and agent.reachable:
        how = f"ssh-add {identity_file}"
    else:
        how = (f'eval "$(ssh-agent)" && ssh-add {identity_file}, then start ops-console '
               f"from that shell")
    return (f"cannot log in to {target}: identity file {identity_file} is encrypted (it has a "
            f"passphrase) and {agent.phrase()}; ops-console never asks for passphrases. "
            f"Load it into ssh-agent: {how}")


def no_credentials_message(target: str, agent: AgentInfo) -> str:
    return (f"cannot log in to {target}: no identity_file is configured for this server, "
            f"{agent.phrase()} and there is no unencrypted default key (~/.ssh/id_*). Set "
            f"identity_file in the config, or load a key into ssh-agent (ssh-add) and start "
            f"ops-console from that shell")


def auth_rejected_message(target: str, tried: Sequence[str]) -> str:
    offered = "; ".join(tried) if tried else "no key"
    user = target.split("@", 1)[0] if "@" in target else "that user"
    return (f"{target} rejected the keys offered ({offered}): check that the public key is "
            f"in ~{user}/.ssh/authorized_keys on the server and that the user name is right")


def _lost_reason(exc: BaseException | None) -> str:
    if exc is None:
        return "closed by the server"
    reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
    return reason.rstrip(".")


def _describe_connect_error(exc: BaseException, target: str, host: str,
                            timeout: float) -> str:
    """One sentence for a failed connect that is neither host-key nor authentication."""
    if isinstance(exc, ConnectionRefusedError):
        return f"{target}: connection refused (is sshd running on that port?)"
    if isinstance(exc, TimeoutError):
        return (f"{target}: no answer within {timeout:g}s (server down, or packets "
                f"dropped by a firewall)")
    if isinstance(exc, socket.gaierror):
        return f"{target}: cannot resolve host name {host!r} ({exc.strerror or exc})"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"{target}: {exc.reason or type(exc).__name__}"
    if isinstance(exc, OSError):
        return f"{target}: {exc.strerror or exc}"
    return f"{target}: {type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------- local


class _StatusMixin:
    """Listener bookkeeping shared by both hosts: call every listener, survive bad ones."""

    name: str
    _status: ConnectionStatus
    _closed: bool

    def _init_status(self, status: ConnectionStatus) -> None:
        self._status = status
        self._listeners: Listeners[ConnectionStatus] = Listeners(f"host {self.name} status")
        self._up_event = asyncio.Event()

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    def add_status_listener(self, listener: StatusListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def _set_status(self, state: ConnState, detail: str, *, since: datetime | None = None,
                    retry_at: datetime | None = None) -> None:
        self._status = ConnectionStatus(state, detail, since or utcnow(), retry_at)
        if state is ConnState.UP:
            self._up_event.set()
        else:
            self._up_event.clear()
        self._listeners.emit(self._status)

    async def wait_up(self, timeout: float | None = None) -> bool:
        if self._status.is_up:
            return True
        if self._closed:
            return False
        try:
            await asyncio.wait_for(self._up_event.wait(), timeout)
        except TimeoutError:
            return False
        return self._status.is_up


class LocalHost(_StatusMixin, Host):
    """This machine. Always up from construction until ``close()``."""

    def __init__(self, server: ServerConfig) -> None:
        self.name = server.name
        self.server = server
        self._closed = False
        self._init_status(ConnectionStatus(ConnState.UP, "this machine"))
        self._up_event.set()

    def _check_open(self) -> None:
        if self._closed:
            raise HostUnavailable(f"server {self.name}: closed")

    async def start(self) -> None:
        """Nothing to connect: this machine is reachable by definition."""

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._set_status(ConnState.LOST, "closed")

    async def run(self, argv: Sequence[str], *, timeout: float | None = 30.0,
                  input: bytes | None = None) -> CommandResult:
        """Run argv; on timeout its whole process group is killed and TimeoutError raised.

        A missing executable gives exit status 127, as a shell on an SSH host would, so
        callers handle both hosts alike.
        """
        args = _check_argv(argv)
        self._check_open()
        try:
            proc = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.PIPE if input is not None
                else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
        except FileNotFoundError:
            return CommandResult(127, b"", f"{args[0]}: command not found\n".encode())
        except PermissionError:
            return CommandResult(126, b"", f"{args[0]}: permission denied\n".encode())
        try:
            out, err = await asyncio.wait_for(proc.communicate(input), timeout)
        except TimeoutError:
            await _stop_local(proc, signal.SIGKILL)
            raise TimeoutError(f"{args[0]!r} on {self.name} did not finish within "
                               f"{timeout:g}s and was killed") from None
        except BaseException:
            await _stop_local(proc, signal.SIGKILL)
            raise
        return CommandResult(proc.returncode, out, err)

    async def stream(self, argv: Sequence[str]) -> AsyncIterator[bytes]:
        args = _check_argv(argv)
        self._check_open()
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        assert proc.stdout is not None
        try:
            while chunk := await proc.stdout.read(CHUNK):
                yield chunk
            await proc.wait()
        finally:
            await _stop_local(proc, signal.SIGTERM)

    async def read_file(self, path: str, *, max_bytes: int = 4 * 1024 * 1024) -> bytes:
        self._check_open()
        return await asyncio.to_thread(_read_head, path, max_bytes)

    async def docker_base_url(self) -> str:
        self._check_open()
        return f"unix://{self.server.docker_socket}"

    async def open_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader,
                                                              asyncio.StreamWriter]:
        self._check_open()
        return await asyncio.open_connection(host, port)


def _read_head(path: str, max_bytes: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(max_bytes)


async def _stop_local(proc: asyncio.subprocess.Process, sig: int) -> None:
    """Signal the process group (the command and anything it spawned), then reap it."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
    try:
        await asyncio.wait_for(proc.wait(), STOP_GRACE)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


# --------------------------------------------------------------------------- ssh


class _ConnectFailed(Exception):
    """A connect attempt failed; the message is the operator-facing status detail."""


class _Client(asyncssh.SSHClient):
    """One per connect attempt: records the host key offered and why the link ended."""

    def __init__(self) -> None:
        self.offered: tuple[str, str, int, asyncssh.SSHKey] | None = None
        self.lost_exc: BaseException | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        # asyncssh calls this only for a key that known_hosts does not trust. We keep it to
        # name its fingerprint in the refusal and always refuse: no trust on first use.
        self.offered = (host, addr, port, key)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_exc = exc


class SSHHost(_StatusMixin, Host):
    """A server behind one asyncssh connection, kept alive by a supervisor task.

    ``docker_base_url()`` returns the same ``unix://`` path for the life of the host: the
    forward is re-created on that path after every reconnect, before the status turns UP,
    so a docker client built on it keeps working once the host is up again.
    """

    def __init__(self, server: ServerConfig, *,
                 backoff: Callable[[int], float] = backoff_delay,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 login_timeout: float = LOGIN_TIMEOUT,
                 keepalive_interval: float = KEEPALIVE_INTERVAL,
                 keepalive_count_max: int = KEEPALIVE_COUNT_MAX,
                 max_sessions: int = MAX_SESSIONS) -> None:
        self.name = server.name
        self.server = server
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._login_timeout = login_timeout
        self._keepalive_interval = keepalive_interval
        self._keepalive_count_max = keepalive_count_max
        self._sessions = asyncio.Semaphore(max_sessions)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_conn: asyncssh.SSHClientConnection | None = None
        self._sftp_unsupported = False
        self._sftp_lock = asyncio.Lock()
        self._forward_dir: str | None = None
        self._forward_listener: asyncssh.SSHListener | None = None
        self._forward_conn: asyncssh.SSHClientConnection | None = None
        self._forward_lock = asyncio.Lock()
        self._init_status(ConnectionStatus(ConnState.CONNECTING,
                                           f"connecting to {self.target}"))

    # -- identity ----------------------------------------------------------------------

    @property
    def target(self) -> str:
        """``user@host:port`` as the operator configured it (for messages)."""
        user = f"{self.server.user}@" if self.server.user else ""
        return f"{user}{self.server.host}:{self.server.port}"

    @property
    def _address(self) -> str:
        return f"{self.server.host}:{self.server.port}"

    @property
    def known_hosts_path(self) -> str:
        return os.path.expanduser(self.server.known_hosts or "~/.ssh/known_hosts")

    @property
    def identity_path(self) -> str | None:
        ident = self.server.identity_file
        return os.path.expanduser(ident) if ident else None

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._supervise(), name=f"ssh:{self.name}")

    async def close(self) -> None:
        """Stop reconnecting, close the link, remove the forwarded socket's directory."""
        if self._closed:
            return
        self._closed = True
        conn = self._conn
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._conn = None
        self._sftp = None
        self._forward_listener = None
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5)
        if self._forward_dir:
            shutil.rmtree(self._forward_dir, ignore_errors=True)
            self._forward_dir = None
        self._set_status(ConnState.LOST, "closed")

    async def _supervise(self) -> None:
        """Connect, wait for the link to end, back off, repeat: forever, until close()."""
        attempt = 0
        down_since: datetime | None = None
        while not self._closed:
            try:
                lost_detail = await self._connect_and_hold()
            except _ConnectFailed as exc:
                detail = str(exc)
            except Exception as exc:  # a bug here must not end reconnecting for good
                log.exception("host %s: unexpected error in the connection loop", self.name)
                detail = f"{self._address}: internal error: {type(exc).__name__}: {exc}"
            else:
                if self._closed:
                    return
                # The link was up: start the backoff over, and say when it was lost.
                attempt, down_since = 0, utcnow()
                self._set_status(ConnState.LOST, lost_detail, since=down_since)
                detail = lost_detail
            down_since = down_since or utcnow()
            await self._retry_later(detail, down_since, attempt)
            attempt += 1

    async def _connect_and_hold(self) -> str:
        """One connection's life: connect, go UP, wait for the end; returns why it ended."""
        conn, client = await self._connect_once()
        try:
            await self._on_connected(conn)
            self._conn = conn
            self._set_status(ConnState.UP, f"connected to {self.target}")
            await conn.wait_closed()
        finally:
            self._conn = None
            conn.close()
        return f"connection to {self._address} lost: {_lost_reason(client.lost_exc)}"

    async def _retry_later(self, detail: str, down_since: datetime, attempt: int) -> None:
        delay = self._backoff(attempt)
        self._set_status(ConnState.RETRYING, detail, since=down_since,
                         retry_at=utcnow() + timedelta(seconds=delay))
        await asyncio.sleep(delay)

    async def _on_connected(self, conn: asyncssh.SSHClientConnection) -> None:
        """Restore per-connection state before anyone is told the host is up."""
        self._sftp = None
        self._sftp_conn = None
        self._sftp_unsupported = False  # the server may have been reconfigured
        if self._forward_dir is not None:
            try:
                await self._start_forward(conn)
            except (OSError, asyncssh.Error) as exc:
                log.warning("host %s: docker socket forward not re-created: %s", self.name, exc)

    # -- connecting --------------------------------------------------------------------

    def _connect_options(self) -> dict[str, object]:
        server = self.server
        options: dict[str, object] = {
            # Always an explicit path, never None and never asyncssh's default: with the
            # default, "UserKnownHostsFile none" in ~/.ssh/config would switch checking off.
            "known_hosts": self.known_hosts_path,
            "keepalive_interval": self._keepalive_interval,
            "keepalive_count_max": self._keepalive_count_max,
            "connect_timeout": self._connect_timeout,
            "login_timeout": self._login_timeout,
        }
        # Port 22 is also the config default, so leave it to ~/.ssh/config (Port) like
        # OpenSSH would; any other port was set on purpose.
        if server.port != 22:
            options["port"] = server.port
        if server.user:
            options["username"] = server.user
        ident = self.identity_path
        if ident:
            # An encrypted file is skipped rather than fatal, so a copy loaded in ssh-agent
            # (always consulted, like OpenSSH) can still log in; if none does, the failure
            # is explained by _explain_auth_failure.
            options["client_keys"] = [ident]
            options["ignore_encrypted"] = True
        return options

    async def _connect_once(self) -> tuple[asyncssh.SSHClientConnection, _Client]:
        if self.server.known_hosts and not os.path.exists(self.known_hosts_path):
            raise _ConnectFailed(
                f"known_hosts file {self.known_hosts_path} does not exist: host keys are "
                f"always checked, so ops-console will not connect to {self._address} until "
                f"that file lists it")
        client = _Client()
        try:
            conn = await asyncssh.connect(self.server.host, client_factory=lambda: client,
                                          **self._connect_options())
        except asyncio.CancelledError:
            raise
        except asyncssh.HostKeyNotVerifiable as exc:
            raise _ConnectFailed(await self._explain_host_key(client, exc)) from None
        except asyncssh.PermissionDenied:
            raise _ConnectFailed(await self._explain_auth_failure()) from None
        except Exception as exc:
            raise _ConnectFailed(self._explain_other(exc)) from None
        return conn, client

    def _explain_other(self, exc: BaseException) -> str:
        ident = self.identity_path
        if isinstance(exc, OSError) and ident and getattr(exc, "filename", None) == ident:
            return f"identity file {ident} for {self.target}: {exc.strerror or exc}"
        if isinstance(exc, asyncssh.KeyImportError):
            return f"identity file {ident} for {self.target} cannot be loaded: {exc}"
        return _describe_connect_error(exc, self._address, self.server.host,
                                       self._connect_timeout)

    async def _explain_host_key(self, client: _Client,
                                exc: asyncssh.HostKeyNotVerifiable) -> str:
        path = self.known_hosts_path
        host, port = self.server.host, self.server.port
        if client.offered is None:  # e.g. revoked key or CA problems: asyncssh says why
            return f"host key for {host}:{port} refused: {exc.reason}"
        match_host, addr, match_port, key = client.offered
        key_type = key.get_algorithm()
        fingerprint = key.get_fingerprint("sha256")
        known = await asyncio.to_thread(_known_keys, path, match_host, addr, match_port)
        if known:
            return changed_host_key_message(host, port, key_type, fingerprint, path)
        return unknown_host_key_message(host, port, key_type, fingerprint, path)

    async def _explain_auth_failure(self) -> str:
        agent = await _probe_agent()
        ident = self.identity_path
        target = self._login_target()
        if ident:
            state = await asyncio.to_thread(_identity_state, ident)
            if state == "encrypted":
                return encrypted_identity_message(target, ident, agent)
            tried = [f"identity file {ident}"]
        else:
            defaults = await asyncio.to_thread(_usable_default_keys)
            if not defaults and agent.keys == 0:
                return no_credentials_message(target, agent)
            tried = [f"~/.ssh/{Path(p).name}" for p in defaults]
        if agent.keys:
            tried.append(agent.phrase())
        return auth_rejected_message(target, tried)

    def _login_target(self) -> str:
        user = self.server.user
        if not user:  # asyncssh logs in as the local user by default, so name that one
            with contextlib.suppress(Exception):
                user = getpass.getuser()
        return f"{user}@{self._address}" if user else self._address

    # -- guards ------------------------------------------------------------------------

    def _require_up(self) -> asyncssh.SSHClientConnection:
        conn = self._conn
        if self._closed:
            raise HostUnavailable(f"server {self.name}: closed")
        if conn is None or not self._status.is_up:
            status = self._status
            raise HostUnavailable(f"server {self.name} is unreachable "
                                  f"({status.describe()}): {status.detail}")
        return conn

    @contextlib.contextmanager
    def _link_errors(self, conn: asyncssh.SSHClientConnection, what: str) -> Iterator[None]:
        """Turn a link dying under a call into HostUnavailable, which services expect."""
        try:
            yield
        except asyncssh.DisconnectError as exc:
            raise HostUnavailable(f"server {self.name}: connection lost during {what}: "
                                  f"{_lost_reason(exc)}") from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise HostUnavailable(f"server {self.name}: connection lost during {what}: "
                                  f"{exc}") from None
        except asyncssh.ChannelOpenError as exc:
            if conn.is_closed() or self._conn is not conn:
                raise HostUnavailable(f"server {self.name}: connection lost during {what}")\
                    from None
            raise ConnectionError(f"server {self.name} refused a channel for {what}: "
                                  f"{exc.reason}") from None

    def _raise_if_lost(self, conn: asyncssh.SSHClientConnection, what: str) -> None:
        if conn.is_closed() or self._conn is not conn:
            raise HostUnavailable(f"server {self.name}: connection lost during {what}")

    # -- commands ----------------------------------------------------------------------

    async def run(self, argv: Sequence[str], *, timeout: float | None = 30.0,
                  input: bytes | None = None) -> CommandResult:
        """Run argv on the server (quoted with ``shlex.join``, never shell-interpreted).

        On timeout the channel is closed, which makes the remote watchdog stop the command
        (and an SSH "signal" request is sent too, which sshd honours for non-root users),
        and TimeoutError is raised. A missing command gives exit status 127. With ``input``
        the command owns stdin, so no watchdog runs: a timed-out command that ignores the
        closed channel may outlive the call.
        """
        command = _command_line(argv) if input is None else _plain_command_line(argv)
        conn = self._require_up()
        try:
            return await asyncio.wait_for(
                self._run(conn, command, input, f"run {_short(argv)}"), timeout)
        except TimeoutError:
            raise TimeoutError(f"{argv[0]!r} on {self.name} did not finish within "
                               f"{timeout:g}s and was killed") from None

    async def _run(self, conn: asyncssh.SSHClientConnection, command: str,
                   input: bytes | None, what: str) -> CommandResult:
        with self._link_errors(conn, what):
            async with self._sessions:
                # stdin stays an open pipe: the watchdog stops the command when it closes.
                proc = await conn.create_process(command, encoding=None)
                try:
                    out, err = await proc.communicate(input)
                except BaseException:
                    _kill_remote(proc, "KILL")
                    raise
                if proc.exit_status is None and proc.exit_signal is None:
                    self._raise_if_lost(conn, what)
                return CommandResult(proc.returncode, bytes(out or b""), bytes(err or b""))

    async def stream(self, argv: Sequence[str]) -> AsyncIterator[bytes]:
        """Yield stdout chunks; stderr is discarded (so it cannot stall the channel).

        Closing the iterator closes the channel, and the remote watchdog TERMs the
        command. If the link dies mid-stream, HostUnavailable is raised rather than a quiet
        end, so a follower knows to resume rather than believe the source finished.
        """
        command = _command_line(argv)
        conn = self._require_up()
        what = f"stream {_short(argv)}"
        async with self._sessions:
            with self._link_errors(conn, what):
                proc = await conn.create_process(command, encoding=None,
                                                 stderr=asyncssh.DEVNULL)
            try:
                while True:
                    with self._link_errors(conn, what):
                        chunk = await proc.stdout.read(CHUNK)
                    if not chunk:
                        break
                    yield chunk
                with self._link_errors(conn, what):
                    await proc.wait_closed()
                if proc.exit_status is None and proc.exit_signal is None:
                    self._raise_if_lost(conn, what)
            finally:
                _kill_remote(proc, "TERM")

    # -- files -------------------------------------------------------------------------

    async def read_file(self, path: str, *, max_bytes: int = 4 * 1024 * 1024) -> bytes:
        """Read at most ``max_bytes`` over SFTP (falls back to ``head -c`` without SFTP).

        FileNotFoundError for an absent file, PermissionError when denied, IsADirectoryError
        for a directory, other OSError for the rest.
        """
        conn = self._require_up()
        sftp = await self._sftp_client(conn)
        if sftp is None:
            return await self._read_with_head(path, max_bytes)
        what = f"read {path}"
        with self._link_errors(conn, what):
            try:
                async with sftp.open(path, "rb") as fh:
                    return bytes(await fh.read(max_bytes))
            except asyncssh.SFTPNoSuchFile:
                raise FileNotFoundError(errno.ENOENT, f"no such file on {self.name}",
                                        path) from None
            except asyncssh.SFTPPermissionDenied:
                raise PermissionError(errno.EACCES, f"permission denied on {self.name}",
                                      path) from None
            except asyncssh.SFTPError as exc:
                self._raise_if_lost(conn, what)
                if await self._is_dir(sftp, path):
                    raise IsADirectoryError(errno.EISDIR, f"is a directory on {self.name}",
                                            path) from None
                raise OSError(errno.EIO, f"{exc.reason} on {self.name}", path) from None

    @staticmethod
    async def _is_dir(sftp: asyncssh.SFTPClient, path: str) -> bool:
        try:
            return await sftp.isdir(path)
        except (asyncssh.Error, OSError):
            return False

    async def _sftp_client(self, conn: asyncssh.SSHClientConnection
                           ) -> asyncssh.SFTPClient | None:
        """One SFTP session per connection, started on first use; None if unsupported."""
        async with self._sftp_lock:
            if self._sftp is not None and self._sftp_conn is conn:
                return self._sftp
            if self._sftp_unsupported:
                return None
            with self._link_errors(conn, "start SFTP"):
                try:
                    self._sftp = await conn.start_sftp_client()
                except (asyncssh.SFTPError, asyncssh.ChannelOpenError) as exc:
                    self._raise_if_lost(conn, "start SFTP")
                    log.info("host %s: no SFTP (%s); reading files with head", self.name, exc)
                    self._sftp_unsupported = True
                    return None
            self._sftp_conn = conn
            return self._sftp

    async def _read_with_head(self, path: str, max_bytes: int) -> bytes:
        result = await self.run(["env", "LC_ALL=C", "head", "-c", str(max_bytes), "--", path])
        if result.ok:
            return result.stdout
        err = result.stderr.decode("utf-8", "replace")
        if "No such file" in err:
            raise FileNotFoundError(errno.ENOENT, f"no such file on {self.name}", path)
        if "Permission denied" in err:
            raise PermissionError(errno.EACCES, f"permission denied on {self.name}", path)
        if "Is a directory" in err:
            raise IsADirectoryError(errno.EISDIR, f"is a directory on {self.name}", path)
        raise OSError(errno.EIO, f"{err.strip()[:200]} on {self.name}", path)

    # -- docker socket -----------------------------------------------------------------

    async def docker_base_url(self) -> str:
        """``unix://<private dir>/docker.sock`` forwarded to the server's docker_socket.

        The directory is created 0700 (only this user can reach the server's Docker through
        it) and the path is stable across reconnects.
        """
        conn = self._require_up()
        async with self._forward_lock:
            if self._forward_dir is None:
                self._forward_dir = tempfile.mkdtemp(prefix="ops-console-")  # mode 0700
                # Removed by close(); this also covers a host never closed (crash, a test).
                weakref.finalize(self, shutil.rmtree, self._forward_dir, ignore_errors=True)
            if self._forward_listener is None or self._forward_conn is not conn:
                with self._link_errors(conn, "forward the docker socket"):
                    await self._start_forward(conn)
        return f"unix://{self._forward_socket}"

    @property
    def _forward_socket(self) -> str:
        assert self._forward_dir is not None
        return os.path.join(self._forward_dir, "docker.sock")

    async def _start_forward(self, conn: asyncssh.SSHClientConnection) -> None:
        path = self._forward_socket
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # the previous connection's listener left its socket file
        self._forward_listener = await conn.forward_local_path(path, self.server.docker_socket)
        self._forward_conn = conn
        os.chmod(path, 0o600)

    # -- tcp ---------------------------------------------------------------------------

    async def open_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader,
                                                              asyncio.StreamWriter]:
        """A direct-tcpip channel: TCP from the server to host:port.

        Returns asyncssh's ``SSHReader``/``SSHWriter``: asyncio-stream-like (``read``,
        ``readexactly``, ``readline``, ``write``, ``drain``, ``write_eof``, ``close``,
        ``wait_closed``, ``is_closing``) but not StreamReader/StreamWriter subclasses.
        Failures use the same exceptions as a local connect: ConnectionRefusedError,
        TimeoutError, socket.gaierror, PermissionError when sshd forbids forwarding, and
        HostUnavailable when the link itself is down.
        """
        conn = self._require_up()
        what = f"connect to {host}:{port}"
        with self._link_errors(conn, what):
            try:
                reader, writer = await conn.open_connection(host, port)
            except asyncssh.ChannelOpenError as exc:
                self._raise_if_lost(conn, what)
                raise _channel_open_error(exc, host, port, self.name) from None
        return reader, writer  # type: ignore[return-value]


def _channel_open_error(exc: asyncssh.ChannelOpenError, host: str, port: int,
                        server: str) -> OSError:
    """Map sshd's channel-open refusal to the OSError a local connect would raise."""
    reason = exc.reason or "open failed"
    text = f"{host}:{port} from server {server}: {reason}"
    low = reason.lower()
    if exc.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED:
        return PermissionError(errno.EACCES, f"{text} (sshd forbids TCP forwarding)")
    if "refused" in low:
        return ConnectionRefusedError(errno.ECONNREFUSED, text)
    if "timed out" in low or "timeout" in low:
        return TimeoutError(errno.ETIMEDOUT, text)
    if "unknown host" in low or "name or service" in low or "resolve" in low:
        return socket.gaierror(socket.EAI_NONAME, text)
    if "unreachable" in low:
        return OSError(errno.EHOSTUNREACH, text)
    return ConnectionError(errno.ECONNABORTED, text)


def _kill_remote(proc: asyncssh.SSHClientProcess[bytes], sig: str) -> None:
    """Signal the remote process group (sshd does killpg) and close the channel."""
    if proc.exit_status is None and proc.exit_signal is None:
        with contextlib.suppress(Exception):
            proc.send_signal(sig)
    with contextlib.suppress(Exception):
        proc.close()


# --------------------------------------------------------------------------- diagnosis


def _known_keys(path: str, host: str, addr: str, port: int) -> list[asyncssh.SSHKey]:
    """Keys known_hosts trusts for this host (empty when the file or entry is absent)."""
    try:
        trusted = asyncssh.match_known_hosts(path, host, addr, port)[0]
    except (OSError, ValueError, asyncssh.KeyImportError):
        return []
    return list(trusted)


def _identity_state(path: str) -> str:
    """'ok', 'encrypted', 'missing', 'unreadable' or 'invalid' (never prompts)."""
    try:
        asyncssh.read_private_key(path)
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"
    except asyncssh.KeyImportError as exc:
        return "encrypted" if "passphrase" in str(exc).lower() else "invalid"
    return "ok"


def _usable_default_keys() -> list[str]:
    """Default ~/.ssh identities asyncssh would try that load without a passphrase."""
    home = Path.home() / ".ssh"
    found = []
    for name in ("id_ed25519", "id_ecdsa", "id_rsa", "id_ed448", "id_dsa"):
        path = home / name
        if path.is_file() and _identity_state(str(path)) == "ok":
            found.append(str(path))
    return found


async def _probe_agent() -> AgentInfo:
    """How many keys ssh-agent offers; only used to explain a failed login."""
    sock = os.environ.get("SSH_AUTH_SOCK") or None
    if not sock:
        return AgentInfo(None)
    try:
        async with asyncio.timeout(3):
            agent = await asyncssh.connect_agent(sock)
            if agent is None:
                return AgentInfo(sock)
            try:
                keys = await agent.get_keys()
            finally:
                agent.close()
                await agent.wait_closed()
    except (OSError, TimeoutError, asyncssh.Error, ValueError):
        return AgentInfo(sock)
    return AgentInfo(sock, reachable=True, keys=len(keys))
