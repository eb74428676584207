"""An interactive command on the operator's terminal: here, or on a server through a PTY.

``x`` opens a shell in a container while the TUI is suspended. On this machine the command
simply inherits the terminal. On a remote server it runs over the server's one SSH
connection in a PTY channel, and ``bridge`` joins that channel to the local terminal: raw
mode, keystrokes out, output in, window size changes forwarded, and the terminal restored
exactly as it was when the command ends (or the link drops).

Nothing typed or shown is kept or logged: bytes pass straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import termios
import tty
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["PtyChannel", "SSHTerminal", "TerminalHost", "bridge", "open_ssh_terminal", "run_here",
           "terminal_size"]

CHUNK = 65536


class PtyChannel(Protocol):
    """A command running in a remote PTY."""

    def write(self, data: bytes) -> None: ...

    async def read(self, size: int) -> bytes: ...

    def resize(self, columns: int, rows: int) -> None: ...

    async def wait(self) -> int | None: ...

    def close(self) -> None: ...


@runtime_checkable
class TerminalHost(Protocol):
    """A host that can run a command in a PTY (an SSH host)."""

    async def open_terminal(self, argv: Sequence[str], *, term_type: str, columns: int,
                            rows: int) -> PtyChannel: ...


def terminal_size(fd: int = 1) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 80, 24
    return size.columns, size.lines


async def run_here(argv: Sequence[str]) -> int | None:
    """Run ``argv`` on this machine with the terminal as its stdin, stdout and stderr."""
    try:
        proc = await asyncio.create_subprocess_exec(*argv, stdin=None, stdout=None,
                                                    stderr=None)
    except FileNotFoundError:
        return 127
    return await proc.wait()


async def bridge(channel: PtyChannel, stdin_fd: int = 0, stdout_fd: int = 1) -> int | None:
    """Join ``channel`` to the terminal until the command ends; returns its exit status.

    The terminal is put in raw mode (when it is one) and restored in every case.
    """
    loop = asyncio.get_running_loop()
    saved = _raw(stdin_fd)
    stdin_closed = asyncio.Event()

    def on_input() -> None:
        try:
            data = os.read(stdin_fd, CHUNK)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(stdin_fd)
            stdin_closed.set()
            return
        channel.write(data)

    def on_resize() -> None:
        channel.resize(*terminal_size(stdout_fd))

    loop.add_reader(stdin_fd, on_input)
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGWINCH, on_resize)
    try:
        while chunk := await channel.read(CHUNK):
            _write_all(stdout_fd, chunk)
        return await channel.wait()
    finally:
        loop.remove_reader(stdin_fd)
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGWINCH)
        if saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
        channel.close()


def _raw(fd: int) -> list[int | list[bytes | int]] | None:
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        return None
    tty.setraw(fd)
    return saved


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class SSHTerminal:
    """A ``PtyChannel`` over an asyncssh process started with a PTY (stderr joins stdout)."""

    def __init__(self, process: Any) -> None:
        self._process = process

    def write(self, data: bytes) -> None:
        self._process.stdin.write(data)

    async def read(self, size: int) -> bytes:
        try:
            return bytes(await self._process.stdout.read(size))
        except Exception:  # noqa: BLE001 - a dropped link ends the shell, it does not crash
            return b""

    def resize(self, columns: int, rows: int) -> None:
        with contextlib.suppress(Exception):
            self._process.change_terminal_size(columns, rows)

    async def wait(self) -> int | None:
        with contextlib.suppress(Exception):
            await self._process.wait_closed()
        status = self._process.exit_status
        return None if status is None or status < 0 else int(status)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._process.close()


async def open_ssh_terminal(conn: Any, command: str, *, term_type: str, columns: int,
                            rows: int) -> SSHTerminal:
    """``command`` (already quoted) in a PTY on an asyncssh connection."""
    process = await conn.create_process(command, term_type=term_type,
                                        term_size=(columns, rows), encoding=None)
    return SSHTerminal(process)
