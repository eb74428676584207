"""Auth-event rules: which log lines matter during an auth incident, and how badly.

Every rule is a name, a severity and a regular expression. The built-in rules cover the
phrasings of the incidents this console exists for (``[AUTH] Login failed: ...``, ``JWT
expired``, nginx ``connect() failed (111: Connection refused) while connecting to upstream``,
``RuntimeError: JWT_SECRET not configured`` ...); rules from the config are added to them.

How a block of lines is classified, and why this way
----------------------------------------------------
Running every rule on every line is what makes log tools fall behind, and Python's ``re``
is slow at the obvious fix: one alternation of named groups is tried at every character of
every line (measured: ~50 us a line for these rules, 90x slower than ``grep -E``), and
case-insensitive matching is slower again. So ``RuleSet.classify`` makes, for a block:

1. **One pass over the whole block for all the literals.** From each rule's parsed pattern
   the set of literals that every match must contain is extracted (``" 401 "``, ``"login
   failed"``, ``"upstream"``...). The block is lowered once and searched for every literal
   at once by Hyperscan (SIMD, gigabytes a second): one pass whatever the number of
   literals, where a ``str.find`` per literal read the block ~50 times. Measured on the
   500k-line mixed flood: 1.25 s of scanning with ``str.find``, 0.5 s with an Aho-Corasick
   automaton, 0.03 s with Hyperscan. A line containing none of a rule's literals cannot
   match that rule, so this prefilter is sound: it only decides which lines to look at,
   and which rules to try there.
2. **One pass per candidate line.** Only the rules whose literals occur in the line are
   searched, each precompiled once; built-in patterns are lower case and run on the lowered
   line, so no case-insensitive matching is needed. When several built-in rules are
   candidates they are searched as one precompiled alternation (built once per set of
   candidates), one search of the line. Rules with no usable literal (a config pattern
   like ``\\d+ errors``) are searched on every line.

The rule that labels a line is the one whose match starts *earliest in the line*; at the
same position the rule listed first wins (config rules come before the built-ins, so an
operator's rule can relabel a phrase). This is exactly what a single left-to-right
alternation of all rules would give, and it labels ``[AUTH] Login failed: invalid password``
as ``failed_login``, as the SPEC's example does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

import hyperscan

from console.config import LogsConfig
from console.models import Severity

__all__ = [
    "BUILTIN_RULES",
    "LineRewrite",
    "Rule",
    "RuleError",
    "RuleSet",
    "required_literals",
]


class RuleError(ValueError):
    """A rule that cannot be used (bad regex, or one that matches every line)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One auth-event rule.

    ``lowercase`` rules (the built-ins) are written in lower case and matched against the
    lowered line, which makes them case-insensitive without ``re.IGNORECASE``'s cost. Config
    patterns are taken as written, like ``grep -E``, unless they say ``(?i)`` themselves.
    """

    name: str
    severity: Severity
    pattern: str
    description: str = ""
    lowercase: bool = False


def _builtin(name: str, severity: Severity, description: str, *alternatives: str) -> Rule:
    return Rule(name, severity, "|".join(alternatives), description, lowercase=True)


_S = Severity
# Lower case only (they run on lowered text). Written so that every alternative carries a
# literal of a few words: that is what the prefilter scans for.
BUILTIN_RULES: tuple[Rule, ...] = (
    _builtin(
        "missing_secret", _S.CRITICAL, "a required secret or setting is absent at startup",
        r"(?:secret|key|token|password|credentials?|_id|_url|dsn)\w* (?:is |was )?"
        r"(?:not configured|not set)\b",
        r"(?:secret|key|token|password|credentials?|_id|_url|dsn)\w* (?:is )?"
        r"(?:missing|required)\b",
        r"runtimeerror:[^\n]{0,200}?\b(?:not configured|required|missing)\b",
        r"keyerror: '\w*(?:secret|key|token|password|_url)",
        r"startup (?:blocked|failed|aborted)",
        r"missing (?:required )?(?:secrets?|environment variables?|env vars?|"
        r"oauth credentials?|credentials?)\b",
    ),
    _builtin(
        "auth_service_refused", _S.ERROR, "the auth service cannot be reached",
        r"(?:auth[ _-]service|authservice|authentication service)[^\n]{0,120}?"
        r"(?:refused|unreachable|unavailable|failed|timed? ?out|error)",
    ),
    _builtin(
        "upstream_error", _S.ERROR, "a proxy cannot reach its upstream (nginx)",
        r"connect\(\) failed \(\d+: [^)\n]{1,40}\)",
        r"no live upstreams",
        r"upstream (?:timed out|prematurely closed|sent invalid|sent too big)",
        r"could not be resolved",
        r"host not found in upstream",
        r"while connecting to upstream",
    ),
    _builtin(
        "bad_gateway", _S.ERROR, "HTTP 502 answered by a proxy",
        r"\" 502 ", r"502 bad gateway",
    ),
    _builtin(
        "service_unavailable", _S.ERROR, "HTTP 503 / 504",
        r"\" 50[34] ", r"503 service unavailable", r"504 gateway time-?out",
    ),
    _builtin(
        "jwt_expired", _S.WARNING, "a JWT past its expiry",
        r"jwt expired", r"token expired", r"token has expired", r"expired (?:jwt|token)",
        r"signature has expired", r"expiredsignatureerror", r"tokenexpirederror",
    ),
    _builtin(
        "jwt_bad_signature", _S.ERROR, "a JWT signed with another secret (secret drift)",
        r"signature verification failed", r"invalid signature", r"invalidsignatureerror",
        r"bad signature", r"signature mismatch", r"invalid (?:jwt|token) signature",
    ),
    _builtin(
        "jwt_invalid", _S.WARNING, "a malformed or otherwise invalid JWT",
        r"invalid (?:jwt|token)", r"jwt invalid", r"jwt is invalid", r"jwt malformed",
        r"malformed (?:jwt|token)", r"invalidtokenerror", r"jsonwebtokenerror",
        r"could not validate credentials",
    ),
    _builtin(
        "failed_login", _S.WARNING, "a login attempt that failed",
        r"login (?:failed|failure|attempt failed|attempts failed)",
        r"failed (?:login|to log in|to login)",
        r"authentication (?:failed|failure)", r"invalid credentials",
        r"(?:invalid|incorrect|wrong) (?:username|email|user) or password",
        r"failed password for",
    ),
    _builtin(
        "password_mismatch", _S.WARNING, "a wrong password for a known user",
        r"password mismatch", r"password (?:does not|doesn't|did not) match",
        r"(?:invalid|incorrect|wrong|bad) password",
    ),
    _builtin(
        "user_not_found", _S.WARNING, "a login for a user that does not exist",
        r"user not found", r"unknown user", r"no such user",
        r"user (?:does not|doesn't) exist", r"invalid user \S+ from",
    ),
    _builtin(
        "http_401", _S.WARNING, "HTTP 401 Unauthorized",
        r"\" 401 ", r"401 unauthorized",
    ),
    _builtin(
        "http_403", _S.WARNING, "HTTP 403 Forbidden",
        r"\" 403 ", r"403 forbidden", r"access forbidden", r"\[auth\] forbidden",
    ),
    _builtin(
        "rate_limited", _S.WARNING, "HTTP 429 / rate limiting",
        r"\" 429 ", r"too many requests", r"rate limit(?=ed| exceeded| reached)",
        r"limiting requests, excess", r"too many (?:login attempts|failed attempts|attempts)",
    ),
    _builtin(
        "bcrypt_error", _S.ERROR, "password hashing failed (bcrypt)",
        r"bcrypt[^\n]{0,60}?(?:error|failed|invalid|exception)", r"invalid salt",
    ),
    _builtin(
        "oauth_error", _S.ERROR, "an OAuth flow failed",
        r"oauth[^\n]{0,80}?(?:error|failed|invalid|denied|mismatch|missing)",
        r"invalid_grant", r"invalid_client", r"unauthorized_client", r"access_denied",
        r"redirect_uri_mismatch",
    ),
    _builtin(
        "connection_refused", _S.ERROR, "a service refused a connection",
        r"connection refused", r"econnrefused", r"errno 111\b",
    ),
)


# --------------------------------------------------------------------------- literals

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
    return frozenset(best)


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
            low, high, inner = av  # type: ignore[misc]
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
        elif op is sre_c.RANGE and av[1] - av[0] < 4:  # type: ignore[index, operator]
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


class LiteralScanner:
    """Finds every literal of ``masks`` (value: its bit mask) in a block, in one pass.

    Hyperscan needs a scratch space per scan in progress. Reader threads share a scanner,
    so scratches are lent from a small pool, not kept per thread: a 50-server fleet has
    ~150 reader threads, and a scratch each (0.2 MB) came to 30 MB.
    """

    def __init__(self, masks: dict[str, int]) -> None:
        self._masks = list(masks.values())
        self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._database.compile(
            expressions=[lit.encode("utf-8", "surrogatepass") for lit in masks],
            ids=list(range(len(masks))), elements=len(masks), flags=0, literal=True)
        self._scratches: list[hyperscan.Scratch] = []

    def lines(self, lowered: str) -> dict[int, int]:
        """``{line index: literal bits}`` for the lines of ``lowered`` holding a literal."""
        data = lowered.encode("utf-8", "surrogatepass")
        found: list[tuple[int, int]] = []
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
        hits: dict[int, int] = {}
        masks, count = self._masks, data.count
        line = position = 0
        for end, id_ in sorted(found):  # a newline count from one hit to the next
            line += count(b"\n", position, end)
            position = end
            hits[line] = hits.get(line, 0) | masks[id_]
        return hits


@functools.lru_cache(maxsize=32)
def _shared_scanner(literals: tuple[tuple[str, int], ...]) -> LiteralScanner:
    """One compiled database per distinct set of literals: every server of a fleet with the
    same rules shares it (each costs ~0.3 MB; 50 servers made 14 MB of copies)."""
    return LiteralScanner(dict(literals))


def scan_literals(lowered: str, scanner: LiteralScanner | None) -> dict[int, int]:
    """``{line index: literal bits}`` of ``scanner`` over a ``\\n``-separated block."""
    return scanner.lines(lowered) if scanner is not None else {}


# --------------------------------------------------------------------------- rule sets


_Step = tuple[re.Pattern[str], bool, Rule]


@dataclass(frozen=True, slots=True)
class LineRewrite:
    """A change applied, before matching, to the lines containing one of ``triggers``
    (lower-case literals). The log pipeline uses it for redaction, so that finding secrets
    costs no scan of its own: the triggers ride along with the rules' literals."""

    triggers: tuple[str, ...]
    apply: Callable[[str], str]


