"""Auth-event rules: the incidents' phrasings, config rules, and the one-pass classifier."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.config import LogRuleConfig, LogsConfig
from console.engine import rules as rules_mod
from console.engine.rules import (
    BUILTIN_RULES,
    LineRewrite,
    Rule,
    RuleError,
    RuleSet,
    literal_masks,
    required_literals,
    translate,
)
from console.engine.rules.scanner import Scanner, literal_expression
from console.models import Severity

# (line, rule) - phrasings from shared/incidents/*, the lab backend and nginx.
INCIDENT_LINES = [
    ("2026-11-24T11:42:47.391Z WARNING [AUTH] Login failed: invalid password for "
     "admin@example.com", "failed_login"),
    ("[AUTH] Login failed: User not found - ghost@example.com", "failed_login"),
    ("[AUTH] Login failed: Password mismatch for a@b.c. Hash length: 60", "failed_login"),
    ("Password mismatch for a@b.c", "failed_login"),
    ("user not found: x@y", "failed_login"),
    ("Invalid user admin from 203.0.113.9 port 22", "ssh_auth_failed"),
    ("Failed password for root from 203.0.113.9 port 22 ssh2", "ssh_auth_failed"),
    ("All 3 login attempts failed", "failed_login"),
    ("[AUTH] JWT expired: Signature has expired", "jwt_expired"),
    ("[AUTH] JWT expired (sub=1, expired 5s ago)", "jwt_expired"),
    ("jwt.exceptions.ExpiredSignatureError: Signature has expired", "jwt_expired"),
    ("[AUTH] JWT invalid: Not enough segments", "jwt_invalid"),
    ("[AUTH] Invalid token signature", "jwt_bad_signature"),
    ("jwt.exceptions.InvalidSignatureError: Signature verification failed",
     "jwt_bad_signature"),
    ('172.19.0.3 "POST /api/v1/auth/login HTTP/1.0" 401 33 8.6ms', "http_401"),
    ('1.2.3.4 - - [24/Nov/2026:11:46:39 +0000] "GET /admin HTTP/1.1" 403 10 "-" "curl"',
     "http_403"),
    ("[AUTH] Forbidden: viewer@example.com lacks role admin for /api/v1/admin/users",
     "http_403"),
    ('172.19.0.1 - - [24/Nov/2026:11:46:39 +0000] "GET /health HTTP/1.1" 502 157 "-" '
     '"curl/7.88.1" backend=- backend_status=- rt=0.001', "upstream_error"),
    ("Request failed with status code 502 Bad Gateway", "upstream_error"),
    ("2026/11/24 11:46:39 [error] 7#7: *36 backend could not be resolved (3: Host not "
     'found), client: 172.19.0.1, server: _, request: "GET /health HTTP/1.1"',
     "upstream_error"),
    ("2024/12/05 03:35:00 [error] 29#29: *1 connect() failed (111: Connection refused) "
     "while connecting to upstream, client: 1.2.3.4", "upstream_error"),
    ("[error] 7#7: *3 no live upstreams while connecting to upstream", "upstream_error"),
    ("RuntimeError: JWT_SECRET not configured", "secret_missing"),
    ("RuntimeError: CRITICAL: ADMIN_PRIVATE_KEY not configured. JWT tokens cannot be "
     "created", "secret_missing"),
    ('raise RuntimeError("ADMIN_PRIVATE_KEY required")', "secret_missing"),
    ("STARTUP FAILED: CRITICAL: Production startup BLOCKED", "secret_missing"),
    ("[CONFIG] SERVICE_SECRET is not set; internal service calls will be rejected",
     "secret_missing"),
    ("KeyError: 'JWT_SECRET'", "secret_missing"),
    ("Missing OAuth credential: GOOGLE_OAUTH_CLIENT_ID", "secret_missing"),
    ("Authentication service communication failed: Connection refused",
     "auth_service_unreachable"),
    ("Auth service connectivity test failed", "auth_service_unreachable"),
    ('"POST /api/v1/auth/login HTTP/1.1" 429 12', "rate_limited"),
    ("429 Too Many Requests", "rate_limited"),
    ("[AUTH] bcrypt.checkpw failed: Invalid salt. Hash starts with: $2b$12",
     "password_hash_error"),
    ("oauth callback error: invalid_grant", "oauth_error"),
    ("httpx.ConnectError: [Errno 111] Connection refused", "upstream_error"),
    ('"GET /health HTTP/1.1" 503 46', "upstream_error"),
]

BENIGN = [
    'INFO:     172.18.0.5:5555 - "GET /api/v1/auth/login HTTP/1.1" 200 OK',
    "2026-11-24 11:31:00,001 INFO app.services.contacts: fetched 12 contacts",
    "[AUTH] Login succeeded for admin@example.com",
    "crm backend 1.4.2 starting",
    "[DB] connected to /data/crm.db (schema version 1)",
    "job 12 failed to run",  # "failed" alone is not an auth event
    "",
]


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return RuleSet.default()


@pytest.mark.parametrize(("line", "expected"), INCIDENT_LINES)
def test_incident_phrasings_are_labelled(ruleset: RuleSet, line: str, expected: str) -> None:
    rule = ruleset.match(line)
    assert rule is not None, line
    assert rule.name == expected


@pytest.mark.parametrize("line", BENIGN)
def test_ordinary_lines_are_not_events(ruleset: RuleSet, line: str) -> None:
    assert ruleset.match(line) is None


def test_every_builtin_has_a_name_severity_and_literals() -> None:
    names = [r.name for r in BUILTIN_RULES]
    assert len(names) == len(set(names))
    for rule in BUILTIN_RULES:
        assert isinstance(rule.severity, Severity)
        assert required_literals(rule.pattern), f"{rule.name} would be tried on every line"
    assert RuleSet.default().unfiltered == ()


def test_case_does_not_matter_for_builtins(ruleset: RuleSet) -> None:
    assert ruleset.match("LOGIN FAILED for bob").name == "failed_login"  # type: ignore[union-attr]
    assert ruleset.match("Jwt Expired").name == "jwt_expired"  # type: ignore[union-attr]


def test_earliest_phrase_wins_then_rule_order(ruleset: RuleSet) -> None:
    line = "[AUTH] Login failed: Password mismatch"
    assert ruleset.match(line).name == "failed_login"  # type: ignore[union-attr]
    assert ruleset.match("JWT expired, login failed").name == "jwt_expired"  # type: ignore[union-attr]
    assert ruleset.match("Login failed: invalid JWT").name == "failed_login"  # type: ignore[union-attr]
    assert ruleset.match("Login failed: JWT expired").name == "jwt_expired"  # a cause: lower tier  # type: ignore[union-attr]


def test_config_rules_are_added_and_win_ties() -> None:
    logs = LogsConfig(rules=(
        LogRuleConfig("rate limited", "429 Too Many Requests", "error"),
        LogRuleConfig("deploy", r"^DEPLOY \d+", "info"),
        LogRuleConfig("digits", r"\d{5}!", "critical"),  # no literal: Hyperscan has it whole
        LogRuleConfig("echo", r"(\w)\1\1!", "info"),  # a back-reference, no literal: re
    ))
    rs = RuleSet.from_config(logs)
    assert rs.match("429 Too Many Requests").name == "rate limited"  # type: ignore[union-attr]
    assert rs.match("429 too many requests").name == "rate_limited"  # type: ignore[union-attr]
    assert rs.match("DEPLOY 42 done").severity is Severity.INFO  # type: ignore[union-attr]
    assert rs.match("x DEPLOY 42") is None
    assert [r.name for r in rs.unfiltered] == ["echo"]
    assert [r.name for r, _ in rs.fallbacks] == ["echo"]
    assert "'echo' is matched with Python's re" in rs.notes[0] and "back-reference" in rs.notes[0]
    lines = ["nothing", "12345! boom", "JWT expired", "DEPLOY 7", "zzz! x", "aaa! 99999!"]
    got = [(i, r.name) for i, r in rs.classify("\n".join(lines))]
    assert got == [(1, "digits"), (2, "jwt_expired"), (3, "deploy"), (4, "echo"), (5, "echo")]


@pytest.mark.parametrize("pattern", ["(", "a*", "x?|y?"])
def test_unusable_config_rules_are_refused(pattern: str) -> None:
    with pytest.raises(RuleError):
        RuleSet.from_config(LogsConfig(rules=(LogRuleConfig("bad", pattern, "info"),)))


def test_lowercase_rules_must_be_lowercase() -> None:
    with pytest.raises(RuleError):
        RuleSet([Rule("x", Severity.INFO, "Login", lowercase=True)])


def test_required_literals() -> None:
    assert required_literals("429 Too Many Requests") == {"429 too many requests"}
    assert required_literals(r"[Ff]oo(bar|baz)qux") == {"foobarqux", "foobazqux"}
    assert required_literals(r"\d+ errors") == {" errors"}
    assert required_literals(r"\d+") is None
    assert required_literals(r"ab|cd") is None  # too short to filter anything


def test_one_scan_gives_each_line_its_candidate_rules() -> None:
    masks = literal_masks([frozenset({"invalid password", "wrong password"}),
                           frozenset({"password mismatch", "invalid password"}),
                           frozenset({"upstream x"}), None])
    assert masks == {"invalid password": 0b011, "wrong password": 0b001,
                     "password mismatch": 0b010, "upstream x": 0b100}
    # rules Hyperscan cannot take (a look-ahead, a back-reference): re, behind their literals
    rs = RuleSet([Rule("a", Severity.INFO, r"(?:wrong|invalid) password(?!s)"),
                  Rule("b", Severity.INFO, r"(?:password mismatch|invalid password)(?!s)"),
                  Rule("c", Severity.INFO, r"upstream x(?!s)"),
                  Rule("d", Severity.INFO, r"(\d)\1")])
    assert rs.literals == masks
    block = ("a wrong password\nquiet line\ncaf\u00e9 \u2603 upstream x, password mismatch\n"
             "invalid password")
    data = block.encode()
    assert rs._low is not None
    _, _, hits, _ = rs._read_scan(data, rs._low.scan(data))
    assert hits == {0: 0b001, 2: 0b110, 3: 0b011}  # line indexes, past non-ASCII text
    assert [(i, r.name) for i, r in rs.classify(block)] == [(0, "a"), (2, "c"), (3, "a")]


def test_a_literal_scan_reports_every_occurrence_by_line() -> None:
    scanner = Scanner([literal_expression("x.y"), literal_expression("\u00e9")], [0, 0])
    data = "x.y\nxzy \u00e9\n\u00e9x.y".encode()
    assert scanner.scan(data) == [(3, 0), (10, 1), (13, 1), (16, 0)]


def _reference(rs: RuleSet, line: str) -> str | None:
    """Every rule on the line: the lowest tier, then the earliest match, then the first rule."""
    best: tuple[int, int, int, str] | None = None
    for order, rule in enumerate(rs.rules):
        m = re.search(rule.pattern, line.lower() if rule.lowercase else line)
        if m is not None and (best is None or (rule.tier, m.start(), order) < best[:3]):
            best = (rule.tier, m.start(), order, rule.name)
    return best[3] if best else None


_PIECES = [p for line, _ in INCIDENT_LINES for p in line.split()] + [
    "INFO", "GET", "/api", "ok", "200", "\x1b[2J", "[bold]", "İ", "ß", "\t"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=8).map(" ".join), max_size=30))
def test_block_classification_equals_rule_by_rule(lines: list[str]) -> None:
    rs = RuleSet.default()
    block = "\n".join(lines)
    got = {i: r.name for i, r in rs.classify(block)}
    want = {i: name for i, line in enumerate(block.split("\n"))
            if (name := _reference(rs, line)) is not None}
    assert got == want


def test_one_pass_only_candidate_lines_are_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = RuleSet._best

    def counting(self: RuleSet, mask: int, line: str, low: str):  # type: ignore[no-untyped-def]
        calls.append(bin(mask).count("1"))
        return original(self, mask, line, low)

    monkeypatch.setattr(RuleSet, "_best", counting)
    benign = [f"INFO GET /api/v1/items?page={i} 200 OK" for i in range(1000)]
    mixed = benign[:10] + ["[AUTH] JWT expired"] + benign[10:20]
    rs = RuleSet.default()  # every built-in rule is in Hyperscan: no Python regex at all
    assert rs.classify("\n".join(benign)) == []
    found = rs.classify("\n".join(mixed))
    assert [(i, r.name) for i, r in found] == [(10, "jwt_expired")]
    assert calls == []
    # a config rule left to re runs only on the lines holding its literal ("jwt ")
    rs = RuleSet.from_config(LogsConfig(rules=(LogRuleConfig("echo", r"(jwt) \1", "info"),)))
    found = rs.classify("\n".join([*mixed, "[AUTH] jwt jwt"]))
    assert [(i, r.name) for i, r in found] == [(10, "jwt_expired"), (21, "echo")]
    assert calls == [1, 1]  # two lines, only the one rule their literals announce


def test_rewrite_runs_on_triggered_lines_before_matching() -> None:
    seen: list[str] = []

    def scrub(line: str) -> str:
        seen.append(line)
        return line.replace("hunter2", "[redacted]")

    rs = RuleSet.default(rewrite=LineRewrite(("password=",), scrub))
    lines = ["password=hunter2 Login failed", "plain", "JWT expired"]
    found = rs.classify_lines(lines)
    assert lines[0] == "password=[redacted] Login failed"
    assert seen == ["password=hunter2 Login failed"]
    assert [(i, r.name) for i, r in found] == [(0, "failed_login"), (2, "jwt_expired")]


def test_module_does_not_import_ui() -> None:
    assert "textual" not in repr(vars(rules_mod).keys())


def test_one_rule_set_classifies_from_many_threads_at_once() -> None:
    """Reader threads of one server share its RuleSet, and so its Hyperscan database: each
    scan needs scratch space of its own, or Hyperscan refuses ("scratch in use")."""
    from concurrent.futures import ThreadPoolExecutor

    rs = RuleSet.default()
    block = [f"line {i} [AUTH] Login failed: invalid password for u{i}" if i % 3 else
             f"GET /api/{i} 200" for i in range(3000)]
    expected = [(i, r.name) for i, r in rs.classify_lines(list(block))]

    def classify(_: int) -> list[tuple[int, str]]:
        return [(i, r.name) for i, r in rs.classify_lines(list(block))]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(classify, range(64)))
    assert all(result == expected for result in results)
    assert len(expected) == 2000


# --------------------------------------------------------------------------- Hyperscan


def test_known_misses_and_relabels() -> None:
    """The lines a new user found missed or mislabelled, each a product's own message."""
    rs = RuleSet.default()
    cases = [
        ('12:00:01,234 WARN  [org.keycloak.events] (executor-thread-1) type="LOGIN_ERROR", '
         'realmId="master", clientId="account", userId="null", ipAddress="10.0.0.1", '
         'error="user_not_found", auth_method="openid-connect"', "failed_login"),
        ("type=LOGIN_ERROR, realmId=demo, clientId=app, userId=null, ipAddress=10.0.0.1, "
         "error=user_not_found, username=ghost", "failed_login"),
        ("WARNING 2024-05-01 12:00:00,000 log 42 140 Unauthorized: /api/token/", "http_401"),
        ("Error: secretOrPrivateKey must have a value", "secret_missing"),
        ("POST /api/login 401 12.345 ms - 26", "http_401"),
        ("o.s.s.a.dao.DaoAuthenticationProvider : Failed to authenticate since password does "
         "not match stored value", "failed_login"),
    ]
    assert [(line, getattr(rs.match(line), "name", None)) for line, _ in cases] == cases


