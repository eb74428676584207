"""The strip's key acts on the container it names: the selection follows the diagnosis until
the operator moves it, and r/R's confirmation says what the diagnosis thinks of the row."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from rich.text import Text

from console.engine.actions.recreate import RecreatePlan
from console.engine.diagnosis import Evidence, Finding, Fix
from console.engine.diagnosis.targets import container_target, fix_note
from console.models import Severity
from console.ui.app import OpsConsoleApp
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.diagnosis import DiagnosisScreen
from console.ui.widgets.containers_pane import ContainersPane
from tests.support.clock import FROZEN_NOW
from tests.support.docker import FakeDaemon, inspect_doc
from tests.support.fleet import FakeFleet
from tests.support.ui import PLACEHOLDERS, loaded, strip_settled, until

pytestmark = pytest.mark.timeout(60)

BACKEND = "a1" * 32


def finding(finding_id: str, target: str, action: str, fix_target: str | None = None, *,
            server: str = "alpha", severity: Severity = Severity.ERROR) -> Finding:
    return Finding(finding_id, severity, server, target, f"{target} is broken",
                   (Evidence("containers", (server, target), "evidence"),),
                   Fix(action, fix_target or target, "why"))  # type: ignore[arg-type]


LISTED = {("alpha", "crm-backend-1"), ("alpha", "crm-nginx-1"), ("bravo", "crm-backend-1")}


def listed(server: str, name: str) -> bool:
    return (server, name) in LISTED


# --------------------------------------------------------------------------- pure


def test_the_target_is_the_first_finding_with_a_container_key() -> None:
    volume = finding("volume_missing", "crm_dbdata", "manual")
    nginx = finding("container_down", "crm-nginx-1", "restart")
    stale = finding("secret_stale_in_container", "crm-backend-1", "recreate")
    assert container_target([volume, stale, nginx], listed) == ("alpha", "crm-backend-1")
    assert container_target([volume, nginx, stale], listed) == ("alpha", "crm-nginx-1")


def test_without_a_container_key_the_first_finding_on_a_listed_container() -> None:
    endpoint = finding("endpoint_failing", "login api", "manual")
    loop = finding("crash_loop_missing_secret", "crm-backend-1", "manual", "JWT_SECRET",
                   server="bravo")
    assert container_target([endpoint, loop], listed) == ("bravo", "crm-backend-1")


def test_no_target_without_findings_or_with_none_listed() -> None:
    assert container_target([], listed) is None
    gone = finding("container_down", "crm-old-1", "restart")
    secret = finding("secret_missing", "JWT_SECRET", "manual")
    assert container_target([gone, secret], listed) is None


def test_the_note_names_the_finding_a_matching_key_fixes() -> None:
    stale = finding("secret_stale_in_container", "crm-backend-1", "recreate")
    note = fix_note([stale], "recreate", "alpha", "crm-backend-1")
    assert note is not None and note.matches
    assert note.text == "This is the diagnosis's fix for: crm-backend-1 is broken"


def test_the_note_says_where_the_fix_is_when_the_row_is_another() -> None:
    stale = finding("secret_stale_in_container", "crm-backend-1", "recreate")
    note = fix_note([stale], "recreate", "alpha", "crm-nginx-1")
    assert note is not None and not note.matches
    assert note.text == ("The diagnosis's fix is R on crm-backend-1 (alpha), not this "
                         "container.")
    other_server = fix_note([stale], "recreate", "bravo", "crm-backend-1")
    assert other_server is not None and not other_server.matches
    assert "R on crm-backend-1 (alpha), not this container" in other_server.text


def test_the_note_says_when_this_containers_fix_is_another_key() -> None:
    stale = finding("secret_stale_in_container", "crm-backend-1", "recreate")
    note = fix_note([stale], "restart", "alpha", "crm-backend-1")
    assert note is not None and not note.matches
    assert note.text == ("The diagnosis's fix for crm-backend-1 is R (recreate), not "
                         "r (restart).")
    loop = finding("crash_loop_missing_secret", "crm-backend-1", "manual", "JWT_SECRET")
    manual = fix_note([loop], "restart", "alpha", "crm-backend-1")
    assert manual is not None and "is by hand (see d), not r (restart)" in manual.text
    down = finding("container_down", "crm-nginx-1", "restart")
    both = fix_note([down, stale], "restart", "alpha", "crm-backend-1")
    assert both is not None and both.text == (
        "The diagnosis's fix is r on crm-nginx-1 (alpha), not this container; for "
        "crm-backend-1 the diagnosis's fix is R (recreate).")


def test_no_note_when_no_finding_concerns_the_key_or_the_container() -> None:
    assert fix_note([], "restart", "alpha", "crm-backend-1") is None
    stale = finding("secret_stale_in_container", "crm-backend-1", "recreate")
    assert fix_note([stale], "restart", "alpha", "crm-nginx-1") is None


# --------------------------------------------------------------------------- the app


def app_for(fleet: FakeFleet, **kwargs: Any) -> OpsConsoleApp:
    return OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW, **kwargs)


def stop_backend(fleet: FakeFleet) -> None:
    daemon = fleet.daemons["alpha"]
    daemon.docs[BACKEND]["State"].update({"Status": "exited", "ExitCode": 1})
    daemon.emit(BACKEND, "die")


def selected(app: OpsConsoleApp) -> str | None:
    pane = app.pane("containers")
    assert isinstance(pane, ContainersPane)
    info = pane.selected_container()
    return info.name if info is not None else None


def top_has(app: OpsConsoleApp, finding_id: str) -> bool:
    active = app.strip.view.active
    return bool(active) and active[0].finding.id == finding_id


def body(app: OpsConsoleApp) -> list[str]:
    screen = app.screen
    assert isinstance(screen, ConfirmScreen)
    return [line.plain for line in screen.body_lines]


async def test_the_selection_follows_the_strips_container_until_the_top_one_changes() -> None:
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await strip_settled(pilot)
        # The fixed fleet's only container key: r on the exited worker. The first row
        # (crm-backend-1) is where the cursor starts.
        await until(pilot, lambda: selected(app) == "crm-worker-1")
        stop_backend(fleet)
        await until(pilot, lambda: top_has(app, "backend_down_behind_proxy"))
        await until(pilot, lambda: selected(app) == "crm-backend-1")
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.title_text.plain == "Restart crm-backend-1 on alpha?"
        note = body(app)[0]
        assert note.startswith("This is the diagnosis's fix for: crm-backend-1 exited (1)")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert not any(c[0] == "restart" for c in fleet.daemons["alpha"].calls)


async def test_once_the_operator_moves_the_cursor_it_stays_and_r_says_the_mismatch() -> None:
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await until(pilot, lambda: selected(app) == "crm-worker-1")
        await pilot.press("1", "up")  # the operator's own choice: crm-nginx-1
        assert selected(app) == "crm-nginx-1"
        stop_backend(fleet)
        await until(pilot, lambda: top_has(app, "backend_down_behind_proxy"))
        await strip_settled(pilot)
        await pilot.pause(0.3)
        app.pane("containers").update_rows()  # a redraw does not move it either
        assert selected(app) == "crm-nginx-1"
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen.title_text.plain == "Restart crm-nginx-1 on alpha?"
        note = app.screen.body_lines[0]
        assert note.plain == ("The diagnosis's fix is r on crm-backend-1 (alpha) and 1 other, "
                              "not this container.")
        assert isinstance(note, Text) and "yellow" in str(note.style)
        await pilot.press("n")


async def test_a_click_on_a_row_is_the_operators_choice_too() -> None:
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await loaded(pilot)
        await until(pilot, lambda: selected(app) == "crm-worker-1")
        await pilot.click(ContainersPane, offset=(8, 3))  # header, alpha, crm, crm-backend-1
        await pilot.pause()
        assert pane.chosen and selected(app) == "crm-backend-1"
        assert pane.select_container_row("alpha", "crm-nginx-1")
        stop_backend(fleet)
        await until(pilot, lambda: top_has(app, "backend_down_behind_proxy"))
        await strip_settled(pilot)
        assert selected(app) == "crm-nginx-1"


def evidence_row(screen: DiagnosisScreen, row: tuple[str, str]) -> int:
    """The index of the screen's line that points at ``row`` in the containers pane, or -1."""
    return next((i for i, line in enumerate(screen._rows) if line.evidence is not None
                 and line.evidence.pane == "containers" and line.evidence.row == row), -1)


