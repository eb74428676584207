"""The diagnosis strip and the d screen, over the fake fleet: driven by change events."""

from __future__ import annotations

from typing import Any

import pytest

from console.ui.app import OpsConsoleApp
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.diagnosis import DiagnosisScreen
from console.ui.widgets.diagnosis_strip import DiagnosisStrip
from tests.support.clock import FROZEN_NOW
from tests.support.docker import FakeDaemon, inspect_doc
from tests.support.fleet import FakeFleet
from tests.support.ui import PLACEHOLDERS, loaded, messages, until

pytestmark = pytest.mark.timeout(60)

BACKEND = "a1" * 32


def app_for(fleet: FakeFleet, *, placeholders: bool = False) -> OpsConsoleApp:
    return OpsConsoleApp(fleet.config, fleet, clock=lambda: FROZEN_NOW,
                         pane_classes=dict(PLACEHOLDERS) if placeholders else None)


def strip_text(app: OpsConsoleApp) -> str:
    return str(app.query_one(DiagnosisStrip).render_view(200, True))


def ids(app: OpsConsoleApp) -> list[str]:
    return [t.finding.id for t in app.query_one(DiagnosisStrip).view.active]


def stop_backend(fleet: FakeFleet) -> None:
    daemon = fleet.daemons["alpha"]
    daemon.docs[BACKEND]["State"].update({"Status": "exited", "ExitCode": 1})
    daemon.emit(BACKEND, "die")


async def test_a_stopped_backend_behind_the_502_appears_from_the_change_event() -> None:
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        strip = app.query_one(DiagnosisStrip)
        await until(pilot, lambda: strip.runs > 0)
        assert "backend_down_behind_proxy" not in ids(app)
        runs = strip.runs
        stop_backend(fleet)
        await until(pilot, lambda: "backend_down_behind_proxy" in ids(app))
        assert strip.runs > runs
        top = strip.view.active[0].finding
        assert top.target == "crm-backend-1" and top.fix.key == "r"
        assert "[r restart]" in strip_text(app) and "crm-backend-1 exited (1)" in strip_text(app)


async def test_the_strip_is_one_line_with_plus_n_more_at_80x24() -> None:
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        strip = app.query_one(DiagnosisStrip)
        await until(pilot, lambda: len(strip.view.active) > 1)
        text = str(strip.render_view(80, False))
        assert "\n" not in text and len(text) <= 78
        assert text.endswith(f"+{len(strip.view.active) - 1} more (d)")
        assert strip.region.height == 1
        roomy = str(strip.render_view(160, True))
        assert roomy.count("\n") == min(3, len(strip.view.active)) - 1


async def test_no_findings_when_all_is_well() -> None:
    daemons = {"alpha": FakeDaemon([inspect_doc(BACKEND, "crm-backend-1", service="backend")]),
               "bravo": FakeDaemon([])}
    app = app_for(FakeFleet(daemons=daemons), placeholders=True)
    async with app.run_test(size=(120, 40)) as pilot:
        strip = app.query_one(DiagnosisStrip)
        await until(pilot, lambda: strip.runs > 1 and all(
            s.state == "ok" for s in app.fleet.containers.snapshot().values()))
        await pilot.pause(0.6)
        assert strip.view.active == ()
        assert strip_text(app) == "✓ no findings"
        assert strip._ticker is not None and not strip._ticker._active.is_set()


async def test_d_lists_the_evidence_and_enter_jumps_to_the_row() -> None:
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        stop_backend(fleet)
        await until(pilot, lambda: "backend_down_behind_proxy" in ids(app))
        app.pane("logs").focus()
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DiagnosisScreen))
        screen = app.screen
        assert isinstance(screen, DiagnosisScreen)
        rows = screen._rows
        assert rows[0].finding.id == "backend_down_behind_proxy" and rows[0].evidence is None
        assert rows[1].evidence is not None and rows[1].evidence.pane == "containers"
        await pilot.press("down")
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, DiagnosisScreen))
        pane = app.pane("containers")
        await until(pilot, lambda: (pane.selected_container() or None) is not None
                    and pane.selected_container().name == "crm-backend-1")
        assert app.active_pane == "containers"


async def test_the_fix_key_in_d_confirms_a_restart_of_the_findings_target() -> None:
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        pane = app.pane("containers")
        assert pane.select_container_row("alpha", "crm-nginx-1")  # another row is selected
        stop_backend(fleet)
        await until(pilot, lambda: "backend_down_behind_proxy" in ids(app))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DiagnosisScreen))
        await pilot.press("m")  # not this finding's fix: said, nothing run
        await pilot.pause()
        assert any("not migrate" in m for m in messages(app))
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Restart crm-backend-1 on alpha" in app.screen.title_text.plain
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert not any(c[0] == "restart" for c in fleet.daemons["alpha"].calls)


async def test_a_manual_fix_only_shows_its_words() -> None:
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        strip = app.query_one(DiagnosisStrip)
        await until(pilot, lambda: any(t.finding.fix.action == "manual"
                                       for t in strip.view.active))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DiagnosisScreen))
        screen: Any = app.screen
        index = next(i for i, r in enumerate(screen._rows)
                     if r.evidence is None and r.finding.fix.action == "manual")
        screen.query_one("OptionList").highlighted = index
        await pilot.press("r")
        await pilot.pause()
        assert any(m.startswith("This finding's fix is manual") or m.startswith("By hand:")
                   for m in messages(app))
        assert isinstance(app.screen, DiagnosisScreen)


async def test_a_diagnosis_that_finds_the_same_leaves_the_strip_alone() -> None:
    """Static.update lays the screen out again; a monitoring source re-diagnoses every
    scrape interval, so an unchanged diagnosis must not update the strip."""
    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        strip = app.query_one(DiagnosisStrip)
        await until(pilot, lambda: strip.runs > 0)
        updates: list[object] = []
        original = strip.update
        strip.update = lambda *args, **kwargs: (updates.append(args),  # type: ignore[method-assign]
                                                original(*args, **kwargs))[1]
        strip.rediagnose()
        updates.clear()  # the first may differ from the strip's last (its width, its time)
        strip.rediagnose()
        strip.rediagnose()
        assert updates == [] and strip.runs >= 3
        stop_backend(fleet)
        await until(pilot, lambda: "backend_down_behind_proxy" in ids(app))
        assert len(updates) >= 1 and "crm-backend-1 exited (1)" in str(updates[-1][0])


async def test_a_change_after_a_quiet_spell_is_diagnosed_at_once_and_a_burst_coalesced(
        ) -> None:
    """The first change of an incident is not held back by the coalescing window; the
    changes that follow it within the window cost one more diagnosis, not one each."""
    from console.engine.contracts import Change
    from console.ui.widgets import diagnosis_strip

    fleet = FakeFleet(every_pane=True)
    app = app_for(fleet, placeholders=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await loaded(pilot)
        strip = app.query_one(DiagnosisStrip)
        await until(pilot, lambda: strip.runs > 0 and not strip.pending)
        await pilot.pause(diagnosis_strip.COALESCE_S + 0.1)
        runs = strip.runs
        strip._on_change(Change("health", "alpha"))
        await pilot.pause()
        assert strip.runs == runs + 1 and not strip.pending  # at once, no timer
        for _ in range(20):
            strip._on_change(Change("health", "alpha"))
        await pilot.pause()
        assert strip.pending and strip.runs == runs + 1
        await until(pilot, lambda: not strip.pending)
        assert strip.runs == runs + 2
