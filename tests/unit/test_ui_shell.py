"""The app shell with a fake Fleet: bindings, help, palette, quit, panes, restart, themes.

The containers service is real (over fake hosts and a fake docker daemon from
tests/support/); the other panes are forced to their "not built yet" stand-ins so
these tests do not depend on other modules' progress.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.filter import Monochrome
from textual.widgets import Input

from console.models import ActionResult, ConnState
from console.ui import app as app_module
from console.ui import themes
from console.ui.app import OpsConsoleApp
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.help import HelpScreen
from console.ui.widgets import PANES
from console.ui.widgets.logs import LogsPane
from console.ui.widgets.placeholder import NotBuiltPane
from tests.support.clock import FROZEN_NOW
from tests.support.docker import FakeDaemon, inspect_doc
from tests.support.fleet import FakeFleet, NoActions, make_config
from tests.support.ui import PLACEHOLDERS, loaded, messages, until

pytestmark = pytest.mark.timeout(60)

SIZE = (120, 40)


def make_app(fleet: FakeFleet | None = None, **config_kw: Any) -> OpsConsoleApp:
    fleet = fleet or FakeFleet(make_config(**config_kw) if config_kw else None)
    return OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW,
                         pane_classes=dict(PLACEHOLDERS))


async def select(pilot: Any, server: str, name: str) -> None:
    pane = pilot.app.pane("containers")
    pane.focus()
    assert pane.select_container_row(server, name)
    await pilot.pause()


async def test_when_ready_runs_once_after_the_first_frame() -> None:
    fleet = FakeFleet()
    calls: list[int] = []
    app = OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW,
                        pane_classes=dict(PLACEHOLDERS),
                        when_ready=lambda: calls.append(app.screen.region.width))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.pause()
    assert calls == [SIZE[0]]


def test_the_app_offers_what_panes_and_screens_look_for() -> None:
    """Panes read the clock, the strip and pane focus through these protocols; an app that
    stopped offering one would leave them on real time and without the fix notes."""
    from console.ui.console_app import AppClock, AppPanes, AppStrip

    app = make_app()
    assert isinstance(app, AppClock) and isinstance(app, AppPanes)
    assert isinstance(app, AppStrip)


def test_ops_console_freezes_the_start_up_heap_when_its_first_screen_is_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from console import cli
    from console.engine.logs import tuning

    monkeypatch.setattr(tuning.gc, "set_threshold", lambda *a: None)
    monkeypatch.setattr(tuning.gc, "freeze", lambda: None)
    app = cli.tui_app(make_config())
    assert app._when_ready is tuning.freeze_startup_heap


# --------------------------------------------------------------------------- bindings


def test_every_spec_key_is_bound_with_an_id_and_a_tooltip() -> None:
    keys = {b.key: b for b in OpsConsoleApp.BINDINGS}
    for key in ("r", "m", "t", "slash", "p", "1", "2", "3", "4", "question_mark", "ctrl+p",
                "q"):
        assert key in keys, key
        assert keys[key].id and keys[key].tooltip, key
    ids = [b.id for b in OpsConsoleApp.BINDINGS]
    assert len(ids) == len(set(ids))


async def test_help_lists_every_binding_generated_from_the_bindings() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = app.screen.plain_rows()
        for binding in OpsConsoleApp.BINDINGS:
            shown = app.get_key_display_name(binding.key)
            assert any(r[1] == shown and r[2] == binding.description
                       and r[3] == binding.tooltip for r in rows), binding
        assert ("global", "?", "Help", "Every key binding") in rows
        assert ("global", "/", "Filter",
                "Edit the log filter (a regex), live; esc clears it") in rows
        # The focused pane's own keys are listed too.
        assert any(r[0] == "focused pane" and r[2] == "Top" for r in rows)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))


async def test_palette_opens_and_lists_restart_per_container_with_its_server() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: CommandPalette.is_open(app))
        await pilot.press(*"restart crm2-backend")
        palette = app.screen

        def prompts() -> list[str]:
            from textual.command import CommandList
            options = palette.query_one(CommandList).options
            return [str(option.prompt).split("\n")[0] for option in options]

        await until(pilot, lambda: "Restart crm2-backend-1 on bravo" in prompts())
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.typed_name == "bravo"  # bravo is protected


async def test_palette_sources_list_actions_panes_and_themes() -> None:
    from console.ui.commands import builtin_commands, command_sources, register_command_source

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        labels = [label for label, _, _ in builtin_commands(app)]
        for expected in ("Restart crm-backend-1 on alpha", "Migrate alpha",
                         "Test login on bravo", "Focus Health pane", "Theme: ops-light",
                         "Theme: ops-high-contrast", "Help: keys"):
            assert expected in labels

        def extra(app_: Any) -> list[tuple[str, Callable[[], None], str]]:
            return [("Open the audit log", lambda: None, "Every action taken")]

        register_command_source(extra)
        try:
            assert extra in command_sources()
            theme_cb = next(cb for label, cb, _ in builtin_commands(app)
                            if label == "Theme: ops-light")
            theme_cb()
            assert app.theme == "ops-light"
        finally:
            from console.ui import commands
            commands._SOURCES.remove(extra)


async def test_q_quits_and_stops_the_fleet() -> None:
    fleet = FakeFleet()
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("q")
        await until(pilot, lambda: fleet.stopped)
    assert app.return_code == 0
    assert all(host.closed for host in fleet.hosts.values())


# --------------------------------------------------------------------------- panes


async def test_missing_panes_say_not_built_yet() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        for pane_id, title in (("logs", "Logs"), ("health", "Health"),
                               ("secrets", "Secrets")):
            pane = app.pane(pane_id)
            assert isinstance(pane, NotBuiltPane)
            assert str(pane.render()).strip() == f"{title} — not built yet"


def test_panes_are_the_pane_classes_in_key_order() -> None:
    from console.ui.widgets.containers_pane import ContainersPane
    from console.ui.widgets.fleet_pane import FleetPane
    from console.ui.widgets.health_pane import HealthPane
    from console.ui.widgets.secrets_pane import SecretsPane

    assert [(spec.key, spec.pane) for spec in PANES] == [
        ("1", ContainersPane), ("2", LogsPane), ("3", HealthPane), ("4", SecretsPane),
        ("5", FleetPane)]


async def test_a_pane_that_fails_to_construct_shows_its_error() -> None:
    class Broken:
        def __init__(self, fleet: Any) -> None:
            raise RuntimeError("no [bold]logs service")

    fleet = FakeFleet()
    app = OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW,
                        pane_classes={**PLACEHOLDERS, "logs": Broken})
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        text = str(app.pane("logs").render())
        assert "Logs pane failed to load" in text
        assert "RuntimeError: no [bold]logs service" in text


async def test_number_keys_focus_panes_and_compact_layout_shows_one() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        assert "-narrow" in app.screen.classes
        await pilot.press("3")
        await until(pilot, lambda: app.focused is app.pane("health"))
        assert app.active_pane == "health"
        assert app.query_one("#frame-health").display
        assert not app.query_one("#frame-containers").display
        await pilot.press("1")
        await until(pilot, lambda: app.focused is app.pane("containers"))
        assert app.query_one("#frame-containers").display


async def test_wide_layout_shows_all_four_panes() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        assert "-wide" in app.screen.classes and "-tall" in app.screen.classes
        frames = [app.query_one(f"#frame-{p}") for p in ("containers", "logs", "health",
                                                          "secrets")]
        assert all(f.display and f.region.width >= 70 for f in frames)
        assert not app.query_one("#pane-tabs").display


async def test_selected_server_follows_the_focused_pane_row() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select(pilot, "bravo", "crm2-backend-1")
        assert app.selected_server() == "bravo"
        await pilot.press("2")
        await until(pilot, lambda: app.focused is app.pane("logs"))
        assert app.selected_server() == "alpha"  # the first server


async def test_m_and_t_push_the_screen_for_the_selected_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pushed: list[tuple[str, Any, str]] = []

    class FakeScreen(ConfirmScreen):
        def __init__(self, fleet: Any, server: str) -> None:
            pushed.append((type(self).__name__, fleet, server))
            super().__init__("fake")

    app = make_app()
    monkeypatch.setattr(app_module, "MigrateScreen", FakeScreen)
    monkeypatch.setattr(app_module, "TestLoginScreen", FakeScreen)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select(pilot, "bravo", "crm2-backend-1")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, FakeScreen))
        assert pushed == [("FakeScreen", app.fleet, "bravo")]


async def test_filter_and_pause_call_the_logs_pane() -> None:
    calls: list[str] = []

    class LogsStub(LogsPane):
        def open_filter(self) -> None:
            calls.append("filter")

        def toggle_pause(self) -> None:
            calls.append("pause")

    fleet = FakeFleet()
    app = OpsConsoleApp(fleet.config, fleet, pane_classes={**PLACEHOLDERS, "logs": LogsStub})
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("p", "slash")
        await until(pilot, lambda: calls == ["pause", "filter"])
        assert app.active_pane == "logs"


async def test_filter_without_a_logs_pane_says_so() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        await until(pilot, lambda: messages(app) != [])
        assert "Log filter: the logs pane is not built yet." in messages(app)


# --------------------------------------------------------------------------- containers


async def test_hostile_container_name_renders_literally() -> None:
    hostile = "[bold]x\x1b[2J"
    daemons = {"alpha": FakeDaemon([inspect_doc("h1", hostile, image="[red]img\x07")]),
               "bravo": FakeDaemon()}
    fleet = FakeFleet(daemons=daemons)
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.pane("containers")
        await until(pilot, lambda: any("[bold]x" in row[0] for row in pane.row_texts()))
        row = next(r for r in pane.row_texts() if "[bold]x" in r[0])
        assert row[0].strip() == "[bold]x\\x1b[2J"
        assert row[5] == "[red]img\\x07"
        lines = [pane.render_line(y).text for y in range(pane.size.height)]
        assert any("[bold]x\\x1b[2J" in line for line in lines)
        assert not any("\x1b" in line for line in lines)


async def test_rows_update_in_place_and_the_selection_stays() -> None:
    fleet = FakeFleet()
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        pane = await loaded(pilot)
        await select(pilot, "alpha", "crm-nginx-1")
        keys_before = list(pane._keys)
        daemon = fleet.daemons["alpha"]
        daemon.docs["a1" * 32]["State"]["Health"]["Status"] = "unhealthy"
        daemon.emit("a1" * 32, "health_status: unhealthy")
        await until(pilot, lambda: any(r[0].strip() == "crm-backend-1" and r[2] == "unhealthy"
                                       for r in pane.row_texts()))
        assert pane._keys == keys_before
        assert pane.selected_container().name == "crm-nginx-1"
        # A new container changes the rows: rebuilt, and the cursor stays on nginx.
        daemon.docs["a0" * 32] = inspect_doc("a0" * 32, "crm-aaa-1", service="aaa")
        daemon.emit("a0" * 32, "start")
        await until(pilot, lambda: any(r[0].strip() == "crm-aaa-1" for r in pane.row_texts()))
        assert pane.selected_container().name == "crm-nginx-1"


async def test_a_lost_server_is_shown_in_words_in_header_and_pane() -> None:
    fleet = FakeFleet()
    app = make_app(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await loaded(pilot)
        fleet.hosts["bravo"].set_state(ConnState.RETRYING, "connection refused",
                                       since=FROZEN_NOW - timedelta(seconds=12),
                                       retry_at=FROZEN_NOW + timedelta(seconds=4))
        await until(pilot, lambda: any(r[1] == "retrying" for r in pane.row_texts()))
        row = next(r for r in pane.row_texts() if r[0].endswith("bravo"))
        assert row[5].startswith("retrying 12s ago, retry in 4s: connection refused")
        assert "rows below are the last known state" in row[5]
        header = str(app.query_one("#status-bar").render())
        assert "bravo retrying 12s ago, retry in 4s" in header
        assert "alpha up" in header


# --------------------------------------------------------------------------- restart


async def test_read_only_refuses_restart_with_a_message() -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select(pilot, "alpha", "crm-backend-1")
        await pilot.press("r")
        await until(pilot, lambda: messages(app) != [])
        assert "Read-only mode (console.read_only = true): restart refused." in messages(app)
        assert not isinstance(app.screen, ConfirmScreen)
        assert ("restart", "a1" * 32) not in app.fleet.daemons["alpha"].calls
        assert "READ-ONLY" in str(app.query_one("#status-bar").render())


async def test_r_without_a_container_row_asks_for_one() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        pane = app.pane("containers")
        pane.chosen = True  # the operator's pick: the diagnosis no longer moves the cursor
        pane.move_cursor(row=0)  # a server row
        await pilot.press("r")
        await until(pilot, lambda: messages(app) != [])
        assert not isinstance(app.screen, ConfirmScreen)
        assert "Select a container row" in messages(app)[0]


@pytest.mark.parametrize("cancel_key", ["n", "escape"])
async def test_confirm_cancel_does_nothing(cancel_key: str) -> None:
    fleet = FakeFleet()
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select(pilot, "alpha", "crm-backend-1")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.focused is not None and app.focused.id == "cancel"  # the safe choice
        await pilot.press(cancel_key)
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.1)
        assert not any(c[0] == "restart" for c in fleet.daemons["alpha"].calls)
        assert "Restart cancelled; nothing was done." in messages(app)


async def test_y_restarts_and_the_row_goes_restarting_then_running() -> None:
    import threading

    fleet = FakeFleet()
    daemon = fleet.daemons["alpha"]
    daemon.restart_gate = threading.Event()
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        pane = await loaded(pilot)
        await select(pilot, "alpha", "crm-backend-1")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")  # enter on the focused Cancel button is a no
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert not any(c[0] == "restart" for c in daemon.calls)

        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")

        def backend_state() -> str:
            return next(r[1] for r in pane.row_texts() if r[0].strip() == "crm-backend-1")

        await until(pilot, lambda: backend_state() == "restarting")
        daemon.restart_gate.set()
        await until(pilot, lambda: backend_state() == "running")
        await until(pilot, lambda: "crm-backend-1 on alpha restarted." in messages(app))
        assert ("restart", "a1" * 32) in daemon.calls


async def test_protected_server_needs_the_typed_name() -> None:
    fleet = FakeFleet()
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select(pilot, "bravo", "crm2-backend-1")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        screen = app.screen
        assert isinstance(app.focused, Input)
        await pilot.press("y", "enter")  # "y" is just a letter here, and it is wrong
        await pilot.pause(0.1)
        assert app.screen is screen
        assert "That is not bravo" in str(screen.query_one("#problem").render())
        app.focused.value = ""
        await pilot.press(*"bravo", "enter")
        await until(pilot, lambda: ("restart", "b1" * 32) in fleet.daemons["bravo"].calls)


async def test_restart_goes_through_the_actions_service_when_there_is_one() -> None:
    calls: list[tuple[str, str]] = []

    class Actions(NoActions):
        async def restart(self, server: str, container: str) -> ActionResult:
            calls.append((server, container))
            return ActionResult("restart", server, container, False, detail="audit is down")

    fleet = FakeFleet()
    fleet.actions = Actions()
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await select(pilot, "alpha", "crm-backend-1")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        body = str(app.screen.query_one("#body").render())
        assert "audit log" in body
        await pilot.press("y")
        await until(pilot, lambda: calls == [("alpha", "a1" * 32)])
        await until(pilot, lambda: any("failed: audit is down" in m for m in messages(app)))


async def test_a_failing_fleet_start_is_reported_and_the_app_keeps_running() -> None:
    class BadFleet(FakeFleet):
        async def start(self) -> None:
            raise OSError("ssh-agent exploded")

    fleet = BadFleet()
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: any("ssh-agent exploded" in m for m in messages(app)))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))


# --------------------------------------------------------------------------- themes


@pytest.mark.parametrize("name", ["ops-dark", "ops-light", "ops-high-contrast", "nord"])
async def test_config_theme_is_applied(name: str) -> None:
    app = make_app(theme=name)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == name
        for variable in themes.SEVERITY_VARIABLES + themes.STATE_VARIABLES:
            assert app.theme_variables.get(variable), variable


async def test_unknown_theme_falls_back_with_a_clear_message() -> None:
    app = make_app(theme="no-such-theme")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: messages(app) != [])
        assert app.theme == "ops-dark"
        assert messages(app)[0].startswith(
            "Theme 'no-such-theme' (console.theme) not found; using ops-dark.")
        assert "ops-high-contrast" in messages(app)[0]


def test_shipped_theme_files_define_every_shared_variable() -> None:
    found, problems = themes.load_themes([Path(themes.__file__).resolve().parents[2] / "themes"])
    assert problems == []
    assert {"ops-dark", "ops-light", "ops-high-contrast"} <= set(found)
    for theme in found.values():
        for variable in themes.SEVERITY_VARIABLES + themes.STATE_VARIABLES:
            assert variable in theme.variables, (theme.name, variable)


@pytest.mark.parametrize(("body", "message"), [
    ('name = "x"\nprimary = "#fff"\nbogus = 1\n', "bogus: unknown key"),
    ('name = "x"\n', "primary: required"),
    ('name = "x"\nprimary = 3\n', "primary: expected a colour string"),
    ('name = "x"\nprimary = "#fff"\ndark = "yes"\n', "dark: expected true or false"),
    ('name = "x"\nprimary = "#fff"\n[variables]\nsev = 1\n', "[variables]: expected string"),
    ("name = \n", "cannot be read as TOML"),
])
def test_broken_theme_files_are_reported_by_file_and_key(tmp_path: Path, body: str,
                                                          message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    found, problems = themes.load_themes([tmp_path])
    assert found == {}
    assert len(problems) == 1 and problems[0].startswith(str(path)) and message in problems[0]


async def test_severity_style_reads_the_theme() -> None:
    from console.models import Severity

    app = make_app(theme="ops-high-contrast")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        style = themes.severity_style(app, Severity.CRITICAL)
        assert style.color is not None and style.color.triplet.hex.lower() == "#ff00ff"
        assert style.bold
        assert not themes.severity_style(app, "info").bold


_WINDOW_CHROME = {"#ff5f57", "#febc2e", "#28c840"}  # the SVG's fake title-bar buttons


async def screenshot_colours(app: OpsConsoleApp) -> set[str]:
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        svg = app.export_screenshot()
    return {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b", svg)} - _WINDOW_CHROME


def _is_grey(colour: str) -> bool:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return max(r, g, b) - min(r, g, b) <= 3


async def test_no_color_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual's own NO_COLOR support (a monochrome filter) covers every pane and theme."""
    assert any(not _is_grey(c) for c in await screenshot_colours(make_app()))
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    assert app.no_color
    assert any(isinstance(f, Monochrome) for f in app._filters)
    colours = await screenshot_colours(app)
    assert colours and all(_is_grey(c) for c in colours), sorted(colours)


