"""The logs pane over a real LogService fed directly: rendering, hostile lines, keys."""

from __future__ import annotations

import re

import pytest

from console.engine.logs import DockerLogDecoder
from console.ui.screens.log_detail import LogDetailScreen
from console.ui.screens.log_export import ExportScreen
from console.ui.widgets.logs import LogsPane, LogView, compile_filter
from tests.support.logs import LogsFleet
from tests.support.ui import PaneApp


def pane_app(fleet: LogsFleet) -> PaneApp:
    """The logs pane alone and focused, its LogService started."""
    return PaneApp(fleet, LogsPane, start=lambda f: f.logs.start(), focus=True)


def rows(app: PaneApp) -> list[str]:
    view = app.query_one(LogView)
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)
            if view.render_line(y).text.strip()]


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause(0.1)
    await pilot.pause()


HOSTILE = [
    ("[bold]Login failed[/bold] for x", "[bold]Login failed[/bold] for x"),
    ("[/foo] Login failed", "[/foo] Login failed"),
    ("\x1b[2J Login failed", "\\x1b[2J Login failed"),
    ("\x1b]52;c;aGVsbG8=\x07 Login failed", "\\x1b]52;c;aGVsbG8=\\x07 Login failed"),
    ("nul\x00 del\x7f bidi\u202e bell\x07 Login failed",
     "nul\\x00 del\\x7f bidi\\u202e bell\\x07 Login failed"),
]


@pytest.mark.parametrize(("raw", "shown"), HOSTILE)
async def test_hostile_lines_are_shown_literally(raw: str, shown: str) -> None:
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        fleet.logs.feed("alpha", "crm-backend-1", [raw])
        await settle(pilot)
        (row,) = rows(app)
        assert row.endswith(shown)
        assert row.startswith(row[:8] + " alpha/crm-backend-1") and " login failed " in row
        assert app.is_running


