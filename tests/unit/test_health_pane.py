"""The health pane and its detail view: what the operator reads, and that it stays literal.

Most tests drive a fake service (states pushed by hand, so each cell is predictable); two
use the real ``HealthService`` against local servers to show the whole path, including a
probe that hangs while the UI keeps answering keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textual.app import App
from textual.widgets import Static

from console.config import Config, ConsoleSettings, HealthCheck, ServerConfig
from console.engine.health import EndpointState, HealthChange, HealthService, HealthSnapshot
from console.models import HealthResult
from console.ui.screens.health_detail import HealthDetailScreen, detail_sections
from console.ui.widgets.health_pane import (
    NO_ENDPOINTS,
    SPARK_GAP,
    SPARK_WIDTH,
    HealthPane,
    format_ago,
    sparkline,
)
from tests.support.fleet import BareFleet
from tests.support.hosts import TunnelHost
from tests.support.http import fixed, http_response, never, serve
from tests.support.ui import PaneApp

NOW = datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC)
NASTY_BODY = ("<html>[bold]boom[/bold] [/foo] \x1b[2J\x1b]52;c;ZXZpbA==\x07\n"
              "line two</html>")


def result(name: str, klass: str, *, ok: bool = False, status: int | None = None,
           reason: str = "", latency: float | None = 12.0, cert: int | None = None,
           headers: tuple[tuple[str, str], ...] = (), body: bytes = b"",
           server: str = "alpha") -> HealthResult:
    return HealthResult(server=server, name=name, url=f"http://127.0.0.1:8000/{name}", ok=ok,
                        klass=klass, reason=reason or klass, status=status, latency_ms=latency,
                        checked_at=NOW - timedelta(seconds=5), cert_days_left=cert,
                        headers=headers, body_preview=body)


def state(res: HealthResult | None, *, name: str | None = None, server: str = "alpha",
          latencies: tuple[float | None, ...] = (10.0, 20.0, None, 40.0),
          changed: timedelta = timedelta(minutes=4, seconds=5)) -> EndpointState:
    name = name or (res.name if res else "pending")
    return EndpointState(server=server, name=name, url=f"http://127.0.0.1:8000/{name}",
                         from_="server", discovered=False, result=res, latencies=latencies,
                         changed_at=NOW - changed if res else None, runs=len(latencies))


def probed(state: EndpointState) -> HealthChange:
    """The change event the service sends after probing ``state``'s endpoint."""
    return HealthChange("health", state.server, endpoint=state)


class FakeHealth:
    """Stands in for HealthService: the test sets the states and fires the callback."""

    def __init__(self, states: list[EndpointState], notes: dict[str, str] | None = None
                 ) -> None:
        self.states = states
        self.notes = notes or {}
        self.listeners: list[Callable[[EndpointState], None]] = []

    def snapshot(self) -> HealthSnapshot:
        return HealthSnapshot(endpoints=tuple(self.states), discovery_notes=dict(self.notes))

    def subscribe(self, callback: Callable[[HealthChange], None]) -> Callable[[], None]:
        self.listeners.append(callback)
        return lambda: self.listeners.remove(callback)

    def push(self, new: EndpointState) -> None:
        self.states = [new if s.key == new.key else s for s in self.states]
        for listener in list(self.listeners):
            listener(probed(new))


def fleet_with(health: Any, servers: tuple[str, ...] = ("alpha",), hosts: Any = None) -> Any:
    config = Config(console=ConsoleSettings(),
                    servers=tuple(ServerConfig(name=n) for n in servers),
                    source=Path("t.toml"))
    return BareFleet(config, health=health, hosts=hosts or {})


def pane_app(fleet: Any, clock: Callable[[], datetime] | None = lambda: NOW) -> PaneApp:
    """The health pane alone (as ``#health``), on the frozen clock unless told otherwise."""
    return PaneApp(fleet, lambda f: HealthPane(f, id="health"), clock=clock)


def texts(app: App[Any]) -> list[tuple[str, ...]]:
    return app.query_one(HealthPane).row_texts()


