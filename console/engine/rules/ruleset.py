"""``RuleSet``: rules compiled once into Hyperscan; ``classify`` labels a block in one scan.

One scan of the lowered block finds, for every line, every built-in rule's leftmost match
(start-of-match mode), the required literals of the config rules matched with ``re``, and
the lines the rewrite (redaction) may change. A second scan, of the block as written, runs
the config rules Hyperscan can take exactly (config patterns are case-sensitive, like
``grep -E``). Python then only picks each line's earliest rule and runs ``re`` for the
config rules Hyperscan cannot compile, on the lines holding one of their literals.
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
    SOM,
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

_RULE_FLAGS = UTF8 | MULTILINE | SOM
Found = tuple[int, int]  # (start, rule index): the lower labels the line


class RuleSet:
    """Rules compiled once; ``match`` for one line, ``classify`` for a block of lines."""

    def __init__(self, rules: Iterable[Rule], rewrite: LineRewrite | None = None) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.rewrite = rewrite
        self._compiled = [_compile(rule) for rule in self.rules]
        lowered: list[tuple[int, bytes]] = []  # (rule index, expression), lowered text
        written: list[tuple[int, bytes]] = []  # config rules, the text as written
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
        flags = ([_RULE_FLAGS] * len(lowered) + [0] * (len(self.literals) + len(prefilter)))
        self._low_rules = [i for i, _ in lowered]  # expression id -> rule index
        self._literal_end = len(lowered) + len(self.literals)
        self._literal_bits = list(self.literals.values())
        self._low = _scanner(expressions, flags)
        self._high = (_scanner([e for _, e in written], [_RULE_FLAGS] * len(written))
                      if written else None)
        self._high_rules = [i for i, _ in written]
        # built-in rules only: the lowered scan's byte offsets decide alone
        self._simple = self._high is None and not self._re_rules

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
        best, candidates, flagged = self._read_scan(data, self._low.scan(data))
        changed = self._rewrite(block, lines, flagged) if rewrite else {}
        if self._simple:
            found = {i: self.rules[best[i][1]] for i in best}
        else:
            found = self._resolve(block, lines, data, best, candidates)
        for index, line in changed.items():  # a rewritten line is labelled as rewritten
            rule = self.match(line)
            if rule is None:
                found.pop(index, None)
            else:
                found[index] = rule
        return sorted(found.items(), key=lambda item: item[0])

    def _read_scan(self, data: bytes, matches: list[tuple[int, int, int]]
                   ) -> tuple[dict[int, Found], dict[int, int], list[int]]:
        """Per line: the leftmost rule match (byte offset, rule index), the ``re`` rules
        whose literals occur, and whether the rewrite may apply."""
        best: dict[int, Found] = {}
        candidates: dict[int, int] = {}
        flagged: list[int] = []
        rules, literal_bits = self._low_rules, self._literal_bits
        n_rules, literal_end = len(rules), self._literal_end
        count = data.count
        line = position = 0
        for end, id_, start in matches:
            if end != position:
                line += count(b"\n", position, end)
                position = end
            if id_ < n_rules:
                key = (start, rules[id_])
                old = best.get(line)
                if old is None or key < old:
                    best[line] = key
            elif id_ < literal_end:
                candidates[line] = candidates.get(line, 0) | literal_bits[id_ - n_rules]
            else:
                flagged.append(line)
        return best, candidates, flagged

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

    def _resolve(self, block: str, lines: Sequence[str], data: bytes,
                 best: dict[int, Found], candidates: dict[int, int]) -> dict[int, Rule]:
        """Each line's earliest rule when config rules are in play: positions become
        characters from the line's start, so Hyperscan's and ``re``'s compare."""
        per_line: dict[int, Found] = {i: (_chars(data, s, lines[i]), r) for i, (s, r) in
                                      best.items()}
        if self._high is not None:
            written = encode(block)
            matches = [(end, self._high_rules[id_], start)
                       for end, id_, start in self._high.scan(written)]
            high, _, _ = self._read_high(written, matches)
            for i, (start, rule) in high.items():
                key = (_chars(written, start, lines[i]), rule)
                if i not in per_line or key < per_line[i]:
                    per_line[i] = key
        if self._re_rules:
            masks = dict(candidates)
            if self._loose_mask:
                masks = {i: masks.get(i, 0) | self._loose_mask for i in range(len(lines))}
            for i, mask in masks.items():
                got = self._best(mask, lines[i], lines[i].lower())
                if got is not None and (i not in per_line or got < per_line[i]):
                    per_line[i] = got
        return {i: self.rules[rule] for i, (_, rule) in per_line.items()}

    def _read_high(self, data: bytes, matches: list[tuple[int, int, int]]
                   ) -> tuple[dict[int, Found], dict[int, int], list[int]]:
        """``_read_scan`` for the scan of the text as written (rule indexes given)."""
        best: dict[int, Found] = {}
        line = position = 0
        for end, rule, start in matches:
            if end != position:
                line += data.count(b"\n", position, end)
                position = end
            key = (start, rule)
            if line not in best or key < best[line]:
                best[line] = key
        return best, {}, []

    def _best(self, mask: int, line: str, low_line: str) -> Found | None:
        """Earliest ``re`` match among the fallback rules in ``mask`` (char offset, rule
        index); ties go to the rule listed first."""
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


def _chars(data: bytes, start: int, line: str) -> int:
    """A byte offset in ``data`` as characters from the start of its line."""
    line_start = data.rfind(b"\n", 0, start) + 1
    if line.isascii():
        return start - line_start
    return len(data[line_start:start].decode("utf-8", "replace"))


def _scanner(expressions: list[bytes], flags: list[int]) -> Scanner:
    try:
        return shared(tuple(expressions), tuple(flags))
    except ScanError as exc:
        raise RuleError(f"the rules could not be compiled for Hyperscan: {exc}") from None


def _hyperscan_form(rule: Rule) -> tuple[bytes | None, str | None]:
    """The rule as a Hyperscan expression, or None and the reason it has none."""
    try:
        expression = to_hyperscan(rule.pattern).encode("ascii")
    except Unsupported as exc:
        return None, str(exc)
    if not rule.lowercase:  # config rules one by one: a refusal names its own rule
        reason = check(expression, _RULE_FLAGS)
        if reason is not None:
            return None, f"Hyperscan refused it ({reason})"
    return expression, None


def _compile(rule: Rule) -> re.Pattern[str]:
    if rule.lowercase and _has_upper(rule.pattern):
        raise RuleError(f"rule {rule.name!r}: a lower-case rule has upper-case letters")
    try:
        compiled = re.compile(rule.pattern)
    except re.error as exc:
        raise RuleError(f"rule {rule.name!r}: invalid regular expression: {exc}") from None
    if compiled.search("") is not None:
        raise RuleError(f"rule {rule.name!r}: the pattern matches an empty line, so every line")
    return compiled


def _has_upper(pattern: str) -> bool:
    """Upper-case letters outside escapes such as ``\\S`` or ``\\d``."""
    return any(ch.isupper() for ch in re.sub(r"\\.", "", pattern))