async def test_a_jump_from_d_is_the_operators_choice() -> None:
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await loaded(pilot)
        await until(pilot, lambda: selected(app) == "crm-worker-1")
        assert not pane.chosen
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DiagnosisScreen))
        screen = app.screen
        assert isinstance(screen, DiagnosisScreen)
        # The screen follows the strip: the bravo finding can land after d was pressed.
        await until(pilot, lambda: evidence_row(screen, ("bravo", "crm2-backend-1")) >= 0)
        index = evidence_row(screen, ("bravo", "crm2-backend-1"))
        screen.query_one("#diagnosis-list").highlighted = index  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: selected(app) == "crm2-backend-1")
        assert pane.chosen
        stop_backend(fleet)
        await until(pilot, lambda: top_has(app, "backend_down_behind_proxy"))
        await strip_settled(pilot)
        assert selected(app) == "crm2-backend-1"


async def test_no_finding_no_jump_and_no_note() -> None:
    daemons = {"alpha": FakeDaemon([
        inspect_doc(BACKEND, "crm-backend-1", service="backend"),
        inspect_doc("a2" * 32, "crm-nginx-1", service="nginx", health=None)]),
        "bravo": FakeDaemon([])}
    app = app_for(FakeFleet(daemons=daemons), pane_classes=dict(PLACEHOLDERS))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane("containers")
        await until(pilot, lambda: selected(app) == "crm-backend-1")
        await strip_settled(pilot)
        assert app.strip.view.active == ()
        pane.move_cursor(row=pane.cursor_row + 1)  # the nginx row, by the program
        await pilot.pause()
        assert selected(app) == "crm-nginx-1" and not pane.chosen
        await pilot.pause(0.6)
        assert selected(app) == "crm-nginx-1"
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert body(app)[0].startswith("Runs docker restart on alpha")
        assert not any("diagnosis" in line for line in body(app))
        await pilot.press("n")


