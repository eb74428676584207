"""Literals every match of a pattern must contain: the prefilter for rules matched with ``re``.

A config rule that Hyperscan cannot match exactly is searched with Python's ``re``, but only
on the lines that contain one of its required literals: those literals ride in the rules'
own Hyperscan scan. A line containing none of them cannot match the rule, so the prefilter
is sound: it only decides which lines to look at, and which rules to try there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import cast

__all__ = ["literal_masks", "required_literals"]

_MAX_SET = 64  # cap on a cross product of literal alternatives
_MIN_LITERAL = 3  # shorter literals match nearly every line: useless as a filter
_GOOD_LITERAL = 6  # longer is hardly more selective in log text


def required_literals(pattern: str) -> frozenset[str] | None:
    """Lower-case literals of which every match of ``pattern`` contains at least one.

    None when no useful set exists (then the rule is searched on every line). The walk is
    over ``re``'s own parse tree, so it reads the pattern exactly as ``re`` does.
    """
    try:
        tree = sre_parse.parse(pattern)
    except re.error:
        return None
    best = _Literals.of_seq(list(tree)).required
    if not best or min(len(s) for s in best) < _MIN_LITERAL:
        return None
    if _CASELESS.search(pattern) and any(ch in lit for lit in best for ch in "iks"):
        return None  # (?i)s also matches "ſ", k "K", i "İ": not found in the lowered line
    return frozenset(best)


_CASELESS = re.compile(r"\(\?[a-zA-Z]*i[a-zA-Z]*[:)-]")


@dataclass(frozen=True, slots=True)
class _Literals:
    """For a piece of a pattern: ``exact`` = every string it can match (when few and
    known), ``required`` = a set of which every match contains one (None: unknown)."""

    exact: frozenset[str] | None
    required: frozenset[str] | None

    @staticmethod
    def score(candidate: frozenset[str]) -> tuple[int, int, int]:
        """Selective enough (6+ characters) first, then as few literals as possible (each
        costs a scan), then longer."""
        shortest = min(len(s) for s in candidate)
        return (min(_GOOD_LITERAL, shortest), -len(candidate), shortest)

    @classmethod
    def of_seq(cls, items: list[tuple[object, object]]) -> _Literals:
        candidates: list[frozenset[str]] = []
        run: frozenset[str] = frozenset({""})
        whole: frozenset[str] | None = frozenset({""})
        for op, av in items:
            if op is sre_c.AT:  # \b, ^, $: zero-width, consumes nothing
                continue
            piece = cls.of_item(op, av)
            if piece.exact is not None:
                run = _product(run, piece.exact) or piece.exact
                whole = _product(whole, piece.exact) if whole is not None else None
                candidates.append(run)
                continue
            if piece.required:
                candidates.append(piece.required)
            run = frozenset({""})
            whole = None
        useful = [c for c in candidates if c and min(len(s) for s in c) > 0]
        best = max(useful, key=cls.score, default=None)
        return cls(exact=whole, required=best)

    @classmethod
    def of_item(cls, op: object, av: object) -> _Literals:
        if op is sre_c.LITERAL:
            ch = chr(av).lower()  # type: ignore[arg-type]
            return cls(frozenset({ch}), frozenset({ch}))
        if op is sre_c.IN:
            chars = _small_charset(av)  # type: ignore[arg-type]
            return cls(chars, chars)
        if op is sre_c.SUBPATTERN:
            return cls.of_seq(list(av[-1]))  # type: ignore[index]
        if op is sre_c.BRANCH:
            return cls.of_branch(av[1])  # type: ignore[index]
        if op in _REPEATS:
            low, high, inner = cast(tuple[int, int, list[tuple[object, object]]], av)
            sub = cls.of_seq(list(inner))
            if low == high == 1:
                return sub
            if low >= 1:
                return cls(None, sub.exact if sub.exact is not None else sub.required)
        if op is _ATOMIC:
            return cls.of_seq(list(av))  # type: ignore[call-overload]
        return cls(None, None)

    @classmethod
    def of_branch(cls, alternatives: Sequence[object]) -> _Literals:
        exact: set[str] | None = set()
        required: set[str] | None = set()
        for alt in alternatives:
            sub = cls.of_seq(list(alt))  # type: ignore[call-overload]
            exact = exact | sub.exact if exact is not None and sub.exact is not None else None
            need = sub.exact if sub.exact is not None else sub.required
            required = required | need if required is not None and need else None
        if exact is not None and len(exact) > _MAX_SET:
            exact = None
        return cls(frozenset(exact) if exact is not None else None,
                   frozenset(required) if required is not None else None)


_REPEATS = tuple(op for op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT,
                               getattr(sre_c, "POSSESSIVE_REPEAT", None)) if op is not None)
_ATOMIC = getattr(sre_c, "ATOMIC_GROUP", object())


def _product(left: frozenset[str] | None, right: frozenset[str]) -> frozenset[str] | None:
    if left is None or len(left) * len(right) > _MAX_SET:
        return None
    return frozenset(a + b for a in left for b in right)


def _small_charset(items: Sequence[tuple[object, object]]) -> frozenset[str] | None:
    """``[Ff]`` or ``[-_ ]`` as a few literal characters; anything wider is unknown."""
    chars: set[str] = set()
    for op, av in items:
        if op is sre_c.LITERAL:
            chars.add(chr(av).lower())  # type: ignore[arg-type]
        elif op is sre_c.RANGE and av[1] - av[0] < 4:  # type: ignore[index]
            chars.update(chr(c).lower() for c in range(av[0], av[1] + 1))  # type: ignore
        else:
            return None
    return frozenset(chars) if 0 < len(chars) <= 4 else None


def literal_masks(per_rule: Sequence[frozenset[str] | None]) -> dict[str, int]:
    """Every literal with the bit mask of the rules (list positions) that need it.

    The scanner looks for all of them in one pass, so no literal is merged into a
    shorter, commoner one: a line's hits give its candidate rules directly, with no
    second look at the line.
    """
    masks: dict[str, int] = {}
    for bit, literals in enumerate(per_rule):
        for lit in literals or ():
            masks[lit] = masks.get(lit, 0) | (1 << bit)
    return masks