PROXY_502 = result(
    "login", "proxy_bad_gateway", status=502, latency=3.2,
    reason="nginx answered 502: proxy up, backend down",
    headers=(("server", "nginx/1.22.1"), ("x-evil", "[red]x[/red] \x1b[31m")),
    body=NASTY_BODY.encode())
OK = result("health", "ok", ok=True, status=200, reason="200 OK in 12 ms", cert=40)


# --------------------------------------------------------------------------- pure helpers


def test_sparkline_scales_from_zero_and_shows_gaps() -> None:
    line = sparkline([0.0, 50.0, None, 100.0])
    assert line.plain == f"▁▅{SPARK_GAP}█"
    assert sparkline([5.0, 5.0, 5.0]).plain == "███"
    assert sparkline([None, None]).plain == SPARK_GAP * 2
    assert len(sparkline([1.0] * 40, width=16).plain) == 16


def test_format_ago() -> None:
    assert [format_ago(s) for s in (None, 5, 47, 65, 3 * 3600 + 60, 2 * 86400 + 4 * 3600)
            ] == ["-", "<10s", "40s", "1m", "3h 01m", "2d 04h"]


# --------------------------------------------------------------------------- the pane


async def test_rows_show_state_reason_code_latency_history_age_and_cert() -> None:
    health = FakeHealth([state(PROXY_502), state(OK, latencies=(10.0, 12.0))])
    app = pane_app(fleet_with(health))
    async with app.run_test(size=(160, 30)):
        rows = texts(app)
    assert rows[0][0] == "▾ alpha" and rows[0][1] == "1 failing"
    login = next(r for r in rows if r[0].strip() == "login")
    assert login[1:5] == ("proxy 502", "nginx answered 502: proxy up, backend down", "502",
                          "3.2 ms")
    assert login[5] == f"▃▅{SPARK_GAP}█"
    assert login[6] == "4m"
    assert login[7] == ""
    ok = next(r for r in rows if r[0].strip() == "health")
    assert ok[1:5] == ("ok", "200 OK in 12 ms", "200", "12 ms") and ok[7] == "40d"


async def test_server_text_is_literal_in_the_table() -> None:
    nasty = result("[bold]api[/bold]", "app_5xx", status=500,
                   reason="the app answered 500: [/foo] \x1b[2J")
    app = pane_app(fleet_with(FakeHealth([state(nasty)])))
    async with app.run_test(size=(160, 30)):
        row = texts(app)[1]
    assert row[0].strip() == "[bold]api[/bold]"
    assert row[2] == "the app answered 500: [/foo] \\x1b[2J"


async def test_pending_and_empty_states() -> None:
    app = pane_app(fleet_with(FakeHealth([state(None, name="api", latencies=())])))
    async with app.run_test(size=(160, 30)):
        row = texts(app)[1]
    assert row[1] == "pending" and row[2] == "waiting for the first probe"
    empty = pane_app(fleet_with(FakeHealth([])))
    async with empty.run_test(size=(160, 30)):
        assert texts(empty) == [(NO_ENDPOINTS, "", "", "", "", "", "", "")]


async def test_discovery_note_and_a_down_server() -> None:
    health = FakeHealth([state(result("api", "unreachable", reason="server bravo lost"),
                               server="bravo")],
                        notes={"alpha": "cannot list published ports: Docker socket not found"})
    bravo = TunnelHost("bravo", up=False)
    app = pane_app(fleet_with(health, servers=("alpha", "bravo"), hosts={"bravo": bravo}))
    async with app.run_test(size=(160, 30)):
        rows = texts(app)
    assert rows[0][0] == "▾ alpha" and "Docker socket not found" in rows[0][2]
    assert rows[1][0] == "▾ bravo" and rows[1][1] == "lost"
    assert "connection reset by peer" in rows[1][2]
    assert rows[2][1] == "server down"


