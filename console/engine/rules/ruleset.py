"""``RuleSet``: rules compiled once into Hyperscan; ``classify`` labels a block in one scan.

One scan of the lowered block reports, for every line, each built-in rule that matches it
(once per rule and line: every match runs on to the end of its line, see
``translate.to_hyperscan``), the required literals of the config rules left to ``re``, and
the lines the rewrite (redaction) may change. A second scan, of the block as written, runs
the config rules Hyperscan takes exactly (config patterns are case-sensitive, like
``grep -E``). A line that one rule matches is labelled with it, with no Python-level
regex; only when several rules match one line does ``re`` say which starts first.

Why not Hyperscan's start-of-match mode, which gives the start directly: measured on the
stress flood (every line ``Login failed: invalid password for ...``), it reports every
alternative that matches (two a line, each a Python callback), cannot compile the rules'
bounded gaps ("Pattern is too large"), and costs the scan itself a third more. Lines with
two rules are rare; those pay one ``re`` search per rule instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from console.config import LogsConfig
from console.engine.rules.builtin import BUILTIN_IDS, BUILTIN_RULES, RENAMED
from console.engine.rules.literals import literal_masks, required_literals
from console.engine.rules.model import LineRewrite, Rule, RuleError
from console.engine.rules.scanner import (
    MULTILINE,
    UTF8,
    ScanError,
    Scanner,
    check,
    encode,
    literal_expression,
    shared,
)
from console.engine.rules.translate import Unsupported, to_hyperscan
from console.models import Severity

__all__ = ["RuleSet"]

log = logging.getLogger(__name__)

_CONFIG_FLAGS = UTF8 | MULTILINE  # config rules: any pattern, character semantics
_BUILTIN_FLAGS = MULTILINE  # built-ins: ASCII byte patterns (translate.to_hyperscan)
Found = tuple[int, int]  # (start, rule index): the lower labels the line


class RuleSet:
    """Rules compiled once; ``match`` for one line, ``classify`` for a block of lines."""

    def __init__(self, rules: Iterable[Rule], rewrite: LineRewrite | None = None) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.rewrite = rewrite
        self._compiled = [_compile(rule) for rule in self.rules]
        lowered: list[tuple[int, bytes]] = []  # (rule index, expression): built-ins
        written: list[tuple[int, bytes]] = []  # config rules, on the text as written
        fallback: list[tuple[int, str]] = []  # (rule index, why Hyperscan cannot)
        for index, rule in enumerate(self.rules):
            expression, reason = _hyperscan_form(rule)
            if expression is not None:
                (lowered if rule.lowercase else written).append((index, expression))
            elif rule.lowercase:
                raise RuleError(f"built-in rule {rule.name!r}: {reason}")
            else:
                fallback.append((index, reason or ""))
        self.fallbacks: tuple[tuple[Rule, str], ...] = tuple(
            (self.rules[i], why) for i, why in fallback)
        self._re_rules = [i for i, _ in fallback]
        literal_sets = [required_literals(self.rules[i].pattern) for i in self._re_rules]
        self.literals: dict[str, int] = literal_masks(literal_sets)
        self._loose_mask = 0  # bits (positions in _re_rules) of rules with no literal
        for bit, lits in enumerate(literal_sets):
            if lits is None:
                self._loose_mask |= 1 << bit
        self._build_scanners(lowered, written)
        self._plans: dict[int, list[tuple[re.Pattern[str], int]]] = {}

    def _build_scanners(self, lowered: list[tuple[int, bytes]],
                        written: list[tuple[int, bytes]]) -> None:
        """The lowered scan: rules, then ``re`` rules' literals, then the rewrite's patterns
        (or its triggers as literals). Ids are positions; the ranges say what a match is."""
        rewrite = self.rewrite
        prefilter = ([p.encode("ascii") for p in rewrite.patterns] if rewrite and rewrite.patterns
                     else [literal_expression(t) for t in rewrite.triggers] if rewrite else [])
        expressions = ([e for _, e in lowered] + [literal_expression(lit) for lit in self.literals]
                       + prefilter)
        flags = [_BUILTIN_FLAGS] * len(lowered) + [0] * (len(self.literals) + len(prefilter))
        self._low_rules = [i for i, _ in lowered]  # expression id -> rule index
        self._literal_end = len(lowered) + len(self.literals)
        self._literal_bits = list(self.literals.values())
        self._low = _scanner(expressions, flags) if expressions else None
        self._high = (_scanner([e for _, e in written], [_CONFIG_FLAGS] * len(written))
                      if written else None)
        self._high_rules = [i for i, _ in written]
        self._simple = self._high is None and not self._re_rules  # built-in rules only

    @classmethod
    def default(cls, rewrite: LineRewrite | None = None) -> RuleSet:
        return cls(BUILTIN_RULES, rewrite)

    @classmethod
    def from_config(cls, logs: LogsConfig, rewrite: LineRewrite | None = None) -> RuleSet:
        """Config rules first (they win ties), then the built-ins. A config rule named like a
        built-in replaces it; ``disabled`` drops it; with no pattern, only its severity
        changes (the built-in keeps its pattern and place)."""
        named = {r.name: r for r in logs.rules}
        extra: list[Rule] = []
        for r in logs.rules:
            if (r.disabled or r.pattern is None) and r.name not in BUILTIN_IDS:
                hint = (f" (now {RENAMED[r.name]!r})" if r.name in RENAMED else "")
                raise RuleError(f"rule {r.name!r}: no built-in rule has that id{hint}")
            if not r.disabled and r.pattern is not None:
                extra.append(Rule(r.name, Severity.parse(r.severity), r.pattern))
        builtins: list[Rule] = []
        for rule in BUILTIN_RULES:
            own = named.get(rule.name)
            if own is None:
                builtins.append(rule)
            elif not own.disabled and own.pattern is None:
                builtins.append(replace(rule, severity=Severity.parse(own.severity)))
        ruleset = cls([*extra, *builtins], rewrite)
        for note in ruleset.notes:
            log.warning("%s", note)
        return ruleset

    @property
    def notes(self) -> tuple[str, ...]:
        """What to say at start-up: the config rules matched with Python's ``re`` (slower
        in a flood) and why Hyperscan could not take them."""
        return tuple(f"rule {rule.name!r} is matched with Python's re, not Hyperscan: {why}"
                     for rule, why in self.fallbacks)

    @property
    def unfiltered(self) -> tuple[Rule, ...]:
        """Rules searched by ``re`` on every line (no Hyperscan form and no literal)."""
        return tuple(self.rules[i] for bit, i in enumerate(self._re_rules)
                     if self._loose_mask >> bit & 1)

    def match(self, line: str) -> Rule | None:
        """The rule for one line, or None (no rewrite: the line is taken as given)."""
        found = self._classify(line, [line], line.lower(), rewrite=False)
        return found[0][1] if found else None

    def classify(self, block: str, lines: Sequence[str] | None = None,
                 lowered: str | None = None) -> list[tuple[int, Rule]]:
        """``(line index, rule)`` for each matching line of a ``\\n``-separated block, in
        line order. Callers that already split or lowered the block may pass the results;
        with a ``rewrite``, ``lines`` must be a list: rewritten lines are stored back in it.
        """
        if not block:
            return []
        if lines is None:
            lines = block.split("\n")
        if lowered is None:
            lowered = block.lower()
        if len(lowered) != len(block):  # rare: a character whose lower case is longer
            lowered = "\n".join(line.lower() for line in lines)
        return self._classify(block, lines, lowered, rewrite=self.rewrite is not None)

    def classify_lines(self, lines: list[str]) -> list[tuple[int, Rule]]:
        """``classify`` for a list of lines (rewritten in place)."""
        return self.classify("\n".join(lines), lines) if lines else []

    # -- one block -----------------------------------------------------------------------

    def _classify(self, block: str, lines: Sequence[str], lowered: str,
                  rewrite: bool) -> list[tuple[int, Rule]]:
        data = encode(lowered)
        matches = self._low.scan(data) if self._low is not None else []
        first, several, candidates, flagged = self._read_scan(data, matches)
        changed = self._rewrite(block, lines, flagged) if rewrite else {}
        rules = self.rules
        if self._simple and not changed and not several:  # the flood's path
            return [(i, rules[r]) for i, r in first.items()]
        if self._high is not None:
            self._add_written(block, first, several)
        found = {i: rules[r] for i, r in first.items()}
        for i, indexes in several.items():
            found[i] = rules[self._earliest(indexes, lines[i])]
        if self._re_rules:
            self._add_fallbacks(lines, candidates, first, several, found)
        for index, line in changed.items():  # a rewritten line is labelled as rewritten
            rule = self.match(line)
            if rule is None:
                found.pop(index, None)
            else:
                found[index] = rule
        return sorted(found.items(), key=_first)

    def _read_scan(self, data: bytes, matches: list[tuple[int, int]]
                   ) -> tuple[dict[int, int], dict[int, list[int]], dict[int, int], list[int]]:
        """Per line: the first rule reported (rule index), all of them when there are
        several, the ``re`` rules whose literals occur, and whether the rewrite may apply.
        ``first`` is filled in line order (matches come by end offset)."""
        first: dict[int, int] = {}
        several: dict[int, list[int]] = {}
        candidates: dict[int, int] = {}
        flagged: list[int] = []
        rules, literal_bits = self._low_rules, self._literal_bits
        n_rules, literal_end = len(rules), self._literal_end
        count, setdefault = data.count, first.setdefault
        line = position = 0
        for end, id_ in matches:
            if end != position:
                line += count(b"\n", position, end)
                position = end
            if id_ < n_rules:
                rule = rules[id_]
                if setdefault(line, rule) != rule:
                    _add_once(several.setdefault(line, [first[line]]), rule)
            elif id_ < literal_end:
                candidates[line] = candidates.get(line, 0) | literal_bits[id_ - n_rules]
            else:
                flagged.append(line)
        return first, several, candidates, flagged

    def _add_written(self, block: str, first: dict[int, int],
                     several: dict[int, list[int]]) -> None:
        """The config rules Hyperscan runs on the text as written, into ``first`` and
        ``several`` (``first`` is then no longer in line order)."""
        assert self._high is not None
        data = encode(block)
        line = position = 0
        for end, id_ in self._high.scan(data):
            if end != position:
                line += data.count(b"\n", position, end)
                position = end
            rule = self._high_rules[id_]
            if first.setdefault(line, rule) != rule:
                _add_once(several.setdefault(line, [first[line]]), rule)

    def _add_fallbacks(self, lines: Sequence[str], candidates: dict[int, int],
                       first: dict[int, int], several: dict[int, list[int]],
                       found: dict[int, Rule]) -> None:
        """The config rules left to ``re``, on the lines holding one of their literals (every
        line, for a rule with none), against what Hyperscan found on the same line."""
        masks = dict(candidates)
        if self._loose_mask:
            masks = {i: masks.get(i, 0) | self._loose_mask for i in range(len(lines))}
        for i, mask in masks.items():
            got = self._best(mask, lines[i], lines[i].lower())
            if got is None:
                continue
            key = (self.rules[got[1]].tier, *got)
            if i in first:
                key = min(key, self._ranked(several.get(i, [first[i]]), lines[i]))
            found[i] = self.rules[key[2]]

    def _earliest(self, indexes: list[int], line: str) -> int:
        """Of several rules matching a line, the one that labels it: the lowest tier, then
        the earliest start, then the rule listed first."""
        return self._ranked(indexes, line)[2]

    def _ranked(self, indexes: list[int], line: str) -> tuple[int, int, int]:
        return min((self.rules[i].tier, self._start(i, line), i) for i in indexes)

    def _start(self, index: int, line: str) -> int:
        """Where rule ``index`` first matches ``line`` (Hyperscan said it does)."""
        text = line.lower() if self.rules[index].lowercase else line
        m = self._compiled[index].search(text)
        return m.start() if m is not None else len(text)

    def _rewrite(self, block: str, lines: Sequence[str], flagged: list[int]) -> dict[int, str]:
        """Apply the rewrite to the lines that may need it; the lines it changed."""
        rewrite = self.rewrite
        assert rewrite is not None
        todo = set(flagged)
        if rewrite.patterns and not block.isascii():
            todo.update(i for i, line in enumerate(lines) if not line.isascii())
        changed: dict[int, str] = {}
        for index in sorted(todo):
            line = lines[index]
            if rewrite.patterns:
                low = line.lower()
                if not any(trigger in low for trigger in rewrite.triggers):
                    continue
            new = rewrite.apply(line)
            if new != line:
                lines[index] = changed[index] = new  # type: ignore[index]
        return changed

    def _best(self, mask: int, line: str, low_line: str) -> Found | None:
        """The ``re`` match that labels the line among the fallback rules in ``mask``
        (start, rule index): config rules, all tier 0, so the earliest, then listed first."""
        found: Found | None = None
        for regex, index in self._plan(mask):
            m = regex.search(low_line if self.rules[index].lowercase else line)
            if m is not None and (found is None or (m.start(), index) < found):
                found = (m.start(), index)
        return found

    def _plan(self, mask: int) -> list[tuple[re.Pattern[str], int]]:
        plan = self._plans.get(mask)
        if plan is None:
            plan = [(self._compiled[i], i) for bit, i in enumerate(self._re_rules)
                    if mask >> bit & 1]
            self._plans[mask] = plan
        return plan


def _first(item: tuple[int, Rule]) -> int:
    return item[0]


def _add_once(items: list[int], item: int) -> None:
    if item not in items:
        items.append(item)


def _scanner(expressions: list[bytes], flags: list[int]) -> Scanner:
    try:
        return shared(tuple(expressions), tuple(flags))
    except ScanError as exc:
        raise RuleError(f"the rules could not be compiled for Hyperscan: {exc}") from None


def _hyperscan_form(rule: Rule) -> tuple[bytes | None, str | None]:
    """The rule as a Hyperscan expression, or None and the reason it has none. Each match
    runs on to the end of its line where Hyperscan allows (one report per line)."""
    if rule.lowercase:  # built-ins: checked together (a test keeps them compiling)
        try:
            return to_hyperscan(rule.pattern, ascii_bytes=True, line_end=True).encode(), None
        except Unsupported as exc:
            return None, str(exc)
    reason = ""
    for line_end in (True, False):  # a $ inside the pattern: Hyperscan refuses line_end
        try:
            expression = to_hyperscan(rule.pattern, line_end=line_end).encode("ascii")
        except Unsupported as exc:
            return None, str(exc)
        refused = check(expression, _CONFIG_FLAGS)
        if refused is None:
            return expression, None
        reason = reason or refused
    return None, f"Hyperscan refused it ({reason})"


def _compile(rule: Rule) -> re.Pattern[str]:
    if rule.lowercase and _has_upper(rule.pattern):
        raise RuleError(f"rule {rule.name!r}: a lower-case rule has upper-case letters")
    try:
        compiled = re.compile(rule.pattern)
    except re.error as exc:
        raise RuleError(f"rule {rule.name!r}: invalid regular expression: {exc}") from None
    if compiled.search("") is not None or any(
            m.end() == m.start() for probe in (" ", "a", "a a", "  ", "aa")
            for m in compiled.finditer(probe)):  # \B: empty matches, not on an empty line
        raise RuleError(f"rule {rule.name!r}: the pattern matches an empty line, so every line")
    return compiled


def _has_upper(pattern: str) -> bool:
    """Upper-case letters outside escapes such as ``\\S`` or ``\\d``."""
    return any(ch.isupper() for ch in re.sub(r"\\.", "", pattern))
