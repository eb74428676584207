"""One Hyperscan database, scanned over a whole block of lines at once.

Hyperscan needs a scratch space per scan in progress. Reader threads share a scanner, so
scratches are lent from a small pool, not kept per thread: a 50-server fleet has ~150
reader threads, and a scratch each (0.2 MB) came to 30 MB. One compiled database per
distinct set of expressions is shared by every rule set that needs it (``shared``): the
servers of a fleet mostly have the same rules.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import hyperscan

__all__ = ["Scanner", "encode", "literal_expression", "shared"]

UTF8 = hyperscan.HS_FLAG_UTF8
MULTILINE = hyperscan.HS_FLAG_MULTILINE

Match = tuple[int, int]  # (end, expression id): end is a byte offset in the block


class ScanError(ValueError):
    """Hyperscan refused an expression (its message names the construct)."""


def encode(text: str) -> bytes:
    """``text`` as UTF-8 for the scan. A lone surrogate (which UTF-8 cannot carry, and a
    UTF-8 database must not be shown) becomes ``?``: newlines, and so line numbers, stay."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def literal_expression(literal: str) -> bytes:
    """A literal as a Hyperscan expression (every byte escaped, so nothing is syntax)."""
    return "".join(f"\\x{b:02x}" for b in literal.encode("utf-8")).encode("ascii")


class Scanner:
    """A compiled database and its scratch pool; ``scan`` gives every match, sorted."""

    def __init__(self, expressions: Sequence[bytes], flags: Sequence[int]) -> None:
        self.count = len(expressions)
        self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            self._database.compile(expressions=list(expressions), ids=list(range(self.count)),
                                   elements=self.count, flags=list(flags))
        except hyperscan.error as exc:
            raise ScanError(str(exc)) from None
        self._scratches: list[hyperscan.Scratch] = []

    def scan(self, data: bytes) -> list[Match]:
        """``(end, id)`` for every match in ``data``, in order of end then id."""
        found: list[Match] = []
        add = found.append
        try:  # list.pop and list.append are atomic: no lock needed
            scratch = self._scratches.pop()
        except IndexError:
            scratch = hyperscan.Scratch(self._database)
        try:
            self._database.scan(data, match_event_handler=lambda id_, _start, end, _flags,
                                _ctx: add((end, id_)), scratch=scratch)
        finally:
            self._scratches.append(scratch)
        found.sort()
        return found


@functools.lru_cache(maxsize=32)
def shared(expressions: tuple[bytes, ...], flags: tuple[int, ...]) -> Scanner:
    """One compiled database per distinct expression set (each costs ~0.3 MB or more; 50
    servers with the same rules made 14 MB of copies)."""
    return Scanner(expressions, flags)


def check(expression: bytes, flags: int) -> str | None:
    """Hyperscan's reason for refusing one expression, or None when it compiles."""
    try:
        Scanner([expression], [flags])
    except ScanError as exc:
        return str(exc)
    return None