class RuleSet:
    """Rules compiled once; ``match`` for one line, ``classify`` for a block of lines."""

    def __init__(self, rules: Iterable[Rule], rewrite: LineRewrite | None = None) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.rewrite = rewrite
        self._compiled = [_compile(rule) for rule in self.rules]
        literal_sets = [required_literals(rule.pattern) for rule in self.rules]
        self._rule_bits = (1 << len(self.rules)) - 1
        self._rewrite_bit = 1 << len(self.rules)
        if rewrite is not None:
            literal_sets.append(frozenset(rewrite.triggers))
        self.literals: dict[str, int] = literal_masks(literal_sets)
        self._scanner = (_shared_scanner(tuple(self.literals.items())) if self.literals
                         else None)
        self._loose_mask = 0  # rules with no literal: tried on every line
        for bit, lits in enumerate(literal_sets[:len(self.rules)]):
            if lits is None:
                self._loose_mask |= 1 << bit
        self._plans: dict[int, list[_Step]] = {}
        self._combined: dict[int, tuple[re.Pattern[str], dict[str, Rule]] | bool] = {}

    @classmethod
    def default(cls, rewrite: LineRewrite | None = None) -> RuleSet:
        return cls(BUILTIN_RULES, rewrite)

    @classmethod
    def from_config(cls, logs: LogsConfig, rewrite: LineRewrite | None = None) -> RuleSet:
        """Config rules first (they win ties), then the built-ins."""
        extra = [Rule(r.name, Severity.parse(r.severity), r.pattern) for r in logs.rules]
        return cls([*extra, *BUILTIN_RULES], rewrite)

    @property
    def unfiltered(self) -> tuple[Rule, ...]:
        """Rules searched on every line because no literal could be extracted."""
        return tuple(r for bit, r in enumerate(self.rules) if self._loose_mask >> bit & 1)

    def match(self, line: str) -> Rule | None:
        """The rule for one line, or None (no rewrite: the line is taken as given)."""
        lowered = line.lower()
        mask = self._loose_mask
        for bits in scan_literals(lowered, self._scanner).values():
            mask |= bits
        return self._best(mask & self._rule_bits, line, lowered)

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
        hits = scan_literals(lowered, self._scanner)
        if self._loose_mask:
            return self._classify_all(lines, lowered, hits)
        found: list[tuple[int, Rule]] = []
        for index in sorted(hits):
            rule = self._line(hits[index], lines, index, lines[index].lower())
            if rule is not None:
                found.append((index, rule))
        return found

    def classify_lines(self, lines: list[str]) -> list[tuple[int, Rule]]:
        """``classify`` for a list of lines (rewritten in place)."""
        return self.classify("\n".join(lines), lines) if lines else []

    def _classify_all(self, lines: Sequence[str], lowered: str,
                      hits: dict[int, int]) -> list[tuple[int, Rule]]:
        """The slow path when some rule has no literal: every line is looked at."""
        found: list[tuple[int, Rule]] = []
        start = 0
        for index, line in enumerate(lines):
            end = start + len(line)
            low_line = lowered[start:end]
            mask = hits.get(index, 0) | self._loose_mask
            rule = self._line(mask, lines, index, low_line)
            if rule is not None:
                found.append((index, rule))
            start = end + 1
        return found

    def _line(self, mask: int, lines: Sequence[str], index: int, low_line: str) -> Rule | None:
        line = lines[index]
        if mask & self._rewrite_bit and self.rewrite is not None:
            changed = self.rewrite.apply(line)
            if changed != line:
                lines[index] = line = changed  # type: ignore[index]
                low_line = changed.lower()
        return self._best(mask & self._rule_bits, line, low_line)

    def _best(self, mask: int, line: str, low_line: str) -> Rule | None:
        """Earliest match among the rules in ``mask``; ties go to the rule listed first."""
        if not mask:
            return None
        combined = self._combined.get(mask)
        if combined is None:
            combined = self._combined[mask] = self._combine(mask)
        if combined is not False:
            regex, by_group = combined  # type: ignore[misc]
            m = regex.search(low_line)
            return by_group[m.lastgroup] if m is not None else None
        best: Rule | None = None
        best_at = -1
        for regex, lowercase, rule in self._plan(mask):
            m = regex.search(low_line if lowercase else line)
            if m is not None and (best is None or m.start() < best_at):
                best, best_at = rule, m.start()
                if best_at == 0:
                    break
        return best

    def _combine(self, mask: int) -> tuple[re.Pattern[str], dict[str, Rule]] | bool:
        """One regex for several lower-case rules: ``(?P<r0>rule a)|(?P<r1>rule b)``.

        An alternation reports the earliest position where any branch matches, and at one
        position the first branch listed: exactly ``_best``'s rule, in one search of the
        line instead of one per rule. False (search rule by rule) when a rule in ``mask``
        is matched on the original line or its pattern cannot be embedded.
        """
        plan = self._plan(mask)
        if len(plan) < 2 or not all(lowercase for _, lowercase, _ in plan):
            return False
        by_group = {f"r{i}": rule for i, (_, _, rule) in enumerate(plan)}
        try:
            regex = re.compile("|".join(f"(?P<r{i}>{rule.pattern})"
                                        for i, (_, _, rule) in enumerate(plan)))
        except re.error:
            return False
        return regex, by_group

    def _plan(self, mask: int) -> list[_Step]:
        plan = self._plans.get(mask)
        if plan is None:
            plan = [(self._compiled[bit], rule.lowercase, rule)
                    for bit, rule in enumerate(self.rules) if mask >> bit & 1]
            self._plans[mask] = plan
        return plan


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