def plan_for(container: str, service: str) -> RecreatePlan:
    return RecreatePlan(server="alpha", command=("docker-compose", "up", "-d"), container=None,
                        timeout=60.0, protected=False, project="crm", service=service,
                        working_dir="/srv/crm", replaces=container, compose="docker-compose",
                        compose_argv=("docker-compose", "up", "-d", "--no-deps",
                                      "--force-recreate", service))


async def test_R_on_another_row_than_the_findings_says_so_before_y() -> None:
    fleet = FakeFleet(every_pane=True)

    async def recreate_plan(server: str, container: str) -> RecreatePlan:
        return plan_for(container, container.split("-")[1])

    fleet.actions.recreate_plan = recreate_plan  # type: ignore[method-assign]
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        await until(pilot, lambda: selected(app) == "crm-worker-1")
        await pilot.press("R")  # the worker's finding is a restart, not a recreate
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert body(app)[0] == ("The diagnosis's fix for crm-worker-1 is r (restart), not "
                                "R (recreate).")
        await pilot.press("n")


def with_a_stale_backend(fleet: FakeFleet) -> None:
    """alpha's crm-backend-1 runs with an old SERVICE_SECRET: the finding's fix is R."""
    alpha = fleet.secrets.servers["alpha"]
    statuses = tuple(
        replace(s, status="stale", detail="SERVICE_SECRET: .env changed since crm-backend-1 "
                "was created (a restart keeps the old value): recreate")
        if s.name == "SERVICE_SECRET" and s.place == "container:crm-backend-1" else s
        for s in alpha.statuses)
    fleet.secrets.servers["alpha"] = replace(alpha, statuses=statuses)


async def test_R_from_d_acts_on_the_findings_target_and_the_note_names_the_finding() -> None:
    fleet = FakeFleet(every_pane=True)
    with_a_stale_backend(fleet)
    asked: list[str] = []

    async def recreate_plan(server: str, container: str) -> RecreatePlan:
        asked.append(container)
        return plan_for(container, container.split("-")[1])

    fleet.actions.recreate_plan = recreate_plan  # type: ignore[method-assign]
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        pane = await loaded(pilot)
        await until(pilot, lambda: any(t.finding.id == "secret_stale_in_container"
                                       for t in app.strip.view.active))
        assert pane.select_container_row("alpha", "crm-nginx-1")  # the operator's row
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DiagnosisScreen))
        screen = app.screen
        assert isinstance(screen, DiagnosisScreen)
        index = next(i for i, row in enumerate(screen._rows) if row.evidence is None
                     and row.finding.id == "secret_stale_in_container")
        screen.query_one("#diagnosis-list").highlighted = index  # type: ignore[attr-defined]
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert asked == ["crm-backend-1"]
        assert body(app)[0].startswith("This is the diagnosis's fix for: crm-backend-1 runs "
                                       "with an old SERVICE_SECRET")
        await pilot.press("n")
        assert selected(app) == "crm-nginx-1"