# --------------------------------------------------------------------------- zoom, wrap


def full_app(fleet: FakeFleet | None = None) -> OpsConsoleApp:
    fleet = fleet or FakeFleet(every_pane=True)
    return OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW)


def shown_frames(app: OpsConsoleApp) -> list[str]:
    return [spec.id for spec in app.panes
            if app.query_one(f"#frame-{spec.id}").display
            and app.query_one(f"#frame-{spec.id}").region.width > 0]


@pytest.mark.parametrize("size", [(160, 48), (80, 24)])
async def test_z_zooms_every_pane_and_z_or_esc_gives_the_grid_back(
        size: tuple[int, int]) -> None:
    app = full_app()
    async with app.run_test(size=size) as pilot:
        await loaded(pilot)
        wide = size[0] >= 120
        for spec in app.panes:
            await pilot.press(spec.key)
            await until(pilot, lambda spec=spec: app.active_pane == spec.id)
            await pilot.press("z")
            await until(pilot, lambda spec=spec: shown_frames(app) == [spec.id])
            frame = app.query_one(f"#frame-{spec.id}")
            # the zoomed pane fills the panes' area (below the header and the diagnosis
            # strip, above the footer)
            area = app.query_one("#panes").region
            assert frame.region.width == size[0] and frame.region.height >= area.height - 2
            assert area.height >= size[1] - 5
            assert not app.query_one("#pane-tabs").display
            assert app.focused is not None and frame in app.focused.ancestors_with_self
            await pilot.press("z" if spec.key in "13" else "escape")
            grid = [s.id for s in app.panes] if wide else [spec.id]  # narrow: the tab
            await until(pilot, lambda grid=grid: shown_frames(app) == grid)
        assert not app.zoomed


