"""Hostile text through ``safe()`` and the log pane's row renderer: literal, never control.

``safe()`` is the one door for server-sent text; the logs pane draws each row itself through
the Line API (``LogView.format`` + ``_render``), so both are fuzzed: arbitrary text, bytes,
markup and escape sequences in the line, the source name and the server name. What reaches
the segments (what Textual writes to the terminal) must hold no raw control character, every
markup-looking string must come out literally, and a log row must stay one row.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.style import Style
from textual.app import App, ComposeResult

from console.models import LogLine, Severity
from console.ui.safe_text import safe
from console.ui.widgets.logs import LogView
from tests.fuzz.render import HOSTILE, raw_controls, rendered_text

HOSTILE_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(HOSTILE), max_size=6).map("".join),
    st.tuples(st.text(max_size=40), st.sampled_from(HOSTILE), st.text(max_size=40))
    .map("".join),
    st.binary(max_size=120).map(lambda b: b.decode("utf-8", errors="replace")),
    st.binary(max_size=120).map(lambda b: b.decode("latin-1")),  # every C1 control
)
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(HOSTILE_TEXT, st.booleans())
def test_safe_never_lets_a_control_or_markup_through(text: str, keep_newlines: bool) -> None:
    out = rendered_text(safe(text, keep_newlines=keep_newlines), width=80)
    assert raw_controls(out) == []
    if not keep_newlines:
        assert "\n" not in safe(text).plain  # one row: a line cannot forge another
    for tag in ("[bold]", "[/foo]", "[/]"):
        if tag in text and "\\" not in text:
            assert tag in safe(text).plain  # shown literally, not swallowed as markup


@FUZZ
@given(st.binary(max_size=300))
def test_safe_takes_arbitrary_bytes(data: bytes) -> None:
    assert raw_controls(rendered_text(safe(data, keep_newlines=True))) == []


class _ViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(id="view")


async def test_log_rows_render_hostile_lines_literally_on_one_row() -> None:
    """The real LogView (mounted, themed) formats and draws arbitrary lines."""
    app = _ViewApp()
    async with app.run_test(size=(120, 10)):
        view = app.query_one(LogView)
        seq = iter(range(1, 10**9))

        @FUZZ
        @given(HOSTILE_TEXT, HOSTILE_TEXT, HOSTILE_TEXT,
               st.sampled_from([None, *Severity]), st.sampled_from([20, 80, 200]))
        def check(text: str, server: str, source: str, severity: Severity | None,
                  width: int) -> None:
            line = LogLine(server=server, source=source, time=datetime.now(UTC), text=text,
                           rule="failed_login" if severity else None, severity=severity,
                           seq=next(seq))
            row = view.format(line)
            assert "\n" not in row.plain
            strip = view._render_row(line, width, is_cursor=True, base=Style())
            drawn = "".join(segment.text for segment in strip)
            assert raw_controls(drawn, allow_newline=False) == [], repr(drawn)
            assert strip.cell_length == width  # exactly one row, cut to the pane

        check()