async def test_live_update_changes_cells_in_place_and_keeps_the_cursor() -> None:
    first = state(PROXY_502)
    health = FakeHealth([first, state(OK)])
    app = pane_app(fleet_with(health))
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one(HealthPane)
        assert pane.select_endpoint("alpha", "health")
        cursor = pane.cursor_row
        health.push(replace(first, result=replace(PROXY_502, klass="ok", ok=True, status=200,
                                                  reason="200 OK in 4 ms")))
        await pilot.pause(HealthPane.COALESCE_S + 0.2)
        login = next(r for r in texts(app) if r[0].strip() == "login")
        assert pane.cursor_row == cursor
        assert pane.selected_server() == "alpha"
    assert login[1:4] == ("ok", "200 OK in 4 ms", "200")


async def test_the_columns_stay_put_while_the_history_fills(monkeypatch) -> None:
    """One latency a round: the sparkline grows a bar each time for its first minute, and
    the columns to its right must not move with it."""
    monkeypatch.setattr(HealthPane, "COALESCE_S", 0.05)
    first = state(OK, latencies=(10.0,))
    health = FakeHealth([first])
    app = pane_app(fleet_with(health))
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one(HealthPane)
        await pilot.pause()
        widths = [column.get_render_width(pane) for column in pane.columns.values()]
        for runs in range(2, SPARK_WIDTH + 2):
            health.push(replace(first, latencies=(10.0,) * runs, runs=runs))
            await pilot.pause(HealthPane.COALESCE_S + 0.1)
            assert [column.get_render_width(pane) for column in pane.columns.values()] == widths
        row = next(r for r in texts(app) if r[0].strip() == "health")
        assert len(row[5]) == SPARK_WIDTH  # the history column is full now


async def test_the_changed_column_ticks_without_a_new_result(monkeypatch) -> None:
    monkeypatch.setattr("console.ui.widgets.health_pane.AGO_TICK_S", 0.2)
    now = [NOW]
    app = pane_app(fleet_with(FakeHealth([state(PROXY_502, changed=timedelta(seconds=15))])),
                  clock=lambda: now[0])
    async with app.run_test(size=(160, 30)) as pilot:
        assert texts(app)[1][6] == "10s"
        now[0] = NOW + timedelta(seconds=10)
        await pilot.pause(0.5)
        assert texts(app)[1][6] == "20s"


async def test_enter_on_a_failing_probe_shows_headers_and_body_literally() -> None:
    app = pane_app(fleet_with(FakeHealth([state(PROXY_502), state(OK)])))
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(HealthPane)
        pane.focus()
        assert pane.select_endpoint("alpha", "login")
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HealthDetailScreen)
        body = screen.query_one("#detail-body", Static).render()  # Content, already parsed
        headers = screen.query_one("#detail-headers", Static).render()
        assert "[bold]boom[/bold] [/foo] \\x1b[2J\\x1b]52;c;ZXZpbA==\\x07" in body.plain
        assert "\nline two</html>" in body.plain  # newlines kept: the page reads as a page
        assert "\x1b" not in body.plain and "\x07" not in body.plain
        assert "x-evil: [red]x[/red] \\x1b[31m" in headers.plain
        assert "server: nginx/1.22.1" in headers.plain
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HealthDetailScreen)


async def test_enter_on_a_server_row_or_pending_probe_opens_nothing() -> None:
    app = pane_app(fleet_with(FakeHealth([state(None, name="api", latencies=())])))
    async with app.run_test(size=(140, 40)) as pilot:
        pane = app.query_one(HealthPane)
        pane.focus()
        await pilot.press("enter")
        assert pane.select_endpoint("alpha", "api")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, HealthDetailScreen)


def test_detail_of_a_network_failure_says_there_was_no_answer() -> None:
    refused = result("api", "refused", reason="connection refused by 127.0.0.1:8000",
                     latency=0.4)
    sections = dict(detail_sections(state(refused), NOW))
    assert "no HTTP answer" in sections["summary"].plain
    assert "connection refused by 127.0.0.1:8000" in sections["summary"].plain
    assert "No response" in sections["headers"].plain and "body" not in sections


# --------------------------------------------------------------------------- with the service


