"""Listeners: the callbacks an engine object calls, on the event loop, when something changed.

Every service (and every host) tells the panes about changes the same way: a list of
callbacks, an unsubscribe function handed back, and one rule that matters during an
incident: a broken listener (a pane that crashed mid-redraw) is logged and skipped, and
never stops the others from hearing about the change, or the service from running.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Listeners"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Listeners(Generic[T]):
    """``Listeners[str]("containers")``: callbacks taking one argument of type ``T``."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._callbacks: list[Callable[[T], None]] = []

    def __len__(self) -> int:
        return len(self._callbacks)

    def add(self, callback: Callable[[T], None]) -> Callable[[], None]:
        """Subscribe; call the returned function to unsubscribe (twice is harmless)."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def emit(self, value: T) -> None:
        """Call each listener in turn, on a copy: a listener may unsubscribe while called."""
        for callback in list(self._callbacks):
            try:
                callback(value)
            except Exception:  # noqa: BLE001 - see the module docstring
                log.exception("a %s listener failed", self._what)
