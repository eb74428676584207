"""The logs pane over a real LogService fed directly: rendering, hostile lines, keys."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from textual.app import App, ComposeResult

from console.config import Config, ConsoleSettings, LogsConfig, ServerConfig
from console.engine.logs import DockerLogDecoder, LogService
from console.ui.screens.log_detail import LogDetailScreen
from console.ui.screens.log_export import ExportScreen
from console.ui.widgets.logs_pane import LogsPane, LogView, compile_filter


class FakeContainers:
    def subscribe(self, callback):  # type: ignore[no-untyped-def]
        return lambda: None

    def snapshot(self) -> dict:
        return {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class FakeFleet:
    def __init__(self, buffer_lines: int = 10_000) -> None:
        server = ServerConfig(name="alpha", logs=LogsConfig(buffer_lines=buffer_lines))
        self.config = Config(ConsoleSettings(), (server,))
        self.logs = LogService(self.config, {"alpha": SimpleNamespace()},
                               containers=FakeContainers(), flush_interval=0.02)


class PaneApp(App[None]):
    def __init__(self, fleet: FakeFleet) -> None:
        super().__init__()
        self.fleet = fleet

    def compose(self) -> ComposeResult:
        yield LogsPane(self.fleet)

    async def on_mount(self) -> None:
        await self.fleet.logs.start()
        self.query_one(LogsPane).focus()


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
    fleet = FakeFleet()
    app = PaneApp(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        fleet.logs.feed("alpha", "crm-backend-1", [raw])
        await settle(pilot)
        (row,) = rows(app)
        assert row.endswith(shown)
        assert "failed_login" in row
        assert app.is_running


async def test_invalid_utf8_and_a_one_megabyte_line() -> None:
    fleet = FakeFleet()
    app = PaneApp(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
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
    fleet = FakeFleet()
    app = PaneApp(fleet)
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
    fleet = FakeFleet()
    app = PaneApp(fleet)
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
    fleet = FakeFleet()
    app = PaneApp(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        pane = app.query_one(LogsPane)
        fleet.logs.feed("alpha", "c", ["JWT expired 0"])
        await settle(pilot)
        await pilot.press("p")
        fleet.logs.feed("alpha", "c", [f"JWT expired {i}" for i in range(1, 6)])
        await settle(pilot)
        assert len(rows(app)) == 1
        assert "paused — 5 new" in str(app.query_one("#logs-status").render())
        pane.toggle_pause()
        await settle(pilot)
        assert len(rows(app)) == 6 and pane.skipped == 0


async def test_shed_lines_are_announced() -> None:
    fleet = FakeFleet(buffer_lines=100)
    app = PaneApp(fleet)
    async with app.run_test(size=(160, 20)) as pilot:
        await pilot.press("a")
        fleet.logs.feed("alpha", "c", [f"line {i}" for i in range(1000)])
        await settle(pilot)
        status = str(app.query_one("#logs-status").render())
        assert "900 lines skipped" in status
        assert rows(app)[-1].endswith("line 999")


async def test_search_moves_the_cursor_between_matches() -> None:
    fleet = FakeFleet()
    app = PaneApp(fleet)
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
    fleet = FakeFleet()
    app = PaneApp(fleet)
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
