"""Redaction in the log pipeline: exactly as strong with the Hyperscan prefilter as without.

The pipeline used to run ``redact_line`` on every line holding a trigger literal; it now
also asks, for an ASCII line, that one of ``redact.PREFILTER`` match. These tests hold the
pipeline to the old rule line for line: ``redact_line(line)`` when a trigger occurs, the
line untouched otherwise.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.engine.redact import PREFILTER, TRIGGERS, redact_line
from console.engine.rules import LineRewrite, RuleSet


def _pipeline() -> RuleSet:
    return RuleSet.default(LineRewrite(TRIGGERS, redact_line, PREFILTER))


def _as_before(line: str) -> str:
    """What the pipeline did before the prefilter: every trigger line through redact_line."""
    low = line.lower()
    return redact_line(line) if any(t in low for t in TRIGGERS) else line


def _through(lines: list[str]) -> list[str]:
    out = list(lines)
    _pipeline().classify_lines(out)
    return out


_PIECES = [
    "password", "Password", "PASSWD", "pwd", "secret", "JWT_SECRET", "token", "api_key",
    "X-Api-Key", "private-key", "credential", "cookie", "Set-Cookie", "Authorization",
    "Proxy-Authorization", "Bearer", "basic", "Basic", "eyJhbGciOiJIUzI1NiJ9",
    "eyJzdWIiOiIxIn0", "c2lnbmF0dXJl", ".", "=", ":", ": ", " = ", '"', "'", "://", "@",
    "postgres://app:pw@db/crm", "hunter2", "abcdefghijklmnop", "dGVzdDp0ZXN0", "\u017fecret",
    "\u212a", "\u0130", "\u00e9", "\t", "\x1c", " ", ",", ";", "&", "?", "/", "{", "}", "x-",
    "-key", "tok", "en", "Login failed:", "invalid", "for", "u1@example.com",
    'missing "=" after "', '" in connection info string', "postgres//crm:pw@db", "/", "sha256:",
    "PASSWORD '", "IDENTIFIED BY ", "identified", "AKIAIOSFODNN7EXAMPLE", "ASIA",
    "AWS Secret Access Key [None]:", "secret access key", "0123456789ABCDEF",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=10).map("".join), min_size=1,
                max_size=20))
def test_the_prefilter_changes_nothing(lines: list[str]) -> None:
    assert _through(lines) == [_as_before(line) for line in lines]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=10).map(" ".join), min_size=1,
                max_size=20))
def test_the_prefilter_changes_nothing_with_spaces(lines: list[str]) -> None:
    assert _through(lines) == [_as_before(line) for line in lines]


def test_an_auth_line_without_a_secret_skips_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stress flood's line has a trigger ("pass") and no secret: redact_line does not
    run on it at all, which is where the flood's time went."""
    calls: list[str] = []

    def counting(line: str) -> str:
        calls.append(line)
        return redact_line(line)

    rs = RuleSet.default(LineRewrite(TRIGGERS, counting, PREFILTER))
    lines = [f"flood line {i}/100 tag=bench [AUTH] Login failed: invalid password for u{i}@x.io"
             for i in range(100)] + ["Login failed: password=hunter2", "caf\u00e9 password spoken"]
    found = rs.classify_lines(lines)
    assert len(found) == 101 and lines[100] == "Login failed: password=[redacted]"
    # the non-ASCII line goes through redact_line on its trigger alone, as before
    assert calls == ["Login failed: password=hunter2", "caf\u00e9 password spoken"]


def test_every_prefilter_pattern_is_lower_case_ascii() -> None:
    for pattern in PREFILTER:
        letters = re.sub(r"\\.", "", pattern)
        assert pattern.isascii() and letters.lower() == letters, pattern
