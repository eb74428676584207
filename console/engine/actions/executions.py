"""The two ways a migration runs: ``docker exec`` in a container, or a shell on the host.

In a container the output is read by ``exec_stream`` (our own connection to the Docker
socket), not by docker-py's ``exec_start``, which can drop the first lines.

Cancelling needs the process id, which the Engine API does not give in the container's
namespace, so the command is started as ``sh -c 'echo <marker> $$; exec "$@"'``: the first
stdout line names the pid (and is not shown), and cancel runs ``kill -TERM`` on it through a
second exec, then ``kill -KILL`` if it is still there after a grace period. The container
therefore needs a ``sh``; every image with a migration tool has one. On the host a small
POSIX sh wrapper does the same and also tags each line ``o``/``e`` (through two fifos) and
reports the exit status, because ``Host.stream`` carries stdout only.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from typing import Protocol

from console.engine import dockerapi
from console.engine.actions.exec_stream import ExecStream, socket_path_of
from console.engine.actions.migrate import Execution, MigrationRun
from console.engine.host_api import Host

__all__ = [
    "PID_MARKER",
    "DockerExec",
    "ExecAPI",
    "ExecClient",
    "ExecStreams",
    "FrameStream",
    "HostExec",
    "socket_exec_stream",
]

PID_MARKER = "@@ops-console-pid"
MAX_LINE = 16 * 1024

# Runs the command in place of the shell, after telling us its pid.
_CONTAINER_WRAPPER = f'echo "{PID_MARKER} $$"; exec "$@"'
# A docker exec'd process leads its own process group, so the group is signalled first
# (children included); busybox's kill takes no "--", hence the bare "-PID".
_KILL_SCRIPT = 'kill -{sig} -"$1" 2>/dev/null || kill -{sig} "$1"'

# On a host: stdout and stderr through two fifos, each line tagged "o " / "e ", the pid as
# "p N" and the exit status as "x N" (Host.stream gives stdout only, and no exit status).
# ``setsid`` (when present) gives the command its own process group, so that a cancel
# reaches the children it spawned too. Without job control a background job would share
# the wrapper's group.
_HOST_WRAPPER = r"""
d=$(mktemp -d "${TMPDIR:-/tmp}/ops-migrate.XXXXXX") || exit 125
trap 'rm -rf "$d"' EXIT
mkfifo "$d/o" "$d/e" || exit 125
tag() { while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\n' "$1" "$l"; done; }
tag o < "$d/o" & a=$!
tag e < "$d/e" & b=$!
s=; if command -v setsid >/dev/null 2>&1; then s=setsid; fi
$s "$@" > "$d/o" 2> "$d/e" < /dev/null &
p=$!
printf 'p %s\n' "$p"
wait "$p"; rc=$?
wait "$a" "$b"
printf 'x %s\n' "$rc"
"""

class ExecAPI(Protocol):
    """The part of docker-py's ``APIClient`` a migration uses (exec, and inspect for env)."""

    def exec_create(self, container: str, cmd: list[str], *, stdout: bool = ...,
                    stderr: bool = ..., stdin: bool = ..., tty: bool = ...
                    ) -> Mapping[str, str]: ...

    def exec_start(self, exec_id: str, *, stream: bool = ..., demux: bool = ...
                   ) -> object: ...

    def exec_inspect(self, exec_id: str) -> Mapping[str, object]: ...

    def inspect_container(self, container: str) -> Mapping[str, object]: ...

    @property
    def api_version(self) -> str: ...


class ExecClient(Protocol):
    """A docker client as ``DockerClients.get`` returns it: the low-level API under ``api``."""

    @property
    def api(self) -> ExecAPI: ...


Frame = tuple[bytes | None, bytes | None]


class FrameStream(Protocol):
    """A started exec's output as (stdout, stderr) frames; ``close()`` from another thread."""

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class ExecStreams(Protocol):
    """How a started exec's output is read: ``(client, docker base URL, exec id)``."""

    def __call__(self, client: ExecClient, base_url: str, exec_id: str) -> FrameStream: ...


def socket_exec_stream(client: ExecClient, base_url: str, exec_id: str) -> FrameStream:
    """The production reader: our own connection to the Docker socket (see exec_stream)."""
    return ExecStream(socket_path_of(base_url), client.api.api_version, exec_id).open()


class _LineSplitter:
    """Bytes in, complete decoded lines out; an over-long line is cut, not buffered forever."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        *complete, self._buffer = self._buffer.split(b"\n")
        lines = [_decode_line(part) for part in complete]
        while len(self._buffer) > MAX_LINE:
            lines.append(_decode_line(self._buffer[:MAX_LINE]))
            self._buffer = self._buffer[MAX_LINE:]
        return lines

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, b""
        return [_decode_line(rest)] if rest else []


def _decode_line(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", errors="replace")


def _kill_argv(sig: signal.Signals, pid: str) -> list[str]:
    return ["sh", "-c", _KILL_SCRIPT.format(sig=sig.name.removeprefix("SIG")),
            "ops-console-kill", pid]


class DockerExec(Execution):
    """``docker exec`` through the Engine API: stdout and stderr demultiplexed, live."""

    def __init__(self, run: MigrationRun, client: ExecClient, container: str, base_url: str,
                 streams: ExecStreams = socket_exec_stream) -> None:
        self.run = run
        self.client = client
        self.container = container
        self.base_url = base_url
        self.streams = streams
        self.exec_id = ""
        self._stdout = _LineSplitter()
        self._stderr = _LineSplitter()
        self._ended = asyncio.Event()
        self._error: BaseException | None = None
        self._pump: dockerapi.StreamPump | None = None
        self._first_stdout = True

    async def start(self) -> None:
        argv = ["sh", "-c", _CONTAINER_WRAPPER, "ops-console-migrate", *self.run.plan.command]
        api = self.client.api
        created = await dockerapi.run_blocking(api.exec_create, self.container, argv,
                                               stdout=True, stderr=True, stdin=False,
                                               tty=False)
        self.exec_id = created["Id"]
        self._pump = dockerapi.pump_stream(
            lambda: self.streams(self.client, self.base_url, self.exec_id),
            self._on_frame, self._on_end, name=f"migrate:{self.run.server}")
        await self._pump.opened

    def _on_frame(self, frame: object) -> None:
        out, err = frame if isinstance(frame, tuple) else (frame, None)
        if isinstance(out, bytes) and out:
            for text in self._stdout.feed(out):
                self._stdout_line(text)
        if isinstance(err, bytes) and err:
            for text in self._stderr.feed(err):
                self.run.emit("stderr", text)

    def _stdout_line(self, text: str) -> None:
        if self._first_stdout:
            self._first_stdout = False
            if text.startswith(PID_MARKER + " "):
                self.run.pid = text.split()[-1]
                self.run.pid_known.set()
                return
        self.run.emit("stdout", text)

    def _on_end(self, error: BaseException | None) -> None:
        for text in self._stdout.flush():
            self._stdout_line(text)
        for text in self._stderr.flush():
            self.run.emit("stderr", text)
        self._error = error
        self._ended.set()

    async def wait_output_end(self) -> None:
        await self._ended.wait()
        if self._error is not None:
            raise self._error

    async def signal(self, sig: signal.Signals) -> None:
        if self.run.pid is None:
            return
        argv = _kill_argv(sig, self.run.pid)
        api = self.client.api

        def kill() -> None:
            created = api.exec_create(self.container, argv, stdout=True, stderr=True,
                                      tty=False)
            api.exec_start(created["Id"], stream=False)

        await dockerapi.run_blocking(kill)

    async def exit_status(self) -> int | None:
        """The exec's exit code; Docker may need a moment to record it after the stream ends."""
        for _ in range(20):
            info = await dockerapi.run_blocking(self.client.api.exec_inspect, self.exec_id)
            code = info.get("ExitCode")
            if not info.get("Running") and isinstance(code, int):
                return code
            await asyncio.sleep(0.1)
        return None

    async def abandon(self) -> None:
        if self._pump is not None:
            self._pump.stop()


class HostExec(Execution):
    """The command on the server itself, through ``Host.stream`` and the tagging wrapper."""

    def __init__(self, run: MigrationRun, host: Host) -> None:
        self.run = run
        self.host = host
        self._splitter = _LineSplitter()
        self._status: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stream: AsyncIterator[bytes] | None = None

    async def start(self) -> None:
        argv = ["sh", "-c", _HOST_WRAPPER, "ops-console-migrate", *self.run.plan.command]
        self._stream = self.host.stream(argv)
        self._task = asyncio.create_task(self._read(self._stream),
                                         name=f"migrate:{self.run.server}")

    async def _read(self, stream: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in stream:
                for text in self._splitter.feed(chunk):
                    self._line(text)
            for text in self._splitter.flush():
                self._line(text)
        finally:
            if isinstance(stream, AsyncGenerator):  # closing it kills the remote process
                with contextlib.suppress(Exception):
                    await stream.aclose()

    def _line(self, text: str) -> None:
        tag, _, rest = text.partition(" ")
        if tag == "o":
            self.run.emit("stdout", rest)
        elif tag == "e":
            self.run.emit("stderr", rest)
        elif tag == "p" and rest.strip().isdigit():
            self.run.pid = rest.strip()
            self.run.pid_known.set()
        elif tag == "x" and rest.strip().lstrip("-").isdigit():
            self._status = int(rest.strip())
        else:  # the wrapper itself complained (no mktemp, no fifo): show it as is
            self.run.emit("stderr", text)

    async def wait_output_end(self) -> None:
        assert self._task is not None
        await asyncio.shield(self._task)

    async def signal(self, sig: signal.Signals) -> None:
        if self.run.pid is None:
            return
        await self.host.run(_kill_argv(sig, self.run.pid), timeout=15.0)

    async def exit_status(self) -> int | None:
        return self._status

    async def abandon(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