async def test_esc_in_a_zoomed_logs_pane_clears_the_filter_first() -> None:
    app = full_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await pilot.press("2", "z", "slash", *"JWT", "enter")
        logs = app.pane("logs")
        await until(pilot, lambda: logs.filter is not None and app.focused is logs.view)
        await pilot.press("escape")  # a filter to clear: that is all esc does
        await until(pilot, lambda: logs.filter is None)
        assert app.zoomed and shown_frames(app) == ["logs"]
        await pilot.press("escape")  # nothing left to clear: back to the grid
        await until(pilot, lambda: not app.zoomed)
        assert len(shown_frames(app)) == 4


async def test_zoom_and_unzoom_do_not_act_under_a_dialog() -> None:
    app = full_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert app.check_action("zoom", ()) is False
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        assert not app.zoomed


async def test_an_auth_message_is_readable_to_120_characters_on_the_first_screen() -> None:
    """160x50, no key pressed: the logs pane (a quarter of the screen) shows the message of
    an auth event to at least 120 characters, wrapped under its row; the source and the
    rule label stay on the row. ``w`` cuts it at the edge again."""
    from datetime import timedelta

    message = ("RuntimeError: CRITICAL: JWT_SECRET not configured; the backend exits and "
               "nginx reports connect() failed (111: Connection refused) while connecting "
               "to upstream")
    fleet = FakeFleet(every_pane=True)
    fleet.logs.feed("bravo", "crm2-backend-1", [message],
                    times=[FROZEN_NOW - timedelta(seconds=5)])
    app = full_app(fleet)
    async with app.run_test(size=(160, 50)) as pilot:
        await loaded(pilot)
        view = app.pane("logs").view
        await until(pilot, lambda: view.lines and view.lines[-1].text == message)
        await pilot.pause(0.1)
        drawn = [view.render_line(y).text for y in range(view.size.height)]
        first = next(i for i, row in enumerate(drawn) if "CRITICAL" in row)
        assert "bravo/…backend-1 no secret" in drawn[first]
        start = drawn[first].index("RuntimeError")
        text = drawn[first][start:].strip() + " " + " ".join(
            row.strip() for row in drawn[first + 1:first + 4] if row.startswith(" " * 9))
        assert text.startswith(message[:120]), text
        await pilot.press("w")
        await until(pilot, lambda: not app.pane("logs").wrap)
        assert view.row_count == len(view.lines)