async def test_invalid_utf8_and_a_one_megabyte_line() -> None:
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        app.query_one(LogsPane).wrap = False  # one row per line: the row is asserted below
        decoder = DockerLogDecoder(tty=False)
        stamp = b"2026-11-24T12:00:00.1Z "
        payload = stamp + b"Login failed \xff\xfe\xc3(" + b"A" * (1024 * 1024) + b"\n"
        records = decoder.feed(bytes([1, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload)
        texts = [r.decode("utf-8", "replace").partition(" ")[2] for r in records]
        fleet.logs.feed("alpha", "crm-backend-1", texts)
        await settle(pilot)
        (row,) = rows(app)
        assert "Login failed \ufffd\ufffd\ufffd(AAAA" in row
        line = app.query_one(LogView).lines[0]
        assert len(line.text) < 17 * 1024 and "bytes cut" in line.text
        await pilot.press("enter")  # the whole (cut) line in the detail view
        await settle(pilot)
        assert isinstance(app.screen, LogDetailScreen)
        await pilot.press("escape")
        assert app.is_running


async def test_auth_only_by_default_and_toggle_all() -> None:
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        fleet.logs.feed("alpha", "crm-backend-1", ["plain 1", "JWT expired", "plain 2"])
        await settle(pilot)
        assert len(rows(app)) == 1
        await pilot.press("a")
        await settle(pilot)
        assert [r.split()[-2:] for r in rows(app)] == [["plain", "1"], ["JWT", "expired"],
                                                     ["plain", "2"]]
        fleet.logs.feed("alpha", "crm-backend-1", ["plain 3"])
        await settle(pilot)
        assert rows(app)[-1].endswith("plain 3")
        status = str(app.query_one("#logs-status").render())
        assert "all lines" in status


async def test_filter_live_invalid_regex_and_escape() -> None:
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        fleet.logs.feed("alpha", "crm-backend-1",
                        ["Login failed for ann", "Login failed for bob", "JWT expired"])
        await settle(pilot)
        pane = app.query_one(LogsPane)
        pane.open_filter()
        await pilot.press(*"bob")
        await pilot.pause(0.3)
        assert [r.split()[-1] for r in rows(app)] == ["bob"]
        await pilot.press("backspace", "backspace", "backspace", "[", "(")
        await pilot.pause(0.3)
        assert pane.message.startswith("invalid regex")
        assert app.is_running and len(rows(app)) == 3  # the last valid filter (none) holds
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert pane.filter is None and pane.message == "" and len(rows(app)) == 3
        assert app.focused is pane.view
        pane.open_filter()
        await pilot.press(*"JWT", "enter")
        await pilot.pause(0.3)
        assert len(rows(app)) == 1 and app.focused is pane.view  # kept after enter
        fleet.logs.feed("alpha", "crm-backend-1", ["Login failed again", "JWT expired 2"])
        await settle(pilot)
        assert rows(app)[-1].endswith("JWT expired 2") and len(rows(app)) == 2


async def test_pause_counts_new_lines_and_resume_shows_them() -> None:
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        pane = app.query_one(LogsPane)
        fleet.logs.feed("alpha", "c", ["JWT expired 0"])
        await settle(pilot)
        await pilot.press("p")
        fleet.logs.feed("alpha", "c", [f"JWT expired {i}" for i in range(1, 6)])
        await settle(pilot)
        assert len(rows(app)) == 1
        assert "paused — 5 new" in str(app.query_one("#logs-status").render())
        counts = str(app.query_one("#logs-counts").render())
        assert "jwt_expired 6" in counts, counts  # counts go on while the view stands still
        pane.toggle_pause()
        await settle(pilot)
        assert len(rows(app)) == 6 and pane.skipped == 0


async def test_shed_lines_are_announced() -> None:
    fleet = LogsFleet(buffer_lines=100)
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        await pilot.press("a")
        fleet.logs.feed("alpha", "c", [f"line {i}" for i in range(20_000)])
        await settle(pilot)
        status = str(app.query_one("#logs-status").render())
        assert "19,900 lines skipped" in status
        assert rows(app)[-1].endswith("line 19999")
        assert app.query_one("#logs-status").has_class("-warn")


async def test_search_moves_the_cursor_between_matches() -> None:
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        fleet.logs.feed("alpha", "c", ["JWT expired ann", "Login failed", "JWT expired bob",
                                       "Login failed"])
        await settle(pilot)
        view = app.query_one(LogView)
        await pilot.press("s", *"expired", "enter")
        await settle(pilot)
        assert view.cursor == 2
        await pilot.press("n")
        assert view.cursor == 0
        await pilot.press("N")
        assert view.cursor == 2
        await pilot.press("end")
        assert view.cursor is None


async def test_export_writes_the_visible_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fleet = LogsFleet()
    app = pane_app(fleet)
    target = tmp_path / "out.log"
    async with app.run_test(size=(160, 20)) as pilot:
        fleet.logs.feed("alpha", "c", ["Login failed password=hunter2", "plain"])
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        box = app.screen.query_one("#export-path")
        box.value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await settle(pilot)
    text = target.read_text()
    assert "Login failed password=[redacted]" in text and "plain" not in text


def test_filter_is_smart_case() -> None:
    assert compile_filter("bob").flags & re.IGNORECASE  # type: ignore[union-attr]
    assert not compile_filter("Bob").flags & re.IGNORECASE  # type: ignore[union-attr]
    assert compile_filter("") is None
    with pytest.raises(re.error):
        compile_filter("[")


async def test_jwt_and_password_are_redacted_in_the_pane_and_the_export(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import jwt

    token = jwt.encode({"sub": "admin@example.com"}, "k" * 32, algorithm="HS256")
    fleet = LogsFleet()
    app = pane_app(fleet)
    target = tmp_path / "out.log"
    async with app.run_test(size=(200, 20)) as pilot:
        fleet.logs.feed("alpha", "crm-backend-1", [
            f"[AUTH] Invalid token {token}",
            "[AUTH] Login failed: password=hunter2 for bob",
        ])
        await settle(pilot)
        shown = rows(app)
        assert len(shown) == 2
        assert shown[0].endswith("[AUTH] Invalid token [redacted jwt]")
        assert shown[1].endswith("[AUTH] Login failed: password=[redacted] for bob")
        await pilot.press("up", "enter")  # the detail view shows the (redacted) whole line
        await settle(pilot)
        assert isinstance(app.screen, LogDetailScreen)
        detail = str(app.screen.query_one("#detail-text").render())
        assert token not in detail and "[redacted jwt]" in detail
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        app.screen.query_one("#export-path").value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await settle(pilot)
        assert app.is_running
    text = target.read_text()
    assert token not in text and token.split(".")[1] not in text and "hunter2" not in text
    assert "[redacted jwt]" in text and "password=[redacted]" in text


async def test_rule_counts_sparkline_and_severity_colours_from_the_theme() -> None:
    from console.models import Severity
    from console.ui.themes import severity_style

    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        fleet.logs.feed("alpha", "crm-nginx-1", ['"GET /health HTTP/1.1" 502 157'] * 3)
        fleet.logs.feed("alpha", "crm-backend-1", ["[AUTH] Login failed: x", "plain"])
        await settle(pilot)
        counts = str(app.query_one("#logs-counts").render())
        assert "upstream_error 3" in counts and "failed_login 1" in counts
        assert counts.index("upstream_error") < counts.index("failed_login")  # busiest first
        spark = app.query_one("#logs-spark")
        assert list(spark.data)[-1] == 4.0 and len(spark.data) == 30  # type: ignore[attr-defined]
        view = app.query_one(LogView)
        for y, severity in ((0, Severity.ERROR), (3, Severity.WARNING)):
            strip = view.render_line(y)
            label = next(seg for seg in strip if seg.text.strip() in ("upstream",
                                                                      "login failed"))
            want = severity_style(app, severity)
            assert label.style is not None and label.style.color == want.color
            assert want.color is not None
        errors = severity_style(app, Severity.ERROR).color
        assert errors != severity_style(app, Severity.WARNING).color
        assert app.is_running


async def test_slash_key_opens_the_filter_and_p_pauses() -> None:
    """The keys of the SPEC's table, pressed, not called: ``/`` filter, ``esc`` clears,
    ``p`` pause / resume."""
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        pane = app.query_one(LogsPane)
        fleet.logs.feed("alpha", "c", ["JWT expired ann", "JWT expired bob"])
        await settle(pilot)
        await pilot.press("slash", *"ann")
        await pilot.pause(0.3)
        assert pane.filter is not None and len(rows(app)) == 1
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert pane.filter is None and len(rows(app)) == 2
        await pilot.press("p")
        fleet.logs.feed("alpha", "c", ["JWT expired cid"])
        await settle(pilot)
        assert pane.paused and len(rows(app)) == 2 and pane.new_while_paused == 1
        await pilot.press("p")
        await settle(pilot)
        assert not pane.paused and len(rows(app)) == 3


async def test_a_row_at_the_real_pane_width_shows_the_message() -> None:
    """At 160x48 a pane is ~78 columns: time, a cut server/source, a short rule label, then
    the message, without the line's own leading timestamp when it repeats the line's time."""
    from datetime import UTC, datetime

    fleet = LogsFleet()
    app = pane_app(fleet)
    when = datetime(2026, 11, 24, 13, 13, 40, 123000, tzinfo=UTC)
    async with app.run_test(size=(78, 12)) as pilot:
        app.query_one(LogsPane).wrap = False  # one row per line (w): each row is asserted
        fleet.logs.feed("alpha", "crm-backend-1", [
            "2026-11-24T13:13:40.123Z WARNING [AUTH] Login failed: invalid password for x",
            "2026/11/24 13:13:40 [error] 7#7: connect() failed (111: Connection refused)",
            "2025-01-01T00:00:00Z replayed: Login failed for old",
        ], times=[when] * 3)
        await settle(pilot)
        shown = rows(app)
        assert shown[0] == ("13:13:40 alpha/…backend-1 login failed WARNING [AUTH] Login "
                            "failed: invalid pa")  # 78 columns: the message gets 39
        assert "upstream     [error] 7#7: connect()" in shown[1] and "2026/11/24" not in shown[1]
        assert "2025-01-01T00:00:00Z replayed" in shown[2]  # differs from the time: kept
        await pilot.press("up", "up", "up", "enter")  # the detail view keeps the stamp
        await settle(pilot)
        detail = str(app.screen.query_one("#detail-text").render())
        assert "2026-11-24T13:13:40.123Z WARNING [AUTH] Login failed" in detail
        assert app.is_running


@pytest.mark.parametrize(("text", "shown"), [
    ("2026-11-24T13:13:40Z msg", "msg"),
    ("2026-11-24 13:13:41,250 ERROR msg", "ERROR msg"),
    ("2026-11-24T14:13:40+01:00 msg", "msg"),  # the same instant in another zone
    ("2026-11-24T13:13:40+01:00 msg", "2026-11-24T13:13:40+01:00 msg"),
    ("2026/11/24 13:13:40 [error] msg", "[error] msg"),
    ("[24/Nov/2026:13:13:40 +0000] msg", "msg"),
    ("Nov 24 13:13:40 host sshd[9]: msg", "host sshd[9]: msg"),
    ("Nov 31 13:13:40 x", "Nov 31 13:13:40 x"),  # no such day: not a time
    ("10.0.0.1 - - [24/Nov/2026:13:13:40 +0000] msg", "10.0.0.1 - - [24/Nov/2026:13:13:40 "
                                                       "+0000] msg"),
    ("2026-11-24T13:13:40Z", "2026-11-24T13:13:40Z"),  # nothing else: keep it
    ("2026-11-24T13:13:30Z msg", "2026-11-24T13:13:30Z msg"),  # 10 s off
])
def test_message_text_strips_only_a_leading_copy_of_the_line_time(text: str,
                                                                  shown: str) -> None:
    from datetime import UTC, datetime

    from console.models import LogLine
    from console.ui.widgets.logs import message_text

    line = LogLine("alpha", "c", datetime(2026, 11, 24, 13, 13, 40, tzinfo=UTC), text)
    assert message_text(line) == shown


def test_short_where_and_rule_label() -> None:
    from console.ui.widgets.logs.format import RULE_WIDTH, rule_label, short_where

    assert short_where("alpha", "crm-backend-1", 24) == "alpha/crm-backend-1"
    assert short_where("alpha", "crm-backend-1", 16) == "alpha/…backend-1"
    assert short_where("alpha", "/var/log/nginx/error.log", 16) == "alpha/error.log"
    assert short_where("alpha", "/crm-nginx-1", 24) == "alpha/crm-nginx-1"
    long = short_where("a-very-long-server-name", "x" * 40, 16)
    assert len(long) == 16 and long.startswith("a-ver") and long.endswith("xxx")
    assert short_where("al\x1bpha", "c", 24) == "al\\x1bpha/c"  # made visible
    assert rule_label("failed_login") == "login failed"
    assert rule_label("a_config_rule_with_a_long_name") == "a_config_ru…"
    assert all(len(rule_label(n)) <= RULE_WIDTH for n in ("auth_service_refused", "x"))


async def test_paint_work_follows_what_is_visible() -> None:
    """A cursor key repaints its two rows, not the pane; a batch landing below a window the
    operator scrolled up repaints no row. (Both were whole-pane repaints: at 20 rows per
    batch during a flood the compositor starved the reader of the GIL.)"""
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        fleet.logs.feed("alpha", "c", [f"JWT expired {i}" for i in range(100)])
        await settle(pilot)
        view = app.query_one(LogView)
        drawn: list[int] = []
        original = view.render_line

        def counting(y: int):  # type: ignore[no-untyped-def]
            drawn.append(y)
            return original(y)

        view.render_line = counting  # type: ignore[method-assign]
        await pilot.press("up")  # leaves follow mode: a full repaint is right here
        await settle(pilot)
        drawn.clear()
        await pilot.press("up")
        await settle(pilot)
        assert 1 <= len(drawn) <= 2, drawn
        cursor_row = view.cursor - int(view.scroll_y)  # type: ignore[operator]
        assert cursor_row in drawn
        before = rows(app)
        drawn.clear()
        fleet.logs.feed("alpha", "c", [f"JWT expired more {i}" for i in range(50)])
        await settle(pilot)
        assert drawn == [] and len(view.lines) == 150
        assert rows(app) == before
        await pilot.press("end")  # following again: the newest rows are painted
        await settle(pilot)
        assert rows(app)[-1].endswith("JWT expired more 49") and drawn


async def test_a_flood_is_drawn_a_few_times_a_second_a_quiet_line_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines after a quiet spell are drawn with their batch; batches that follow within
    FRAME_S wait for the next frame, together, and none is lost."""
    from console.ui.widgets.logs import pane as logs_pane

    monkeypatch.setattr(logs_pane, "FRAME_S", 1.0)  # wide, so a slow machine cannot blur it
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        view = app.query_one(LogView)
        fleet.logs.feed("alpha", "c", ["JWT expired first"])
        await pilot.pause(0.2)  # engine flushes every 20 ms here
        assert [line.text for line in view.lines] == ["JWT expired first"]
        fleet.logs.feed("alpha", "c", ["JWT expired second"])
        await pilot.pause(0.1)
        fleet.logs.feed("alpha", "c", ["JWT expired third"])
        await pilot.pause(0.2)
        assert len(view.lines) == 1  # both wait for the next frame
        await pilot.pause(1.0)
        await pilot.pause()
        assert [line.text for line in view.lines] == ["JWT expired first", "JWT expired second",
                                                      "JWT expired third"]


# --------------------------------------------------------------------------- message flow


async def test_batches_arrive_as_lines_arrived_messages_and_a_burst_is_one() -> None:
    """The log service's listener (the pane's inbox) keeps each batch and posts
    ``LinesArrived``; batches that queue up are drained by one message, in order."""
    from console.engine.logs import LogBatch
    from console.models import LogLine, Severity
    from console.ui.messages import LinesArrived

    fleet = LogsFleet()
    seen: list[object] = []
    app = pane_app(fleet)
    async with app.run_test(size=(160, 20), message_hook=seen.append) as pilot:
        fleet.logs.feed("alpha", "c", ["JWT expired via the service"])
        await settle(pilot)
        assert any(isinstance(m, LinesArrived) for m in seen)
        assert rows(app)[-1].endswith("JWT expired via the service")
        pane = app.query_one(LogsPane)
        view = app.query_one(LogView)
        seen.clear()
        from datetime import UTC, datetime
        lines = [LogLine("alpha", "c", datetime.now(UTC), f"JWT expired {i}",
                         rule="jwt_expired", severity=Severity.WARNING, seq=10_000 + i)
                 for i in range(20)]
        for line in lines:  # twenty batches in one turn of the loop
            pane._inbox(LogBatch(lines=[line], events=[line]))
        assert view.lines[-1].text == "JWT expired via the service"  # nothing drawn yet
        await pilot.pause(0.4)  # the next frame (FRAME_S) shows them
        await settle(pilot)
        assert len([m for m in seen if isinstance(m, LinesArrived)]) == 1
        assert [line.text for line in view.lines[-20:]] == [f"JWT expired {i}"
                                                            for i in range(20)]


# --------------------------------------------------------------------------- wrapping


LONG_AUTH = ("[AUTH] Login failed: RuntimeError: CRITICAL: JWT_SECRET not configured; "
             "nginx said connect() failed (111: Connection refused) while connecting to "
             "upstream http://backend:8000/api/v1/auth/login")


async def test_a_long_auth_message_wraps_under_its_row_and_w_cuts_it_again() -> None:
    """At a real pane's width (78 columns) the message continues under its row, indented
    under the source column, whole words kept; source and rule label stay on the row."""
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(78, 12)) as pilot:
        fleet.logs.feed("alpha", "crm-backend-1", [LONG_AUTH, "JWT expired for 17"])
        await settle(pilot)
        shown = rows(app)
        # the line names a missing secret: the cause labels it, not the failed login
        assert " alpha/…backend-1 no secret    [AUTH]" in shown[0]
        continuation = [row for row in shown[1:] if row.startswith(" " * 9)]
        assert len(continuation) >= 2
        assert all(not row[9].isspace() for row in continuation)  # indented by 9 exactly
        message = " ".join([shown[0][39:].strip(), *(row.strip() for row in continuation)])
        assert message.startswith(LONG_AUTH[:120])
        assert shown[-1].endswith("JWT expired for 17")
        view = app.query_one(LogView)
        assert view.row_count == len(shown) and len(view.lines) == 2
        await pilot.press("up")  # the cursor is on a line, whatever its rows
        assert view.cursor == 0 and view.line_at_row(1) == 0
        pane = app.query_one(LogsPane)
        pane.toggle_wrap()
        await settle(pilot)
        assert len(rows(app)) == 2 and view.row_count == 2
        assert "no wrap (w)" in str(app.query_one("#logs-status").render())
        pane.toggle_wrap()
        await settle(pilot)
        assert len(rows(app)) == len(shown)


def test_rows_for_matches_what_is_drawn_and_is_capped() -> None:
    from datetime import UTC, datetime

    from console.models import LogLine
    from console.ui.widgets.logs.format import MAX_WRAP_ROWS, RowLayout

    layout = RowLayout(78)
    when = datetime(2026, 11, 24, tzinfo=UTC)
    assert layout.rows_for(LogLine("a", "c", when, "short")) == 1
    assert layout.rows_for(LogLine("a", "c", when, "x" * 39)) == 1
    assert layout.rows_for(LogLine("a", "c", when, "x" * 40)) == 2
    assert layout.rows_for(LogLine("a", "c", when, "x" * 10_000)) == MAX_WRAP_ROWS
    assert layout.rows_for(LogLine("a", "c", when, "\x1b" * 30)) == 3  # 120 cells: 39+69+12
    assert RowLayout(0).rows_for(LogLine("a", "c", when, "x" * 500)) == 1


async def test_a_line_longer_than_its_rows_ends_in_an_ellipsis_and_hostile_text_stays_literal(
        ) -> None:
    fleet = LogsFleet()
    app = pane_app(fleet)
    async with app.run_test(size=(78, 12)) as pilot:
        fleet.logs.feed("alpha", "c", ["Login failed " + "[bold]\x1b[2J " * 400])
        await settle(pilot)
        shown = rows(app)
        assert len(shown) == 4 and shown[-1].endswith("…")
        assert "\x1b" not in "".join(shown) and "[bold]\\x1b[2J" in shown[1]


def test_every_built_in_rule_has_a_short_label_that_fits() -> None:
    from console.engine.rules import BUILTIN_IDS
    from console.ui.widgets.logs.format import RULE_LABELS, RULE_WIDTH

    assert set(RULE_LABELS) == set(BUILTIN_IDS)
    assert all(len(label) <= RULE_WIDTH for label in RULE_LABELS.values())