def test_the_docstring_table_lists_every_builtin_rule() -> None:
    table = [row.split()[:2] for row in (rules_mod.__doc__ or "").splitlines()
             if re.match(r"[a-z_0-9]+ +(?:info|warning|error|critical) ", row)]
    assert table == [[r.name, r.severity.label] for r in BUILTIN_RULES]
    assert all(rule.products for rule in BUILTIN_RULES)


def test_every_builtin_is_matched_by_hyperscan() -> None:
    rs = RuleSet.default()
    assert rs.fallbacks == () and rs.notes == () and rs.literals == {}


def test_case_folding_table_is_pythons() -> None:
    """Which non-ASCII characters ``(?i)`` equates with an ASCII letter, from re itself."""
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    found = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        extra = sorted(ord(c) for c in set(re.findall("(?i)" + letter, everything))
                       if not c.isascii())
        if extra:
            found[letter] = tuple(extra)
    assert found == translate.CASE_EXTRAS


def test_case_insensitive_literals_require_none_of_the_folded_letters() -> None:
    assert required_literals("(?i)Login failed") is None  # "ı" or "İ" would match the i
    assert required_literals("(?i)upper BOUND") == {"upper bound"}
    assert required_literals("Login failed") == {"login failed"}


_ALPHABET = "abkKsSiI\u212a\u017f\u0130\u0131\u00e9\u0663 9_-.:!\u00a0\x1c\t"
_ATOMS = [*"abksi9 ", "K", "S", "I", "\u00e9", r"\.", "-", ":", ".", r"\d", r"\D", r"\s", r"\S",
          r"\w", r"\W", "[a-c]", "[^a ]", r"[\d\s]", "[K-S]", "^", "$", r"(?a:\b)", r"(?a:\B)",
          r"\b", r"(?=a)", "(?i:s)", "(?-i:k)"]


