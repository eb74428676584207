"""A Python regular expression rewritten for Hyperscan, with exactly ``re``'s meaning on one line.

Hyperscan reads PCRE syntax, and PCRE and Python disagree in places that would silently
change what a rule matches (``{,3}`` is a repeat in Python and a literal in PCRE; ``\\d`` is
any Unicode digit in Python and ASCII in Hyperscan; ``(?i)s`` also matches ``ſ`` in Python).
So the pattern is not passed through as text: it is parsed by ``re``'s own parser and the
tree is written out again with nothing left to interpretation - every character as
``\\x{..}``, every class as explicit code-point ranges, ``\\d``/``\\s``/``\\w`` as the sets
Python itself uses (computed from ``re`` on first use), case-insensitive letters as their
Python equivalence classes (``k`` = ``[kK\\x{212a}]``). The database is compiled in UTF-8
mode, so a class or a bounded gap counts characters, as ``re`` does.

What is refused (``Unsupported``, and the rule is matched with ``re`` instead): constructs
Hyperscan has no equivalent for (look-arounds, back-references, conditionals, atomic groups
and possessive quantifiers), ``\\b``/``\\B`` with Unicode word characters (``(?a)`` makes
them ASCII, which Hyperscan has), a newline in the pattern (no line contains one), and
non-ASCII cased letters under ``(?i)``.

Lines never contain a newline and a block is scanned whole, so every class written here
excludes ``\\n``: no match can run from one line into the next.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import cast

__all__ = ["Unsupported", "to_hyperscan"]

_MAX = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
_NEWLINE = 0x0A
Ranges = list[tuple[int, int]]

# ASCII letters that Python's case-insensitive matching equates with a non-ASCII character
# (found by matching every code point; tests/unit/test_rules.py checks the table).
CASE_EXTRAS: dict[str, tuple[int, ...]] = {"i": (0x130, 0x131), "k": (0x212A,), "s": (0x17F,)}


class Unsupported(ValueError):
    """The pattern has a construct Hyperscan cannot match with ``re``'s exact meaning."""


def to_hyperscan(pattern: str, ascii_bytes: bool = False, line_end: bool = False) -> str:
    """``pattern`` (Python syntax) as a Hyperscan expression with the same matches on a line.

    Compile the result with ``HS_FLAG_UTF8 | HS_FLAG_MULTILINE`` (``^``/``$`` at each line).

    ``line_end`` runs every match on to the end of its line (each alternative gets
    ``[^\\n]*$`` unless it ends there already). A line then reports *one* match per
    expression, however many places in it match: Hyperscan reports a match per end offset,
    and the flood's ``Login failed: invalid password`` would otherwise report two. Which
    lines match is unchanged. A ``$`` inside the pattern makes Hyperscan refuse this form.

    With ``ascii_bytes`` (the built-in rules), compile it without ``HS_FLAG_UTF8``: the
    pattern must be ASCII, with no ``\\d``/``\\s``/``\\w``, and a class that admits
    non-ASCII characters (``[^\\n]``) may only be repeated without bound (``*``, ``+``) or
    stand once where nothing fixed must precede or follow it within the character (at an
    end of the pattern, or beside such a repeat): then a run of bytes matches where a run
    of characters does. Byte mode scans faster.
    """
    try:
        tree = sre_parse.parse(pattern)
    except re.error as exc:
        raise Unsupported(f"invalid regular expression: {exc}") from None
    writer = _Writer(tree.state.flags, ascii_bytes)
    items = list(tree)
    if not line_end:
        return writer.seq(items)
    alternatives = (items[0][1][1] if len(items) == 1 and items[0][0] is sre_c.BRANCH
                    else [items])
    rest = writer.emit(_complement([(_NEWLINE, _NEWLINE)])) + "*$"
    return "|".join(writer.seq(alt) + ("" if _ends_at_line_end(alt) else rest)
                    for alt in alternatives)


def _ends_at_line_end(items: Sequence[tuple[object, object]]) -> bool:
    """Whether every match of ``items`` ends with ``$``."""
    if not items:
        return False
    op, av = items[-1]
    if op is sre_c.AT:
        return av in (sre_c.AT_END, sre_c.AT_END_STRING)
    if op is sre_c.SUBPATTERN:
        return _ends_at_line_end(av[-1])  # type: ignore[index]
    if op is sre_c.BRANCH:
        return all(_ends_at_line_end(alt) for alt in av[1])  # type: ignore[index]
    return False


