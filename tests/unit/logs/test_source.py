"""A source's resume state: no gap and no duplicate across reconnects and restarts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.engine.logs.source import INITIAL_TAIL, Source, SourceRegistry
from console.engine.logs.stamps import newest


def _numbered(src: Source, start: int, stop: int) -> list[str]:
    return [f"line {i}" for i in range(start, stop)
            if src.accept(1_000 * 10**9 + i // 3 * 10**9, f"line {i}")]


def test_resume_drops_replayed_lines_and_keeps_new_ones() -> None:
    """Lines i share second i // 3; a reconnect asks since=<last second>, inclusive."""
    src = Source("alpha", "c", "container", 100)
    src.opened_ns = 1
    assert _numbered(src, 0, 10) == [f"line {i}" for i in range(10)]
    since, tail = src.since_param(0, 900)
    assert since == "1003.000000000" and tail == "all"  # the last line's second, inclusive
    # the daemon replays second 3 (lines 9..) - or, to-the-second, from line 9 on
    assert _numbered(src, 9, 15) == [f"line {i}" for i in range(10, 15)]


def test_resume_with_second_granularity_replay() -> None:
    src = Source("alpha", "c", "container", 100)
    for i in range(5):
        src.accept(10 * 10**9 + i * 1000, f"n{i}")
    src.since_param(0, 900)
    replay = [(10 * 10**9 + i * 1000, f"n{i}") for i in range(8)]  # whole second again
    assert [text for ns, text in replay if src.accept(ns, text)] == ["n5", "n6", "n7"]


def test_after_resume_out_of_order_lines_are_kept() -> None:
    src = Source("alpha", "c", "container", 100)
    src.accept(100, "a")
    src.since_param(0, 900)
    assert src.accept(100, "a") is False
    assert src.accept(200, "b") is True
    assert src.accept(150, "late stderr line") is True  # not filtered once resumed


@pytest.mark.parametrize("seed", range(40))
def test_block_accept_ends_in_the_same_state_as_line_by_line(seed: int) -> None:
    """``advance`` with ``newest`` (the reader's fast path) leaves the resume state
    ``accept`` would: out-of-order stderr lines, repeated times, several nanoseconds within
    one microsecond (where only datetimes are compared first), a block older than the last.
    """
    import random

    rng = random.Random(seed)
    one = Source("alpha", "c", "container", 100)
    many = Source("alpha", "c", "container", 100)
    base = 1_700_000_000 * 10**9
    for _ in range(4):
        stamps = [base + rng.randrange(0, 4_000) for _ in range(rng.randrange(1, 8))]
        times = [datetime.fromtimestamp(ns // 1000 / 1e6, UTC) for ns in stamps]
        texts = [rng.choice("abcd") for _ in stamps]
        assert [one.accept(ns, t) for ns, t in zip(stamps, texts, strict=True)] == [True] * len(
            stamps)
        many.advance(*newest(times, texts, stamps.__getitem__))
        assert (many.last_ns, many.boundary) == (one.last_ns, one.boundary)


def test_first_read_asks_for_a_bounded_window() -> None:
    src = Source("alpha", "c", "container", 100)
    now = 2_000 * 10**9
    since, tail = src.since_param(now, 900)
    assert since == "1100.000000000" and tail == str(INITIAL_TAIL)
    since, tail = src.since_param(now + 10**9, 900)  # nothing seen meanwhile
    assert since == "1995.000000000" and tail == "all"


def test_registry_sizes_buffers_per_server_and_keeps_first_seen_order() -> None:
    registry = SourceRegistry({"alpha": 3})
    first = registry.get("alpha", "web", "container")
    other = registry.get("bravo", "/var/log/auth.log", "file")  # not configured: default
    assert registry.get("alpha", "web", "file") is first  # one source per (server, name)
    assert first.buffer.maxlen == 3 and other.buffer.maxlen == 10_000
    assert list(registry) == [first, other]
    assert registry.of_server("alpha", "container") == [first]
    assert registry.of_server("bravo", "container") == []
    assert [s.name for s in registry.statuses()] == ["web", "/var/log/auth.log"]
