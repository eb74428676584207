"""The secrets pane, headless, over a real SecretService with fake hosts and Docker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from textual.app import App

from console.config import SecretsConfig, ServerConfig
from console.engine.secrets import SecretService
from console.models import ConnState
from console.ui.widgets.secrets_pane import SecretsPane, short_place
from tests.support.docker import FakeDaemon, fake_clients
from tests.support.fleet import BareFleet
from tests.support.hosts import FakeHost
from tests.support.secrets import STRONG, STRONG2, World, config_of
from tests.support.ui import PaneApp

pytestmark = pytest.mark.timeout(60)
FROZEN = datetime(2026, 11, 24, 8, 0, 30, tzinfo=UTC)


def pane_app(fleet: Any, clock: Any = None) -> PaneApp:
    """The secrets pane alone (as ``#pane``), on the frozen clock unless told otherwise."""
    return PaneApp(fleet, lambda f: SecretsPane(f, id="pane"), clock=clock or (lambda: FROZEN))


def fleet_of(world: World) -> BareFleet:
    return BareFleet(secrets=world.service(), hosts=world.hosts)


def screen_text(app: App[Any]) -> str:
    return app.export_screenshot()


def test_short_place() -> None:
    assert short_place("/srv/ops-lab/crm/.env") == "crm/.env"
    assert short_place("container:crm-backend-1") == "crm-backend-1"
    assert short_place(".env") == ".env"


async def test_matrix_has_a_glyph_and_a_word_per_cell_and_marks_drift() -> None:
    world = World()
    del world.alpha_env["SERVICE_SECRET"]
    world.alpha_env["DATABASE_URL"] = ""
    world.bravo_env["JWT_SECRET"] = "changeme"
    container = dict(world.bravo_env)
    del container["SERVICE_SECRET"]
    world.sync(container_bravo=container)
    fleet = fleet_of(world)
    await fleet.secrets.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(SecretsPane)
        await pilot.pause()
        lines = pane.plain_lines()
        text = "\n".join(lines)
        header = next(line for line in lines if "alpha" in line and "bravo" in line)
        assert "crm/.env" in text and "crm-backend-1" in text and "crm2/.env" in text
        jwt = next(line for line in lines if line.startswith("JWT_SECRET"))
        assert "≠ drift" in jwt and "! weak" in jwt and "≠ present" in jwt
        service = next(line for line in lines if line.startswith("SERVICE_SECRET"))
        assert "✗ missing" in service and "↻ restart" in service and "✓ present" in service
        database = next(line for line in lines if line.startswith("DATABASE_URL"))
        assert database.count("∅ empty") == 2
        # the why-lines explain each finding in words
        assert "! JWT_SECRET · bravo crm2/.env: weak — a known placeholder" in text
        assert ("≠ JWT_SECRET drift: 2 different values where one is required: "
                "A = alpha /srv/crm/.env, alpha crm-backend-1; "
                "B = bravo /srv/crm2/.env, bravo crm2-backend-1") in text
        # a weak cell's line gives its own reason, not the drift note again
        weak_line = next(line for line in lines if line.startswith("! JWT_SECRET · bravo"))
        assert "drift" not in weak_line
        # cells that are only drifting get no line of their own: the drift line covers them
        assert not any(line.startswith("✓ JWT_SECRET") for line in lines)
        assert "↻ SERVICE_SECRET · bravo crm2-backend-1: not in container — set in " \
               "/srv/crm2/.env" in text
        assert header
        shot = screen_text(app)
        assert "drift" in shot and "restart" in shot
        for value in (STRONG, STRONG2, "changeme"):
            assert value not in text and value not in shot
        assert pane.can_focus


async def test_down_server_is_said_in_words_and_rows_are_kept_as_last_known() -> None:
    world = World()
    fleet = fleet_of(world)
    await fleet.secrets.refresh()
    app = pane_app(fleet, clock=lambda: datetime.now(UTC))
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(SecretsPane)
        world.hosts["bravo"].set_state(ConnState.LOST, "connection reset by peer")
        await pilot.pause()
        text = "\n".join(pane.plain_lines())
        assert "bravo  lost 0s ago: connection reset by peer" in text
        assert "showing the last check" in text
        assert "alpha  all required secrets fine" in text


async def test_volumes_and_unreadable_places_are_listed() -> None:
    world = World()
    world.hosts["alpha"].files["/srv/crm/.env"] = PermissionError(13, "denied")
    fleet = fleet_of(world)
    await fleet.secrets.refresh()
    daemon = world.daemons["bravo"]
    del daemon.docs["id-crm2-backend-1"]
    del daemon.volumes["crm2_dbdata"]
    await fleet.secrets.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(SecretsPane)
        await pilot.pause()
        text = "\n".join(pane.plain_lines())
        assert "? unreadable" in text
        assert "? alpha /srv/crm/.env: cannot be read: permission denied" in text
        assert "crm_dbdata" in text and "✓ present" in text
        volume = next(line for line in pane.plain_lines() if "crm2_dbdata" in line)
        assert "✗ missing" in volume and "gone now" in volume


async def test_server_text_is_shown_literally_never_as_markup_or_escapes() -> None:
    host = FakeHost("local")
    daemon = FakeDaemon()
    evil = "evil[/foo][bold]x\x1b[2J\x1b]52;c;aGk=\x07"
    daemon.add(evil, {"JWT_SECRET": STRONG}, project=None, working_dir=None)
    config = config_of(ServerConfig(name="local", secrets=SecretsConfig(infer=True)))
    service = SecretService(config, {"local": host}, clients=fake_clients({"local": daemon}))
    await service.refresh()
    app = pane_app(BareFleet(secrets=service, hosts={"local": host}))
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.query_one(SecretsPane)
        await pilot.pause()
        text = "\n".join(pane.plain_lines())
        assert "evil[/foo][bold]x\\x1b[2J\\x1b]52;c;aGk=\\x07" in text
        assert "\x1b" not in text
        assert app.is_running


async def test_live_updates_reach_the_pane() -> None:
    world = World()
    service = SecretService(world.config, world.hosts, clients=fake_clients(world.daemons),
                            interval=60)
    app = pane_app(BareFleet(secrets=service, hosts=world.hosts))
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(SecretsPane)
        await pilot.pause()
        assert "checking…" in "\n".join(pane.plain_lines())
        await service.start()
        try:
            for _ in range(100):
                await pilot.pause(0.02)
                if "all required secrets fine" in "\n".join(pane.plain_lines()):
                    break
            text = "\n".join(pane.plain_lines())
            assert "alpha  all required secrets fine" in text
            del world.alpha_env["JWT_SECRET"]
            world.sync()
            await pilot.press("f5")
            for _ in range(100):
                await pilot.pause(0.02)
                if "secret finding" in "\n".join(pane.plain_lines()):
                    break
            assert "alpha  2 secret findings" in "\n".join(pane.plain_lines())
        finally:
            await service.stop()


async def test_without_a_secrets_service_the_pane_says_so() -> None:
    app = pane_app(BareFleet(hosts={}))
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.pause()
        assert app.query_one(SecretsPane).plain_lines() == ["secrets service not available"]


# --------------------------------------------------------------------------- message flow


async def test_a_burst_of_service_changes_is_one_message_and_one_redraw() -> None:
    """The service's listener only posts ``ServiceChanged``; twenty calls in one turn of
    the loop are handled as one message (``can_replace``), so the pane redraws once."""
    import dataclasses

    from console.ui.messages import ServiceChanged
    from tests.support.fleet import StaticSecrets

    class Subscribed(StaticSecrets):
        def __init__(self) -> None:
            super().__init__()
            self.listeners: list[Any] = []

        def subscribe(self, callback: Any) -> Any:
            self.listeners.append(callback)
            return lambda: self.listeners.remove(callback)

    service = Subscribed()
    seen: list[Any] = []
    app = pane_app(BareFleet(secrets=service, hosts={}))
    async with app.run_test(size=(160, 40), message_hook=seen.append) as pilot:
        pane = app.query_one(SecretsPane)
        await pilot.pause()
        assert "all required secrets fine" not in "\n".join(pane.plain_lines())
        redraws: list[int] = []
        original = pane.redraw
        pane.redraw = lambda: (redraws.append(1), original())  # type: ignore[method-assign]
        seen.clear()
        service.servers["bravo"] = dataclasses.replace(
            service.servers["bravo"], state="unavailable", error="[bold]disk on fire")
        for _ in range(20):
            service.listeners[0]("bravo")
        assert redraws == []  # nothing is drawn inside the engine's callback
        await pilot.pause()
        changes = [m for m in seen if isinstance(m, ServiceChanged)]
        assert len(changes) == 1 and changes[0].change == "bravo"
        assert redraws == [1]
        assert any("unavailable: [bold]disk on fire" in line for line in pane.plain_lines())