# --------------------------------------------------------------------------- message flow


async def test_engine_changes_reach_the_panes_and_the_bar_as_messages() -> None:
    """A docker event becomes ``ServiceChanged`` at the containers pane; a server lost
    becomes ``HostChanged`` at the status bar and the panes. The listeners only post."""
    from console.ui.messages import HostChanged, ServiceChanged, post_change

    fleet = FakeFleet()
    seen: list[Any] = []
    app = make_app(fleet)
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        pane = await loaded(pilot)
        seen.clear()
        daemon = fleet.daemons["alpha"]
        daemon.docs["a1" * 32]["State"]["Health"]["Status"] = "unhealthy"
        daemon.emit("a1" * 32, "health_status: unhealthy")
        await until(pilot, lambda: any(r[0].strip() == "crm-backend-1" and r[2] == "unhealthy"
                                       for r in pane.row_texts()))
        assert any(isinstance(m, ServiceChanged) for m in seen)
        seen.clear()
        fleet.hosts["bravo"].set_state(ConnState.LOST, "connection reset")
        await until(pilot, lambda: any(isinstance(m, HostChanged) for m in seen))
        assert "bravo lost" in str(app.query_one("#status-bar").render())
        hosts = [m for m in seen if isinstance(m, HostChanged)]
        assert hosts and all(m.server == "bravo" for m in hosts)
        await until(pilot, lambda: any(r[1] == "lost" for r in pane.row_texts()))
        seen.clear()
        redraws: list[int] = []
        original = pane.redraw
        pane.redraw = lambda: (redraws.append(1), original())
        listener = post_change(pane)
        for _ in range(30):
            listener("alpha")
        await pilot.pause()
        assert len([m for m in seen if isinstance(m, ServiceChanged)]) == 1
        assert redraws == [1]
