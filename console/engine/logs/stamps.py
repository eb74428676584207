"""Timestamps: Docker's RFC 3339 stamps, the ``since`` parameter, and times in host files.

A flood brings hundreds of thousands of stamps a second, so parsing is built around what
is cheap in CPython: one regular expression over a whole block (``STAMPED``), datetimes
made in C (``datetime.fromisoformat`` through ``map``), and the nanoseconds worked out only
where they decide something (``newest``, ``Clock``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

__all__ = [
    "NS",
    "STAMPED",
    "Clock",
    "file_times",
    "looks_like_time",
    "newest",
    "since_text",
]

NS = 1_000_000_000
"""Nanoseconds in a second."""

STAMPED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) (.*)$", re.M)
"""A record as Docker sends it with ``timestamps=1``: RFC 3339 in UTC, nanoseconds with
trailing zeros trimmed, a space, the text (never a newline: records are split on them)."""


def newest(times: Sequence[datetime], texts: Sequence[str], ns_of: Callable[[int], int]
           ) -> tuple[int, list[str]]:
    """The block's newest time in nanoseconds and the texts at exactly that time.

    Only the rows at the newest microsecond (``max`` over datetimes runs in C) have their
    nanoseconds worked out: usually one row, where parsing every stamp cost a microsecond
    a line. The newest nanosecond is always among them, truncation keeping the order.
    """
    latest = max(times)
    top = [i for i, time_ in enumerate(times) if time_ == latest]
    nanos = [ns_of(i) for i in top]
    highest = max(nanos)
    return highest, [texts[i] for i, ns in zip(top, nanos, strict=True) if ns == highest]


def looks_like_time(token: bytes) -> bool:
    """Whether ``token`` has the shape of a Docker stamp (``2026-11-24T12:00:00...``)."""
    return len(token) >= 20 and token[4:5] == b"-" and token[10:11] == b"T"


class Clock:
    """Docker timestamps -> (nanoseconds since the epoch, datetime), cached per second.

    Parsing a datetime for every line of a flood would cost more than everything else; lines
    of the same second share the expensive part.
    """

    def __init__(self) -> None:
        self._second = ""
        self._base_ns = 0
        self._base: datetime | None = None

    def nanos(self, stamp: str) -> int:
        """Nanoseconds since the epoch of a stamp ``STAMPED`` accepted."""
        parsed = self.parse(stamp)
        assert parsed is not None  # STAMPED only lets valid stamps through
        return parsed[0]

    def parse(self, stamp: str) -> tuple[int, datetime] | None:
        second = stamp[:19]
        if second != self._second:
            try:
                start = datetime.fromisoformat(second).replace(tzinfo=UTC)
            except ValueError:
                return None
            self._second, self._base = second, start
            self._base_ns = int(start.timestamp()) * NS
        base = self._base
        assert base is not None
        rest = stamp[19:]
        if rest == "Z":
            return self._base_ns, base
        if rest[:1] == "." and rest[-1:] == "Z" and rest[1:-1].isdigit():
            frac = int(rest[1:-1].ljust(9, "0")[:9])
            # base has no sub-second part: replace() is base + timedelta, in one call
            return self._base_ns + frac, base.replace(microsecond=frac // 1000)
        try:  # an offset instead of Z: rare, so the slow way
            parsed = datetime.fromisoformat(stamp[:26] + rest[rest.find("+"):] if "+" in rest
                                            else stamp).astimezone(UTC)
        except ValueError:
            return None
        return int(parsed.timestamp()) * NS + parsed.microsecond * 1000, parsed


def since_text(ns: int) -> str:
    """Docker's ``since`` parameter for a time in nanoseconds: ``seconds.nanoseconds``."""
    ns = max(ns, 0)
    return f"{ns // NS}.{ns % NS:09d}"


# Times found at the start of common log lines, for files read once (refresh).
_FILE_TIMES = (
    (re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)"), "%Y-%m-%d %H:%M:%S"),
    (re.compile(r"(\d{4}/\d\d/\d\d) (\d\d:\d\d:\d\d)"), "%Y/%m/%d %H:%M:%S"),
    (re.compile(r"\[(\d\d/\w{3}/\d{4}):(\d\d:\d\d:\d\d)"), "%d/%b/%Y %H:%M:%S"),
)


def file_times(texts: Sequence[str], fallback: datetime) -> list[datetime]:
    """Each line's own time when it starts with a known format (taken as UTC), else the
    previous line's; lines before any dated one get the file's modification time."""
    times: list[datetime] = []
    current: datetime | None = None
    for text in texts:
        head = text[:64]
        for pattern, fmt in _FILE_TIMES:
            m = pattern.search(head)
            if m:
                with contextlib.suppress(ValueError):
                    current = datetime.strptime(f"{m.group(1)} {m.group(2)}", fmt).replace(
                        tzinfo=UTC)
                break
        times.append(current or fallback)
    return times
