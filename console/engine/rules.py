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

1. **One scan per literal, over the whole block.** From each rule's parsed pattern the set
   of literals that every match must contain is extracted (``" 401 "``, ``"login failed"``,
   ``"upstream"``...). The block is lowered once and each literal is found with ``str.find``
   (C, gigabytes a second). A line containing none of a rule's literals cannot match that
   rule, so this prefilter is sound: it only decides which lines to look at, and which
   rules to try there.
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

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from re import _constants as sre_c  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

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


# Words that auth-event phrases share and ordinary log lines rarely contain. Literals
# containing one are scanned for as that word: fewer scans of the block, and the lines it
# adds are cheap to reject. Common words (service, request, login: a URL path) are not here.
MERGE_WORDS = (
    "password", "signature", "upstream", "expired", "invalid", "failed", "failure",
    "forbidden", "unauthorized", "bcrypt", "oauth", "refused", "credential", "malformed",
    "mismatch", "configured", "jwt", "gateway", "unavailable", "too many ", '" 4', '" 50',
    "startup ", "could not ", "user doe", "user not",
)


def plan_literals(per_rule: Sequence[frozenset[str] | None],
                  merge_words: Sequence[str] = MERGE_WORDS) -> dict[str, int]:
    """The literals to scan for, each with the bit mask of the rules it may announce.

    A literal containing a shorter one is dropped (its lines are a subset) and its rules go
    to the shorter one; the same for a literal containing one of ``merge_words``. Both keep
    the prefilter sound: a line containing a literal contains each of its substrings.
    """
    masks: dict[str, int] = {}
    for bit, literals in enumerate(per_rule):
        for lit in literals or ():
            masks[lit] = masks.get(lit, 0) | (1 << bit)
    for word in merge_words:
        covered = [lit for lit in masks if word in lit]
        if len(covered) >= 2:
            merged = 0
            for lit in covered:
                merged |= masks.pop(lit)
            masks[word] = merged
    return _absorb(masks)


def _absorb(masks: dict[str, int]) -> dict[str, int]:
    kept: dict[str, int] = {}
    for lit in sorted(masks, key=lambda s: (len(s), s)):
        inner = next((k for k in kept if k in lit), None)
        if inner is None:
            kept[lit] = masks[lit]
        else:
            kept[inner] |= masks[lit]
    return kept


def scan_literals(lowered: str, masks: dict[str, int]) -> dict[int, int]:
    """``{line start offset: rule mask}`` for the lines of ``lowered`` containing a literal.

    ``str.find`` runs in C; after a hit the search resumes at the next line, so a line full
    of hits costs one step per literal.
    """
    hits: dict[int, int] = {}
    find = lowered.find
    rfind = lowered.rfind
    for lit, mask in masks.items():
        pos = find(lit)
        while pos >= 0:
            start = rfind("\n", 0, pos) + 1
            hits[start] = hits.get(start, 0) | mask
            end = find("\n", pos)
            if end < 0:
                break
            pos = find(lit, end + 1)
    return hits


def _scan_plan(per_rule: Sequence[frozenset[str] | None], plan: dict[str, int]
               ) -> tuple[dict[str, int], list[int], list[_Expansions | None]]:
    """The scan as literal bits: ``{literal: 1 << i}``, each literal's rule mask, and for a
    literal standing for longer ones (merged or absorbed), those literals with their rule
    masks, to be tested on the few lines where it was found."""
    exact: dict[str, int] = {}
    for bit, literals in enumerate(per_rule):
        for lit in literals or ():
            exact[lit] = exact.get(lit, 0) | (1 << bit)
    scan: dict[str, int] = {}
    masks: list[int] = []
    expand: list[_Expansions | None] = []
    for i, (word, mask) in enumerate(plan.items()):
        scan[word] = 1 << i
        masks.append(mask)
        covered = [(lit, m) for lit, m in exact.items() if word in lit]
        trivial = len(covered) == 1 and covered[0] == (word, mask)
        if trivial or not covered:
            expand.append(None)
            continue
        by_rules: dict[int, list[str]] = {}
        for lit, m in covered:
            by_rules.setdefault(m, []).append(lit)
        expand.append([(m, tuple(lits)) for m, lits in by_rules.items()])
    return scan, masks, expand


# --------------------------------------------------------------------------- rule sets


_Step = tuple[re.Pattern[str], bool, Rule]
_Expansions = list[tuple[int, tuple[str, ...]]]


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
        self.literals: dict[str, int] = plan_literals(literal_sets)
        self._scan, self._scan_masks, expand = _scan_plan(literal_sets, self.literals)
        # flattened to (literal, rules) pairs: one loop per scan literal, not two
        self._scan_expand: list[tuple[tuple[str, int], ...] | None] = [
            None if groups is None else tuple((lit, rules) for rules, lits in groups
                                              for lit in lits)
            for groups in expand]
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
        bits = 0
        for lit, bit in self._scan.items():
            if lit in lowered:
                bits |= bit
        mask = self._rule_mask(bits, lowered) | self._loose_mask
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
        hits = scan_literals(lowered, self._scan)
        if self._loose_mask:
            return self._classify_all(lines, lowered, hits)
        found: list[tuple[int, Rule]] = []
        count = lowered.count
        find = lowered.find
        index = 0
        previous = 0
        for start in sorted(hits):
            index += count("\n", previous, start)
            previous = start
            end = find("\n", start)
            low_line = lowered[start:end] if end >= 0 else lowered[start:]
            rule = self._line(self._rule_mask(hits[start], low_line), lines, index, low_line)
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
            mask = self._rule_mask(hits.get(start, 0), low_line) | self._loose_mask
            rule = self._line(mask, lines, index, low_line)
            if rule is not None:
                found.append((index, rule))
            start = end + 1
        return found

    def _rule_mask(self, bits: int, low_line: str) -> int:
        """The rules a line may match, from the scan literals found in it: a literal that
        stands for several (a shared word) is resolved by testing those on the line."""
        mask = 0
        masks = self._scan_masks
        expand = self._scan_expand
        while bits:
            low = bits & -bits
            bits ^= low
            i = low.bit_length() - 1
            expansions = expand[i]
            if expansions is None:
                mask |= masks[i]
                continue
            for literal, rules in expansions:
                # only when some of these rules are not announced yet
                if rules & ~mask and literal in low_line:
                    mask |= rules
        return mask

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
