"""The one interface every server is reached through, local or over SSH.

Services (containers, logs, health, secrets, actions) are written against ``Host`` only, so
each works the same against this machine and against a server behind one SSH connection.
A Host owns its connection life cycle: it connects in the background, reports its
``ConnectionStatus`` to listeners, and reconnects by itself with capped backoff. Calls made
while it is down raise ``HostUnavailable`` at once instead of hanging.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from console.models import CommandResult, ConnectionStatus

__all__ = ["Host", "HostUnavailable", "StatusListener", "TCPReader", "TCPWriter"]

StatusListener = Callable[[ConnectionStatus], None]


class TCPReader(Protocol):
    """The reading half of ``open_tcp``: an asyncio ``StreamReader`` or asyncssh's
    ``SSHReader``, which share these calls but no base class."""

    async def read(self, n: int = -1) -> bytes: ...

    def at_eof(self) -> bool: ...


class TCPWriter(Protocol):
    """The writing half of ``open_tcp``: an asyncio ``StreamWriter`` or asyncssh's
    ``SSHWriter``."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def write_eof(self) -> None: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...

    def is_closing(self) -> bool: ...

    def get_extra_info(self, name: str, default: object = None) -> object: ...


class HostUnavailable(ConnectionError):
    """The server cannot be reached right now; the message says why in plain words."""


class Host(abc.ABC):
    """A server: run commands, read files, reach its Docker socket and its TCP ports."""

    name: str

    @property
    @abc.abstractmethod
    def status(self) -> ConnectionStatus:
        """The current connection status (cheap; no I/O)."""

    @abc.abstractmethod
    def add_status_listener(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener`` on the event loop at every status change; returns an unsubscribe."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Begin connecting in the background and keep the connection alive. Returns at once."""

    @abc.abstractmethod
    async def wait_up(self, timeout: float | None = None) -> bool:
        """Wait until the host is up; False on timeout. Never raises for a down host."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop reconnecting and release the connection and any forwarded sockets."""

    @abc.abstractmethod
    async def run(self, argv: Sequence[str], *, timeout: float | None = 30.0,
                  input: bytes | None = None) -> CommandResult:
        """Run a command (argv, never a shell string) and collect its output.

        A missing command gives exit status 127. On timeout the command is killed and
        TimeoutError is raised.
        """

    @abc.abstractmethod
    def stream(self, argv: Sequence[str]) -> AsyncIterator[bytes]:
        """Run a long-lived command (``tail -F``) and yield its stdout in chunks until it ends.

        Closing the iterator (``aclose``) kills the remote process. If the link dies
        mid-stream, HostUnavailable is raised rather than a quiet end.
        """

    @abc.abstractmethod
    async def read_file(self, path: str, *, max_bytes: int = 4 * 1024 * 1024) -> bytes:
        """Read a file on the server; FileNotFoundError if it is absent.

        Returns at most ``max_bytes`` (a longer file is cut there). PermissionError when
        access is denied, IsADirectoryError for a directory.
        """

    @abc.abstractmethod
    async def docker_base_url(self) -> str:
        """A ``unix://`` URL for the docker SDK that reaches this server's Docker socket.

        For SSH hosts, a local socket forwarded over the one connection; its path stays the
        same across reconnects, so a docker client built on it works again once the host is
        back up.
        """

    @abc.abstractmethod
    async def open_tcp(self, host: str, port: int) -> tuple[TCPReader, TCPWriter]:
        """Open a TCP connection *from the server* to host:port (tunnelled for SSH hosts).

        Failures raise what a local connect would: ConnectionRefusedError, TimeoutError,
        socket.gaierror (name not resolved), other OSError; HostUnavailable if the server
        itself is down. For SSH hosts the pair is asyncssh's SSHReader/SSHWriter, which are
        asyncio-stream-like (read/readexactly/write/drain/close) but not these classes.
        """
