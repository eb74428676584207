"""Read-ahead: a helper thread keeps reading a log stream while its lines are handled.

Read and handled in one thread, a flood alternates: while a block is classified and stored
nobody reads the socket, its buffer (about 200 KB) fills in a millisecond and dockerd waits;
then dockerd works while we wait. ``read_ahead`` overlaps the two during a backlog only,
through a bounded ``Handoff``, and gives the thread back once it has caught up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Sized
from typing import Generic, TypeVar

__all__ = [
    "BACKLOG_BYTES",
    "CAUGHT_UP_S",
    "READ_AHEAD_BYTES",
    "READ_AHEAD_PAUSE",
    "Handoff",
    "read_ahead",
]

BACKLOG_BYTES = 16 * 1024  # a read this large means the sender is ahead: read ahead
READ_AHEAD_BYTES = 4 * 1024 * 1024  # read ahead at most this much per source
READ_AHEAD_PAUSE = 0.001  # seconds between two small reads ahead
CAUGHT_UP_S = 0.5  # no backlog-sized read for this long: the helper has caught up

T = TypeVar("T", bound=Sized)


def read_ahead(blocks: Iterator[T], name: str, size: Callable[[T], int] = len
               ) -> Generator[T, None, None]:
    """``blocks``, read in a helper thread while the sender is ahead of us.

    A block of ``BACKLOG_BYTES`` or more (by ``size``) means a backlog: a helper thread
    (``read-ahead:<name>``) then keeps reading into a bounded ``Handoff`` while this thread
    works, so the two overlap. Once the helper has caught up (a small read, ``CAUGHT_UP_S``
    after the last large one) it ends and reading comes back to this thread: a follow that
    trickles, which is most of them most of the time, costs no second thread (every source
    starts with a large read, its history, and a 50-server fleet would otherwise keep a
    hundred helpers). The helper's exception, if any, is raised here after its blocks.
    """
    while True:
        for block in blocks:
            yield block
            if size(block) >= BACKLOG_BYTES:
                break
        else:
            return
        handoff: Handoff[T] = Handoff(READ_AHEAD_BYTES, size)
        threading.Thread(target=_pump, args=(blocks, handoff, size),
                         name=f"read-ahead:{name}", daemon=True).start()
        try:
            while (taken := handoff.take()) is not None:
                yield from taken
        finally:
            handoff.close()
        if not handoff.caught_up:
            return


def _pump(blocks: Iterator[T], handoff: Handoff[T], size: Callable[[T], int]) -> None:
    """The read-ahead helper's loop (see ``read_ahead``)."""
    backlog_at = time.monotonic()
    try:
        for block in blocks:
            if not handoff.put(block):
                return
            if size(block) >= BACKLOG_BYTES:
                backlog_at = time.monotonic()
                continue
            if time.monotonic() - backlog_at >= CAUGHT_UP_S:
                handoff.end(None, caught_up=True)  # it must not touch blocks after this
                return
            # let a moment of lines gather in the socket: a read per line costs the GIL
            # as much as handling the line. Longer stalls dockerd: on the 500k-line
            # flood 4 ms took 5.3 s, 2 ms 3.8 s, 1 ms 3.6 s, none 3.8 s.
            time.sleep(READ_AHEAD_PAUSE)
        handoff.end(None)
    except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
        handoff.end(exc)


class Handoff(Generic[T]):
    """Blocks from the read-ahead helper to the reading thread, at most ``limit`` (by
    ``size``) waiting.

    ``take`` returns every block that arrived since the last call; None at the end (the
    stream's, or the helper's when ``caught_up``), or the helper's exception raised.
    ``close`` (the reader stopped) makes the helper's next ``put`` return False.
    """

    def __init__(self, limit: int, size: Callable[[T], int]) -> None:
        self.limit = limit
        self.size = size
        self._blocks: list[T] = []
        self._waiting = 0
        self._ended = False
        self._error: BaseException | None = None
        self._closed = False
        self.caught_up = False
        self._cond = threading.Condition()

    def put(self, block: T) -> bool:
        with self._cond:
            while self._waiting >= self.limit and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._blocks.append(block)
            self._waiting += self.size(block)
            self._cond.notify_all()
            return True

    def end(self, error: BaseException | None, caught_up: bool = False) -> None:
        with self._cond:
            self._ended, self._error, self.caught_up = True, error, caught_up
            self._cond.notify_all()

    def take(self) -> list[T] | None:
        with self._cond:
            while not self._blocks and not self._ended:
                self._cond.wait()
            if self._blocks:
                blocks, self._blocks, self._waiting = self._blocks, [], 0
                self._cond.notify_all()
                return blocks
            if self._error is not None:
                raise self._error
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._blocks, self._waiting = [], 0
            self._cond.notify_all()
