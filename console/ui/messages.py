"""Engine to UI: the Textual messages a pane receives, and the listeners that post them.

An engine service calls its listeners on the event loop, often in bursts (a Docker event
storm, a round of probes finishing, a log batch every 100 ms). A listener here never
touches a widget: it posts a message to the pane, and the pane redraws in its own message
handler, in its own context (so its timers and workers find the app). Messages of one kind
that queue up before the pane gets to them collapse into the newest with ``can_replace``,
as Toolong does with its ``PendingLines``: a burst costs one redraw.

Log lines are the one payload that cannot be re-read later (they leave the engine's ring
buffer), so the log listener keeps the batches in a ``LogInbox`` and posts only "lines are
waiting"; the pane drains the inbox when it handles the message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from textual.message import Message
from textual.message_pump import MessagePump

from console.engine.contracts import Change
from console.engine.logs.model import LogBatch, LogChange
from console.models import LogLine

__all__ = [
    "EngineChanged",
    "HostChanged",
    "LinesArrived",
    "LogBatchLike",
    "LogInbox",
    "ServiceChanged",
    "SourcesChanged",
    "post_change",
    "post_host_change",
]


class EngineChanged(Message, bubble=False):
    """Something the pane draws from changed in the engine; the pane re-reads it."""

    def can_replace(self, message: Message) -> bool:
        """A newer one of the same kind makes an older queued one redundant."""
        return type(message) is type(self)


class ServiceChanged(EngineChanged, bubble=False):
    """A service said its read model changed. ``change`` is what it passed (a ``Change``,
    or the older per-service argument while services move to ``Change``)."""

    def __init__(self, change: Change | object = None) -> None:
        super().__init__()
        self.change = change

    @property
    def server(self) -> str | None:
        return self.change.server if isinstance(self.change, Change) else None


class HostChanged(EngineChanged, bubble=False):
    """A server's connection state changed (up, connecting, lost, retrying)."""

    def __init__(self, server: str | None = None) -> None:
        super().__init__()
        self.server = server


class LinesArrived(EngineChanged, bubble=False):
    """New log lines are waiting in the pane's ``LogInbox``."""


class SourcesChanged(EngineChanged, bubble=False):
    """A log source changed state (following, lost, missing): the status line is stale."""


def post_change(target: MessagePump) -> Callable[[object], None]:
    """A service listener that posts ``ServiceChanged`` to ``target`` and does nothing else."""

    def listener(change: object = None) -> None:
        target.post_message(ServiceChanged(change))

    return listener


def post_host_change(target: MessagePump, server: str) -> Callable[[object], None]:
    """A host status listener that posts ``HostChanged`` to ``target``."""

    def listener(_status: object = None) -> None:
        target.post_message(HostChanged(server))

    return listener


class LogBatchLike(Protocol):
    """What the logs pane reads of a batch the log service delivers."""

    @property
    def lines(self) -> Sequence[LogLine]: ...

    @property
    def events(self) -> Sequence[LogLine]: ...

    @property
    def skipped(self) -> int: ...

    @property
    def events_skipped(self) -> int: ...


class LogInbox:
    """The log service's listener: keeps each batch and posts ``LinesArrived``.

    The batches wait here, in arrival order, until the pane's handler ``drain()``s them;
    however many ``LinesArrived`` were posted meanwhile, the first handler takes all of the
    batches and the rest (if they were not already replaced) find the inbox empty.
    """

    def __init__(self, target: MessagePump) -> None:
        self._target = target
        self._batches: list[LogBatchLike] = []

    def __call__(self, change: Change | LogBatch) -> None:
        """The service's one event: new lines (a ``LogChange`` carrying a ``batch``, or a
        bare batch) or, with no lines, a source's state."""
        batch = change.batch if isinstance(change, LogChange) else change
        if not isinstance(batch, LogBatch):
            self.sources_changed()
            return
        self._batches.append(batch)
        self._target.post_message(LinesArrived())

    def drain(self) -> list[LogBatchLike]:
        batches, self._batches = self._batches, []
        return batches

    def sources_changed(self) -> None:
        """The service's status listener (it passes nothing)."""
        self._target.post_message(SourcesChanged())