@st.composite
def _patterns(draw: st.DrawFn) -> str:
    def piece(depth: int) -> str:
        kind = draw(st.integers(0, 5 if depth < 2 else 2))
        if kind <= 2:
            return draw(st.sampled_from(_ATOMS))
        if kind == 3:
            return "(?:" + "|".join(piece(depth + 1) for _ in range(draw(st.integers(1, 3)))) + ")"
        if kind == 4:
            return "(" + "".join(piece(depth + 1) for _ in range(draw(st.integers(1, 3)))) + ")"
        return piece(depth + 1) + draw(st.sampled_from(["*", "+", "?", "{1,3}", "{2}", "*?"]))
    body = "".join(piece(0) for _ in range(draw(st.integers(1, 4))))
    return draw(st.sampled_from(["", "(?i)", "(?a)"])) + body


@settings(max_examples=120, deadline=None)
@given(_patterns(), _patterns(), st.lists(st.text(_ALPHABET, max_size=12), min_size=1,
                                          max_size=6))
def test_config_rules_in_hyperscan_match_exactly_as_re(first: str, second: str,
                                                       lines: list[str]) -> None:
    """Two config rules over some lines: the label of every line (which rule, if any,
    matches earliest, ties to the first) is what Python's re gives, whichever engine ran."""
    rules = [Rule("one", Severity.INFO, first), Rule("two", Severity.INFO, second)]
    try:
        rs = RuleSet(rules)
    except RuleError:
        return  # an invalid pattern, or one that matches the empty line: refused
    block = "\n".join(lines)
    got = {i: r.name for i, r in rs.classify(block)}
    assert got == {i: name for i, line in enumerate(block.split("\n"))
                   if (name := _reference(rs, line)) is not None}


