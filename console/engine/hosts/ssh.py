"""SSHHost: a server behind one asyncssh connection, every call a channel on it.

Every command, file read, Docker API call (a forwarded unix socket) and tunnelled TCP
connection is a channel on the one connection that ``SSHConnection`` keeps alive, so an
operator's server sees one login per console, and there is one link whose health decides
whether the server is "up". While the link is down every call raises ``HostUnavailable`` at
once with the status detail, so no pane ever hangs on a dead server.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import socket
import tempfile
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import cast

import asyncssh

from console.config import ServerConfig
from console.engine.host_api import HostUnavailable, TCPReader, TCPWriter
from console.engine.hosts.commands import command_line, plain_command_line, short_argv
from console.engine.hosts.explain import lost_reason
from console.engine.hosts.local import CHUNK
from console.engine.hosts.reconnect import (
    CONNECT_TIMEOUT,
    KEEPALIVE_COUNT_MAX,
    KEEPALIVE_INTERVAL,
    LOGIN_TIMEOUT,
    SSHConnection,
    backoff_delay,
)
from console.engine.terminal import PtyChannel, open_ssh_terminal
from console.models import CommandResult

__all__ = ["MAX_SESSIONS", "SSHHost", "channel_open_error"]

log = logging.getLogger(__name__)

# OpenSSH's MaxSessions defaults to 10 per connection and counts exec channels and the SFTP
# subsystem (not forwarded sockets). Staying below it means a busy console waits for a free
# session instead of getting "open failed" from sshd.
MAX_SESSIONS = 8


class SSHHost(SSHConnection):
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
        super().__init__(server, backoff=backoff, connect_timeout=connect_timeout,
                         login_timeout=login_timeout, keepalive_interval=keepalive_interval,
                         keepalive_count_max=keepalive_count_max)
        self._sessions = asyncio.Semaphore(max_sessions)
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_conn: asyncssh.SSHClientConnection | None = None
        self._sftp_unsupported = False
        self._sftp_lock = asyncio.Lock()
        self._forward_dir: str | None = None
        self._forward_listener: asyncssh.SSHListener | None = None
        self._forward_conn: asyncssh.SSHClientConnection | None = None
        self._forward_lock = asyncio.Lock()

    # -- per-connection state ----------------------------------------------------------

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

    def _on_closing(self) -> None:
        self._sftp = None
        self._forward_listener = None

    def _on_closed(self) -> None:
        """Remove the forwarded socket's directory."""
        if self._forward_dir:
            shutil.rmtree(self._forward_dir, ignore_errors=True)
            self._forward_dir = None

    # -- guards ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _link_errors(self, conn: asyncssh.SSHClientConnection, what: str) -> Iterator[None]:
        """Turn a link dying under a call into HostUnavailable, which services expect."""
        try:
            yield
        except asyncssh.DisconnectError as exc:
            raise HostUnavailable(f"server {self.name}: connection lost during {what}: "
                                  f"{lost_reason(exc)}") from None
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
        command = command_line(argv) if input is None else plain_command_line(argv)
        conn = self._require_up()
        try:
            return await asyncio.wait_for(
                self._run(conn, command, input, f"run {short_argv(argv)}"), timeout)
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
        command = command_line(argv)
        conn = self._require_up()
        what = f"stream {short_argv(argv)}"
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

    async def open_terminal(self, argv: Sequence[str], *, term_type: str, columns: int,
                            rows: int) -> PtyChannel:
        """``argv`` in a PTY on the server, over the one connection: the shell of ``x``.

        The caller joins it to the operator's terminal (``terminal.bridge``) and closes it.
        """
        conn = self._require_up()
        with self._link_errors(conn, f"terminal {short_argv(argv)}"):
            return await open_ssh_terminal(conn, plain_command_line(argv), term_type=term_type,
                                           columns=columns, rows=rows)

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
                    # binary mode: asyncssh's AnyStr annotation cannot say it is bytes
                    return cast(bytes, await fh.read(max_bytes))
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

    async def open_tcp(self, host: str, port: int) -> tuple[TCPReader, TCPWriter]:
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
                raise channel_open_error(exc, host, port, self.name) from None
        return reader, writer


def channel_open_error(exc: asyncssh.ChannelOpenError, host: str, port: int,
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
