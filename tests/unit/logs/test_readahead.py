"""Read-ahead: a helper thread reads during a backlog only, in order, and stops with us."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.engine.logs import readahead
from console.engine.logs.readahead import read_ahead


def test_read_ahead_hands_over_every_byte_in_order_and_the_error_at_the_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Small reads stay in the caller's thread; after a backlog-sized one a helper reads
    ahead until it has caught up (a small read, CAUGHT_UP_S after the last large one),
    then the caller reads again, until the next backlog. Everything comes in order, then
    the error that ended the read."""
    import threading
    import time

    monkeypatch.setattr(readahead, "READ_AHEAD_PAUSE", 0.0)
    monkeypatch.setattr(readahead, "CAUGHT_UP_S", 0.2)
    readers: list[str] = []
    big = b"x" * readahead.BACKLOG_BYTES
    items = ([f"small {i};".encode() for i in range(3)] + [big]
             + [b"burst;", big, b"burst;", b"quiet;"] + [f"line {i};".encode() for i in range(5)]
             + [big] + [f"tail {i};".encode() for i in range(5)])

    def chunks() -> Iterator[bytes]:
        for item in items:
            if item == b"quiet;":
                time.sleep(0.3)  # the flood is over: the next read is small and late
            readers.append(threading.current_thread().name)
            yield item
        raise ConnectionResetError("link dropped")

    got: list[bytes] = []
    with pytest.raises(ConnectionResetError):
        for data in read_ahead(chunks(), "c"):
            got.append(data)
    me, helper = threading.current_thread().name, "read-ahead:c"
    assert readers == [me] * 4 + [helper] * 4 + [me] * 6 + [helper] * 5
    assert got == items


def test_read_ahead_stops_its_helper_when_the_reader_stops(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A reader that stops mid-flood (close, an exception in handling) leaves no helper
    blocked on a full hand-off."""
    import threading

    monkeypatch.setattr(readahead, "READ_AHEAD_BYTES", 64 * 1024)
    read = 0

    def endless() -> Iterator[bytes]:
        nonlocal read
        while True:
            read += 1
            yield b"y" * readahead.BACKLOG_BYTES

    stream = read_ahead(endless(), "endless")
    next(stream)
    next(stream)  # the helper runs now, and soon fills the hand-off
    stream.close()
    helper = next(t for t in threading.enumerate() if t.name == "read-ahead:endless")
    helper.join(timeout=5)
    assert not helper.is_alive()
    assert read < 20  # bounded: it stopped at the limit, it did not read on
