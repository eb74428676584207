"""LocalHost: this machine. Subprocesses, plain files, the local Docker socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Sequence

from console.config import ServerConfig
from console.engine.host_api import Host, HostUnavailable
from console.engine.hosts.commands import check_argv
from console.engine.hosts.status import StatusMixin
from console.models import CommandResult, ConnectionStatus, ConnState

__all__ = ["CHUNK", "LocalHost"]

CHUNK = 64 * 1024
STOP_GRACE = 2.0  # seconds a local process gets after SIGTERM before SIGKILL


class LocalHost(StatusMixin, Host):
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
        args = check_argv(argv)
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
        args = check_argv(argv)
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