class _Writer:
    def __init__(self, flags: int, ascii_bytes: bool = False) -> None:
        self.flags = flags
        self.bytes = ascii_bytes
        self.wide = False  # a class admitting non-ASCII bytes, outside unbounded repeats

    @property
    def ignorecase(self) -> bool:
        return bool(self.flags & re.IGNORECASE)

    @property
    def ascii(self) -> bool:
        return bool(self.flags & re.ASCII)

    def seq(self, items: Iterable[tuple[object, object]]) -> str:
        return "".join(self.item(op, av) for op, av in items)

    def item(self, op: object, av: object) -> str:  # noqa: PLR0911 - one case per opcode
        if op is sre_c.LITERAL:
            return self.emit(self.char_set(av), single=True)  # type: ignore[arg-type]
        if op is sre_c.NOT_LITERAL:
            return self.emit(_complement(self.fold([(av, av)])))  # type: ignore[list-item]
        if op is sre_c.ANY:
            return self.emit(_complement([(_NEWLINE, _NEWLINE)]))
        if op is sre_c.IN:
            return self.emit(self.in_set(av))  # type: ignore[arg-type]
        if op is sre_c.BRANCH:
            return "(?:" + "|".join(self.seq(alt) for alt in av[1]) + ")"  # type: ignore[index]
        if op is sre_c.SUBPATTERN:
            return self.group(av)  # type: ignore[arg-type]
        if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
            low, high, inner = cast(tuple[int, int, list[tuple[object, object]]], av)
            upper = "" if high == sre_c.MAXREPEAT else str(high)
            saved, self.wide = self.wide, False
            body = self.seq(inner)
            if self.bytes and upper and self.wide:
                raise Unsupported("a bounded repeat of a class with non-ASCII characters")
            self.wide = saved or (self.wide and bool(upper))  # an unbounded repeat is safe
            bounds = f"{{{low}}}" if str(low) == upper else f"{{{low},{upper}}}"
            return f"(?:{body}){bounds}"
        if op is sre_c.AT:
            return self.at(av)
        raise Unsupported(_UNSUPPORTED.get(str(op), f"{str(op).lower()} is not supported"))

    def group(self, av: tuple[object, int, int, Sequence[tuple[object, object]]]) -> str:
        _, add, remove, inner = av
        saved = self.flags
        self.flags = (self.flags | add) & ~remove
        try:
            return f"(?:{self.seq(inner)})"
        finally:
            self.flags = saved

    def at(self, where: object) -> str:
        if where in (sre_c.AT_BEGINNING, sre_c.AT_BEGINNING_STRING):
            return "^"
        if where in (sre_c.AT_END, sre_c.AT_END_STRING):
            return "$"
        if where in (sre_c.AT_BOUNDARY, sre_c.AT_NON_BOUNDARY) and self.ascii:
            return r"\b" if where is sre_c.AT_BOUNDARY else r"\B"
        if where in (sre_c.AT_BOUNDARY, sre_c.AT_NON_BOUNDARY):
            raise Unsupported(r"\b or \B with Unicode word characters (write (?a) for ASCII)")
        raise Unsupported(f"{str(where).lower()} is not supported")

    def emit(self, ranges: Ranges, single: bool = False) -> str:
        """A class; in byte mode, every code point past ASCII is the bytes 0x80-0xFF."""
        if self.bytes and any(high > 0x7F for _, high in ranges):
            ranges = _merge([(lo, min(hi, 0x7F)) for lo, hi in ranges if lo <= 0x7F]
                            + [(0x80, 0xFF)])
            self.wide = True
        return _emit_class(ranges, single)

    def char_set(self, code: int) -> Ranges:
        if self.bytes and code > 0x7F:
            raise Unsupported("a non-ASCII character in an ASCII byte pattern")
        if code == _NEWLINE:
            raise Unsupported("a newline, which no line contains")
        return self.fold([(code, code)])

    def in_set(self, items: Sequence[tuple[object, object]]) -> Ranges:
        negate = bool(items) and items[0][0] is sre_c.NEGATE
        ranges: Ranges = []
        categories: Ranges = []  # \d \s \w: closed under case already
        for op, av in items[1:] if negate else items:
            if op is sre_c.LITERAL:
                ranges.append((av, av))  # type: ignore[arg-type]
            elif op is sre_c.RANGE:
                ranges.append(av)  # type: ignore[arg-type]
            elif op is sre_c.CATEGORY and self.bytes:
                raise Unsupported("\\d, \\s or \\w in an ASCII byte pattern")
            elif op is sre_c.CATEGORY:
                categories.extend(_category(str(av), self.ascii))
            else:
                raise Unsupported(f"{str(op).lower()} in a character class is not supported")
        folded = _merge(self.fold(_merge(ranges)) + categories)
        result = _complement(folded) if negate else folded
        return _subtract(result, (_NEWLINE, _NEWLINE))

    def fold(self, ranges: Ranges) -> Ranges:
        """Under ``(?i)``: ASCII letters with every character ``re`` equates them with."""
        if not self.ignorecase:
            return _merge(ranges)
        out = list(ranges)
        for low, high in ranges:
            for code in range(max(low, 0x41), min(high, 0x7A) + 1):
                ch = chr(code)
                if ch.isalpha():
                    out += [(ord(c), ord(c)) for c in (ch.lower(), ch.upper())]
                    if not self.ascii:  # (?a) folds ASCII letters only
                        out += [(x, x) for x in CASE_EXTRAS.get(ch.lower(), ())]
            if high >= 0x80 and not self.ascii and _has_cased(max(low, 0x80), high):
                raise Unsupported("a non-ASCII cased letter under (?i)")
        return _merge(out)