@pytest.mark.parametrize(("pattern", "engine"), [
    (r"(?i)login FAILED for \w+", "hyperscan"), (r"\d{3} \S+ \s*$", "hyperscan"),
    (r"(?a)\bdenied\b", "hyperscan"), (r"[^\W\d]+ locked", "hyperscan"),
    (r"\bdenied\b", "re"), (r"denied(?= for)", "re"), (r"(a)\1", "re"),
    (r"(?>ab|a)c", "re"), (r"a++b", "re"), (r"(?i)\u00c9chec", "re"), ("a\nb", "re"),
])
def test_which_config_rules_fall_back_to_re(pattern: str, engine: str) -> None:
    rs = RuleSet([Rule("r", Severity.INFO, pattern)])
    assert ("re" if rs.fallbacks else "hyperscan") == engine


def test_config_can_disable_replace_or_reseverity_a_builtin() -> None:
    logs = LogsConfig(rules=(
        LogRuleConfig("http_403", None, disabled=True),
        LogRuleConfig("jwt_expired", None, "critical"),
        LogRuleConfig("failed_login", r"LOGIN REFUSED", "error"),
    ))
    rs = RuleSet.from_config(logs)
    names = [r.name for r in rs.rules]
    assert "http_403" not in names and names.count("failed_login") == 1
    assert names[0] == "failed_login"  # a replacement is a config rule: first
    assert rs.match('"GET /admin HTTP/1.1" 403 10') is None
    assert rs.match("JWT expired").severity is Severity.CRITICAL  # type: ignore[union-attr]
    assert rs.match("[AUTH] Login failed: bad password") is None  # the built-in is gone
    assert rs.match("LOGIN REFUSED u1").severity is Severity.ERROR  # type: ignore[union-attr]
    with pytest.raises(RuleError, match="secret_missing"):
        RuleSet.from_config(LogsConfig(rules=(LogRuleConfig("missing_secret", None,
                                                            disabled=True),)))
