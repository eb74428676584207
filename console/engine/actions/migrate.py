"""Migrate: what ``m`` runs and where, the run the UI follows, and driving it to its end.

The command runs in the configured container with ``docker exec`` through the Engine API,
or on the host itself (over SSH, or locally) when no container is set; ``executions``
holds those two ways. Output is streamed line by line, stdout and stderr kept apart, to a
callback on the event loop. A run ends by itself, by a cancel (the operator, the console
stopping) or by its timeout: then the process is sent TERM, and KILL after a grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from console.config import ServerConfig
from console.engine.listeners import Listeners
from console.engine.redact import redact
from console.models import utcnow

__all__ = [
    "END_GRACE",
    "KEEP_LINES",
    "KILL_GRACE",
    "Execution",
    "MigrationPlan",
    "MigrationProgress",
    "MigrationRun",
    "OutputLine",
    "drive",
    "migration_plan",
]

KILL_GRACE = 5.0
"""Seconds between TERM and KILL when a migration is cancelled."""
END_GRACE = 5.0
"""Seconds to wait for the output to end after KILL before giving up on the process."""
KEEP_LINES = 2_000


@dataclass(frozen=True, slots=True)
class OutputLine:
    """One line of a migration's output. ``stream``: stdout, stderr, or console (ours)."""

    stream: str
    text: str
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """Exactly what ``m`` will run, and where: what the confirmation modal says."""

    server: str
    command: tuple[str, ...]
    container: str | None
    timeout: float
    protected: bool

    @property
    def target(self) -> str:
        return self.container or "host"

    @property
    def where(self) -> str:
        if self.container:
            return f"in container {self.container} on {self.server} (docker exec)"
        return f"on the host {self.server} itself"

    @property
    def command_text(self) -> str:
        return " ".join(shlex.quote(part) for part in self.command)


def migration_plan(server: ServerConfig) -> MigrationPlan | None:
    """The plan for ``server`` or None when it has no ``[servers.actions.migrate]``."""
    if server.migrate is None:
        return None
    return MigrationPlan(server=server.name, command=tuple(server.migrate.command),
                         container=server.migrate.container, timeout=server.migrate.timeout,
                         protected=server.protected)


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """A running migration as the read model shows it (the live run is ``MigrationRun``)."""

    plan: MigrationPlan
    state: str  # starting | running | cancelling | done
    started_at: datetime
    elapsed_s: float
    lines: int
    pid_known: bool


class MigrationRun:
    """A running (or finished) migration: its output so far, its state, and cancel().

    Lives on the event loop. The UI keeps a reference to show the output and elapsed time;
    the engine keeps one per server so that a second migration is refused while it runs.
    """

    def __init__(self, plan: MigrationPlan, user_callback: Callable[[OutputLine], None] | None
                 ) -> None:
        self.plan = plan
        self.started_at = utcnow()
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        self.lines: deque[OutputLine] = deque(maxlen=KEEP_LINES)
        self.dropped_lines = 0
        self.state = "starting"  # starting | running | cancelling | done
        self.exit_status: int | None = None
        self.outcome = ""  # succeeded | failed | cancelled | timeout | error
        self.cancel_reason = ""
        self.pid: str | None = None
        self.pid_known = asyncio.Event()
        self.cancel_requested = asyncio.Event()
        self.finished = asyncio.Event()
        self._listeners: Listeners[OutputLine] = Listeners("migration output")
        if user_callback is not None:
            self._listeners.add(user_callback)

    @property
    def server(self) -> str:
        return self.plan.server

    @property
    def elapsed_s(self) -> float:
        end = self._t_end if self._t_end is not None else time.monotonic()
        return end - self._t0

    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    def progress(self) -> MigrationProgress:
        return MigrationProgress(plan=self.plan, state=self.state, started_at=self.started_at,
                                 elapsed_s=round(self.elapsed_s, 3),
                                 lines=len(self.lines) + self.dropped_lines,
                                 pid_known=self.pid is not None)

    def cancel(self, reason: str = "cancelled by the operator") -> bool:
        """Ask for the process to be killed; False if it already ended."""
        if self.finished.is_set():
            return False
        if not self.cancel_requested.is_set():
            self.cancel_reason = reason
            self.cancel_requested.set()
        return True

    def subscribe(self, callback: Callable[[OutputLine], None]) -> Callable[[], None]:
        """``callback(line)`` for each line of output from now on (``lines`` has the past)."""
        return self._listeners.add(callback)

    def emit(self, stream: str, text: str) -> None:
        """Keep and pass on one line, redacted as log lines are: the command's output (a
        migration's, Compose's on a recreate) can quote ``JWT_SECRET=...`` or a token, and
        every consumer (screen, the stderr tail in the audited detail) reads it from here."""
        line = OutputLine(stream=stream, text=redact(text), elapsed_s=round(self.elapsed_s, 3))
        if len(self.lines) == self.lines.maxlen:
            self.dropped_lines += 1
        self.lines.append(line)
        self._listeners.emit(line)

    def stderr_tail(self, n: int = 20) -> list[str]:
        return [line.text for line in self.lines if line.stream == "stderr"][-n:]

    def finish(self, outcome: str, exit_status: int | None) -> None:
        self.outcome = outcome
        self.exit_status = exit_status
        self.state = "done"
        self._t_end = time.monotonic()
        self.finished.set()