def service(checks: list[HealthCheck]) -> tuple[Any, HealthService]:
    server = ServerConfig(name="local", health=tuple(checks))
    config = Config(console=ConsoleSettings(), servers=(server,), source=Path("t.toml"))
    svc = HealthService(config, {}, seed=3)
    return BareFleet(config, health=svc), svc


async def test_real_service_results_reach_the_pane() -> None:
    page = http_response(502, "<center>nginx</center>", {"Server": "nginx"},
                         content_type="text/html")
    async with serve(page) as srv:
        fleet, svc = service([HealthCheck(name="login", url=srv.url(), timeout=2.0)])
        app = pane_app(fleet, clock=None)
        try:
            async with app.run_test(size=(160, 30)) as pilot:
                await svc.refresh()
                await pilot.pause(HealthPane.COALESCE_S + 0.2)
                row = texts(app)[1]
        finally:
            await svc.stop()
    assert row[1:4] == ("proxy 502", "nginx answered 502: proxy up, backend down", "502")


async def test_a_hanging_probe_never_freezes_the_pane() -> None:
    async with serve(fixed(http_response(200, "{}"))) as good, serve(never) as bad:
        fleet, svc = service([
            HealthCheck(name="hangs", url=bad.url(), timeout=30.0, interval=60.0),
            HealthCheck(name="fine", url=good.url(), timeout=2.0, interval=0.2),
        ])
        app = pane_app(fleet, clock=None)
        try:
            async with app.run_test(size=(160, 30)) as pilot:
                await svc.start()
                pane = app.query_one(HealthPane)
                pane.focus()
                started = asyncio.get_running_loop().time()
                for _ in range(6):
                    await pilot.press("down")
                    await pilot.press("up")
                await asyncio.sleep(1.0)
                await pilot.pause()
                elapsed = asyncio.get_running_loop().time() - started
                rows = {r[0].strip(): r for r in texts(app)}
        finally:
            await svc.stop()
    assert elapsed < 3.0
    assert rows["hangs"][1] == "pending"
    assert rows["fine"][1] == "ok" and rows["fine"][5].count("█") >= 1


async def test_news_is_drawn_at_once_and_a_routine_round_is_gathered() -> None:
    ok_state = state(OK)
    health = FakeHealth([state(PROXY_502), ok_state])
    app = pane_app(fleet_with(health))
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one(HealthPane)
        # a new latency for an endpoint that stays ok: gathered for COALESCE_S
        assert pane.coalesce_delay(probed(replace(ok_state, latencies=(1.0,)))) \
            == HealthPane.COALESCE_S
        # the same endpoint failing: news, drawn on the next turn of the loop
        failing = replace(ok_state, result=replace(OK, klass="proxy_bad_gateway", ok=False))
        assert pane.coalesce_delay(probed(failing)) == 0.0
        health.push(failing)
        await pilot.pause(0.1)
        row = next(r for r in texts(app) if r[0].strip() == ok_state.name)
    assert row[1] == "proxy 502"


# --------------------------------------------------------------------------- message flow


async def test_each_probe_result_arrives_as_a_message_and_a_burst_collapses() -> None:
    from console.ui.messages import ServiceChanged

    ok_state = state(OK)
    health = FakeHealth([state(PROXY_502), ok_state])
    seen: list[Any] = []
    app = pane_app(fleet_with(health))
    async with app.run_test(size=(160, 30), message_hook=seen.append) as pilot:
        await pilot.pause()
        seen.clear()
        failing = replace(ok_state, result=replace(OK, klass="proxy_bad_gateway", ok=False))
        health.push(failing)
        await pilot.pause(0.1)
        changes = [m for m in seen if isinstance(m, ServiceChanged)]
        assert [m.change.endpoint for m in changes] == [failing]  # a HealthChange
        row = next(r for r in texts(app) if r[0].strip() == ok_state.name)
        assert row[1] == "proxy 502"  # news: drawn as the message was handled
        seen.clear()
        for latency in range(10):  # a round of routine results, all in one turn
            health.push(replace(failing, latencies=(float(latency),)))
        await pilot.pause(0.1)
        assert len([m for m in seen if isinstance(m, ServiceChanged)]) == 1
