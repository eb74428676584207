"""Timestamps: Docker's stamps, the ``since`` parameter, times found in host files."""

from __future__ import annotations

from datetime import UTC, datetime

from console.engine.logs.stamps import Clock, file_times, since_text


def test_clock_parses_docker_stamps() -> None:
    clock = Clock()
    ns, when = clock.parse("2026-11-24T12:00:00.123456789Z")  # type: ignore[misc]
    base = int(datetime(2026, 11, 24, 12, tzinfo=UTC).timestamp()) * 10**9
    assert ns == base + 123456789
    assert when == datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
    assert clock.parse("2026-11-24T12:00:00.5Z")[0] == base + 500_000_000  # type: ignore[index]
    assert clock.parse("2026-11-24T12:00:01Z")[0] == base + 10**9  # type: ignore[index]
    assert clock.parse("not-a-time") is None


def test_since_is_seconds_and_nanoseconds_never_negative() -> None:
    assert since_text(1_700_000_000 * 10**9 + 5) == "1700000000.000000005"
    assert since_text(-3) == "0.000000000"


def test_file_times_take_each_lines_own_time_or_the_one_before() -> None:
    mtime = datetime(2026, 11, 24, 13, tzinfo=UTC)
    times = file_times(["no time yet", "2026-11-24 12:00:01 a", "continued",
                        '1.2.3.4 - - [24/Nov/2026:12:00:02 +0000] "GET /"',
                        "2026/11/24 12:00:03 b"], mtime)
    assert times == [mtime, datetime(2026, 11, 24, 12, 0, 1, tzinfo=UTC),
                     datetime(2026, 11, 24, 12, 0, 1, tzinfo=UTC),
                     datetime(2026, 11, 24, 12, 0, 2, tzinfo=UTC),
                     datetime(2026, 11, 24, 12, 0, 3, tzinfo=UTC)]