class Execution:
    """One way of running the command (docker exec, host shell); ``drive`` runs it."""

    async def start(self) -> None:
        """Begin running; output arrives through the run's ``emit`` from here on."""
        raise NotImplementedError

    async def wait_output_end(self) -> None:
        """Return when the output has ended (the process exited or was killed)."""
        raise NotImplementedError

    async def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process (needs the pid from the wrapper)."""
        raise NotImplementedError

    async def exit_status(self) -> int | None:
        raise NotImplementedError

    async def abandon(self) -> None:
        """Stop reading (the process would not die); release threads and streams."""


async def drive(run: MigrationRun, execution: Execution, describe: Callable[[BaseException], str]
                ) -> str:
    """Wait for the end, a cancel or the timeout; kill if needed; settle. Returns the detail.

    ``execution`` has been started. Cancelling the awaiting task kills the process too.
    """
    try:
        ended = await _wait_end_or_cancel(run, execution)
        if not ended:
            await _kill(run, execution)
        status = await execution.exit_status()
    except asyncio.CancelledError:
        run.cancel("the console stopped waiting")
        await asyncio.shield(_kill(run, execution))
        raise
    except Exception as exc:  # noqa: BLE001 - connection lost mid-run, etc.
        detail = f"lost the migration's output: {describe(exc)}"
        run.emit("console", detail)
        await execution.abandon()
        run.finish("error", None)
        return detail
    return _settle(run, status)


async def _wait_end_or_cancel(run: MigrationRun, execution: Execution) -> bool:
    """True when the output ended by itself; False on cancel or timeout."""
    end = asyncio.ensure_future(execution.wait_output_end())
    cancel = asyncio.ensure_future(run.cancel_requested.wait())
    try:
        done, _ = await asyncio.wait({end, cancel}, timeout=run.plan.timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
    finally:
        cancel.cancel()
    if end in done:
        end.result()  # re-raise a stream error
        return True
    end.cancel()
    if not done:
        run.cancel(f"timed out after {run.plan.timeout:g} s")
    return False


async def _kill(run: MigrationRun, execution: Execution) -> None:
    """TERM, then KILL after a grace period, then give up waiting for the output."""
    run.state = "cancelling"
    run.emit("console", f"cancelling: {run.cancel_reason or 'cancel requested'}")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(run.pid_known.wait(), 2.0)
    if run.pid is None:
        run.emit("console", "the process id is not known; stopping the output only")
        await execution.abandon()
        return
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, END_GRACE)):
        try:
            await execution.signal(sig)
        except Exception as exc:  # noqa: BLE001 - say so, then try harder
            run.emit("console", f"sending {sig.name} failed: {exc}")
        try:
            await asyncio.wait_for(asyncio.shield(execution.wait_output_end()), grace)
            return
        except TimeoutError:
            continue
        except Exception:  # noqa: BLE001 - the stream broke: the process is gone or lost
            return
    run.emit("console", "the process did not end after KILL; no longer waiting for it")
    await execution.abandon()


def _settle(run: MigrationRun, status: int | None) -> str:
    if run.cancel_requested.is_set():
        outcome = "timeout" if run.cancel_reason.startswith("timed out") else "cancelled"
        detail = f"{run.cancel_reason}; exit status {_status_text(status)}"
    elif status == 0:
        outcome, detail = "succeeded", "exit status 0"
    elif status is None:
        outcome, detail = "error", "the exit status could not be read"
    else:
        outcome, detail = "failed", f"exit status {status}"
        tail = run.stderr_tail(1)
        if tail:
            detail += f": {tail[-1][:200]}"
    run.emit("console", f"{outcome}: {detail} after {run.elapsed_s:.1f}s")
    run.finish(outcome, status)
    return detail


def _status_text(status: int | None) -> str:
    return "unknown" if status is None else str(status)
