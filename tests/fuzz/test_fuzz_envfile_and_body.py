"""Hostile .env files and HTTP bodies: parsed and shown without a raw escape reaching the
terminal, without raising, and (for .env) without a value leaking into anything shown.

tests/unit/test_envfile.py already fuzzes the parser for "only our error, never a value";
this adds the display property: every name the parser yields, every issue, the repr and
the strict-mode error, rendered the way the secrets pane renders names, hold no raw control
character. For health probes, the detail view (``detail_sections``) renders arbitrary body
bytes, header names and values, reasons and URLs; all of it must come out literal.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.engine.envfile import EnvParseError, parse_env
from console.engine.health import EndpointState
from console.models import HealthResult
from console.ui.safe_text import safe
from console.ui.screens.health_detail import detail_sections
from tests.fuzz.render import HOSTILE, raw_controls, rendered_text

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
hostile = st.one_of(st.text(max_size=60), st.sampled_from(HOSTILE),
                    st.lists(st.sampled_from(HOSTILE), max_size=4).map("".join))
env_line = st.one_of(
    st.tuples(st.sampled_from(["", "export ", " ", "\t"]),
              st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
                        hostile),
              st.sampled_from(["=", " = ", "=\"", "='", "="]), hostile,
              st.sampled_from(["", "\"", "'", " # c", "\\"]))
    .map("".join),
    hostile,
)


@FUZZ
@given(st.lists(env_line, max_size=10), st.sampled_from(["\n", "\r\n", "\r"]),
       st.binary(max_size=40))
def test_env_names_issues_and_errors_are_printable(lines: list[str], sep: str,
                                                   junk: bytes) -> None:
    data = sep.join(lines).encode("utf-8", "surrogatepass") + junk
    env = parse_env(data, "/srv/crm/.env")
    for name in env:
        assert raw_controls(name, allow_newline=False) == [], repr(name)
        assert raw_controls(rendered_text(safe(name)), allow_newline=False) == []
    for name in env.unresolved:
        assert raw_controls(name, allow_newline=False) == [], repr(name)
    for shown in (repr(env), str(env), *(str(issue) for issue in env.issues)):
        assert raw_controls(shown, allow_newline=False) == [], repr(shown)
    try:
        parse_env(data, "/srv/crm/.env", strict=True)
    except EnvParseError as exc:
        assert raw_controls(str(exc), allow_newline=False) == [], repr(str(exc))


@FUZZ
@given(st.binary(max_size=600), st.lists(st.tuples(hostile, hostile), max_size=4),
       hostile, hostile, hostile, st.one_of(st.none(), st.integers(100, 599)))
def test_health_detail_shows_any_answer_literally(body: bytes, headers: list, reason: str,
                                                  url: str, name: str,
                                                  status: int | None) -> None:
    result = HealthResult(server=name, name=name, url=url, ok=False, klass="body_mismatch",
                          reason=reason, status=status, latency_ms=1.0,
                          checked_at=datetime.now(UTC), headers=tuple(headers),
                          body_preview=body)
    state = EndpointState(server=name, name=name, url=url, from_="console",
                          discovered=False, result=result)
    for _section, text in detail_sections(state, now=datetime.now(UTC)):
        assert raw_controls(rendered_text(text, width=90)) == [], repr(text.plain[:200])