_UNSUPPORTED = {
    "ASSERT": "a look-ahead or look-behind",
    "ASSERT_NOT": "a negative look-ahead or look-behind",
    "GROUPREF": "a back-reference",
    "GROUPREF_EXISTS": "a conditional group",
    "ATOMIC_GROUP": "an atomic group",
    "POSSESSIVE_REPEAT": "a possessive quantifier",
}


def _has_cased(low: int, high: int) -> bool:
    if high - low > 0x30000:
        return True
    return any(chr(c).lower() != chr(c) or chr(c).upper() != chr(c)
               for c in range(low, high + 1) if not _SURROGATES[0] <= c <= _SURROGATES[1])


def _merge(ranges: Iterable[tuple[int, int]]) -> Ranges:
    out: Ranges = []
    for low, high in sorted(ranges):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def _complement(ranges: Ranges) -> Ranges:
    out: Ranges = []
    at = 0
    for low, high in _merge(ranges):
        if low > at:
            out.append((at, low - 1))
        at = high + 1
    if at <= _MAX:
        out.append((at, _MAX))
    return _subtract(out, (_NEWLINE, _NEWLINE))


def _subtract(ranges: Ranges, gap: tuple[int, int]) -> Ranges:
    out: Ranges = []
    for low, high in ranges:
        if high < gap[0] or low > gap[1]:
            out.append((low, high))
            continue
        if low < gap[0]:
            out.append((low, gap[0] - 1))
        if high > gap[1]:
            out.append((gap[1] + 1, high))
    return out


def _emit_class(ranges: Ranges, single: bool = False) -> str:
    """Code-point ranges as a Hyperscan class (no surrogates: UTF-8 has none)."""
    ranges = _subtract(ranges, _SURROGATES)
    if not ranges:
        raise Unsupported("a character class that matches no character")
    if single and len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _char(ranges[0][0])
    body = "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges)
    return f"[{body}]"


def _char(code: int) -> str:
    ch = chr(code)
    if ch.isascii() and ch.isalnum():
        return ch
    return f"\\x{{{code:x}}}"


@functools.lru_cache(maxsize=16)
def _category_cached(name: str, ascii_only: bool) -> tuple[tuple[int, int], ...]:
    """The code points ``re`` puts in ``\\d``, ``\\s``, ``\\w`` (or their complements),
    computed from ``re`` itself so that no table can drift from it."""
    positive = {"CATEGORY_DIGIT": r"\d", "CATEGORY_SPACE": r"\s", "CATEGORY_WORD": r"\w",
                "CATEGORY_NOT_DIGIT": r"\d", "CATEGORY_NOT_SPACE": r"\s",
                "CATEGORY_NOT_WORD": r"\w"}.get(name)
    if positive is None:
        raise Unsupported(f"{name.lower()} is not supported")
    flags = re.ASCII if ascii_only else 0
    text = _all_characters()
    ranges = _merge((m.start(), m.end() - 1) for m in re.finditer(positive + "+", text, flags))
    ranges = [(_code_at(lo), _code_at(hi)) for lo, hi in ranges]
    if "NOT" in name:
        ranges = _complement(_merge(ranges))
    return tuple(_subtract(_merge(ranges), (_NEWLINE, _NEWLINE)))


def _category(name: str, ascii_only: bool) -> Ranges:
    return list(_category_cached(name, ascii_only))


@functools.lru_cache(maxsize=1)
def _all_characters() -> str:
    """Every code point but the surrogates, in order (1.1 M characters, built once)."""
    return "".join(map(chr, range(_SURROGATES[0]))) + "".join(
        map(chr, range(_SURROGATES[1] + 1, _MAX + 1)))


def _code_at(index: int) -> int:
    """The code point at ``index`` of ``_all_characters()`` (surrogates skipped)."""
    return index if index < _SURROGATES[0] else index + (_SURROGATES[1] - _SURROGATES[0] + 1)
