"""Delivery: new lines to the listeners as coalesced batches, at most every ``interval``.

Readers ingest from their threads and call ``wake``; the first wake of an interval asks
the loop for one flush at the interval's end, later ones cost nothing. So a flood of a
hundred thousand lines a second costs the event loop ten calls a second, and a trickle is
delivered at once (no flush happened for an interval: the delay is zero).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from console.engine.contracts import Change
from console.engine.listeners import Listeners
from console.engine.logs.model import LogBatch, LogChange

__all__ = ["BatchDelivery"]


class BatchDelivery:
    """``collect()``'s batches to ``listeners`` as ``LogChange``s, on the loop ``bind`` got."""

    def __init__(self, collect: Callable[[], LogBatch | None], listeners: Listeners[Change],
                 interval: float) -> None:
        self.interval = interval
        self._collect = collect
        self._listeners = listeners
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_pending = False
        self._last_flush = 0.0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` from now on (until then, lines are only stored)."""
        self._loop = loop

    def wake(self) -> None:
        """Ask the loop for a flush; coalesced, so a flood costs one call per interval.
        Any thread."""
        loop = self._loop
        if loop is None or self._wake_pending:
            return
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._arm_flush)
        except RuntimeError:  # the loop is closed
            self._wake_pending = False

    def _arm_flush(self) -> None:
        assert self._loop is not None
        delay = self._last_flush + self.interval - self._loop.time()
        self._loop.call_later(max(delay, 0.0), self._flush)

    def _flush(self) -> None:
        assert self._loop is not None
        self._wake_pending = False
        self._last_flush = self._loop.time()
        batch = self._collect()
        if batch is not None:
            self._listeners.emit(LogChange(service="logs", batch=batch))
