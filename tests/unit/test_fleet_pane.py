"""The fleet pane on answers recorded from the lab's real engines: order, filter, groups,
enter on a configured server, a source that stops answering, and hostile label values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from console.config import Config, ConsoleSettings, PrometheusConfig, ServerConfig
from console.engine.fleet_sources import FleetSourceService
from console.ui.widgets.fleet_pane import FleetPane
from console.ui.widgets.fleet_view import matching_server, target_host
from tests.support.fleet import BareFleet
from tests.support.prometheus import lab_handler, metrics_of, recorded_now
from tests.support.ui import PaneApp

PROM = "http://prom.test:9090"


class PaneFleet(BareFleet):
    """What the fleet pane reads of the Fleet: config, hosts, fleet_sources, activate."""

    def __init__(self, handler: Any, servers: tuple[ServerConfig, ...] = ()) -> None:
        config = Config(console=ConsoleSettings(), servers=servers, prometheus=(
            PrometheusConfig(name="lab", url=PROM, alertmanager_url="http://am.test:9093"),))
        sources = FleetSourceService(config, transport=httpx.MockTransport(handler),
                                     clock=recorded_now)
        super().__init__(config, fleet_sources=sources)
        self.fleet_sources: FleetSourceService = sources


def pane_app(fleet: PaneFleet) -> PaneApp:
    """The fleet pane alone; the panes it asks the app to focus are recorded."""
    return PaneApp(fleet, FleetPane)


def table_rows(app: App[None]) -> list[list[str]]:
    table = app.query_one("#fleet-table", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def one_target(values: Callable[[], dict[str, str]],
               labels: Callable[[], dict[str, str]] = dict,
               ) -> Callable[[httpx.Request], httpx.Response]:
    """Prometheus answering for one target (``http://a/`` of job ``blackbox``): each query
    gets ``values()`` by metric and ``labels()`` on every series, as they are at the time of
    the request; the other endpoints answer as the lab's engines did."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/v1/query":
            return lab_handler(request)
        now, extra = values(), labels()
        result = [{"metric": {"__name__": metric, "job": "blackbox", "instance": "http://a/",
                              **extra}, "value": [1, now[metric]]}
                  for metric in metrics_of(request) if metric in now]
        return httpx.Response(200, json={"status": "success", "data": {
            "resultType": "vector", "result": result}})

    return handler


async def test_failing_targets_with_critical_alerts_come_first() -> None:
    fleet = PaneFleet(lab_handler)
    await fleet.fleet_sources.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        rows = table_rows(app)
        targets = [r[0] for r in rows]
        assert targets[-1] in ("127.0.0.1:19115", "http://127.0.0.1:18090/ok")
        first_ok = next(i for i, r in enumerate(rows) if r[2] in ("ok", "up"))
        assert all("critical ProbeFailing" in r[4] for r in rows[:first_ok - 1])
        by_target = {r[0]: r for r in rows}
        assert by_target["http://127.0.0.1:18091/"][2] == "refused"
        assert by_target["http://127.0.0.1:18090/502"][2] == "proxy 502"
        sources = str(app.query_one("#fleet-sources", Static).render())
        assert "lab up (alerts from alertmanager, every 2 s)" in sources


async def test_filter_and_group() -> None:
    fleet = PaneFleet(lab_handler)
    await fleet.fleet_sources.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        app.query_one("#fleet-table", DataTable).focus()
        await pilot.press("slash", *"refused")
        await pilot.pause()
        assert [r[0] for r in table_rows(app)] == ["http://127.0.0.1:18091/"]
        await pilot.press("enter", "escape")
        await pilot.pause()
        assert len(table_rows(app)) == 8
        await pilot.press("g")  # by job
        await pilot.pause()
        groups = [r[0] for r in table_rows(app) if r[0].startswith("▾ ")]
        assert groups == ["▾ blackbox_exporter", "▾ blackbox_http_2xx", "▾ blackbox_http_json_ok",
                          "▾ blackbox_http_tls_lab"]


async def test_enter_on_a_configured_server_connects_it_and_focuses_its_panes() -> None:
    server = ServerConfig(name="edge", host="127.0.0.1", connect="on_demand")
    fleet = PaneFleet(lab_handler, servers=(server,))
    fleet.hosts["edge"] = type("H", (), {"status": type("S", (), {
        "describe": lambda self: "connecting"})()})()
    await fleet.fleet_sources.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        app.query_one("#fleet-table", DataTable).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert fleet.activated == ["edge"] and app.focused_panes == ["1"]


async def test_a_source_that_stops_answering_is_said_and_its_rows_stay() -> None:
    broken = {"now": False}

    def flaky(request: httpx.Request) -> httpx.Response:
        if broken["now"]:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return lab_handler(request)

    fleet = PaneFleet(flaky)
    await fleet.fleet_sources.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        before = table_rows(app)
        broken["now"] = True
        await fleet.fleet_sources.refresh()  # listeners post FleetChanged to the pane
        await pilot.pause()
        sources = str(app.query_one("#fleet-sources", Static).render())
        assert "not answering" in sources and "last known targets shown" in sources
        assert [r[0] for r in table_rows(app)] == [r[0] for r in before]


async def test_hostile_label_values_are_shown_literally() -> None:
    hostile = "[bold red]x[/]\x1b[2J"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/query":
            result = [] if "up" not in metrics_of(request) else [
                {"metric": {"__name__": "up", "job": "j", "instance": hostile},
                 "value": [1, "0"]}]
            return httpx.Response(200, json={"status": "success", "data": {
                "resultType": "vector", "result": result}})
        return lab_handler(request)

    fleet = PaneFleet(handler)
    await fleet.fleet_sources.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        cell = app.query_one("#fleet-table", DataTable).get_row_at(0)[0]
        assert str(cell) == "[bold red]x[/]\\x1b[2J"
        assert not cell.spans or all("red" not in str(s.style) for s in cell.spans)


async def test_a_later_round_updates_the_changed_cells_in_place_and_escapes_them() -> None:
    """Same targets, new values: the rows stay (cursor kept), the cells show the new words,
    and text that arrives only in the later round is still shown literally."""
    hostile = "[bold red]x[/]\x1b[2J"
    round_two = {"now": False}
    handler = one_target(
        lambda: {"up": "1", "probe_success": "0" if round_two["now"] else "1",
                 "probe_duration_seconds": "0.250" if round_two["now"] else "0.012",
                 "probe_http_status_code": "200"},
        lambda: {"env": hostile if round_two["now"] else "j"})
    fleet = PaneFleet(handler)
    await fleet.fleet_sources.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        pane = app.query_one(FleetPane)
        before = table_rows(app)
        assert before[0][0] == "http://a/" and before[0][3] == "12 ms"
        assert before[0][2] == "ok"
        round_two["now"] = True
        await fleet.fleet_sources.refresh()
        await pilot.pause()
        after = table_rows(app)
        assert [r[0] for r in after] == [r[0] for r in before]
        assert after[0][3] == "250 ms" and after[0][2] != "ok"
        cell = app.query_one("#fleet-table", DataTable).get_row_at(0)[2]
        assert "bold" in str(cell.style)  # failing now: bold
        while pane.group != "env":  # a header row per env: rebuilt, the label escaped
            pane.action_group()
        await pilot.pause()
        grouped = table_rows(app)
        assert len(grouped) == len(after) + 1
        assert grouped[0][0] == "▾ [bold red]x[/]\\x1b[2J"


@pytest.mark.parametrize(("instance", "host"), [
    ("http://web-1.internal:8080/health", "web-1.internal"), ("10.0.0.5:9100", "10.0.0.5"),
    ("plain-name", "plain-name")])
def test_target_host(instance: str, host: str) -> None:
    assert target_host(instance) == host


def test_matching_server_prefers_the_explicit_instance_key() -> None:
    a = ServerConfig(name="a", host="10.0.0.5")
    b = ServerConfig(name="b", host="10.0.0.6", prometheus_instance="10.0.0.5:9100")
    assert matching_server("10.0.0.5:9100", [a, b]) is b
    assert matching_server("10.0.0.5:9200", [a, b]) is a
    assert matching_server("10.9.9.9:1", [a, b]) is None


async def test_focus_lands_on_the_table_not_the_hidden_filter() -> None:
    fleet = PaneFleet(lab_handler)
    await fleet.fleet_sources.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        app.screen.focus_next()
        await pilot.press("z")  # a stray key must not become a filter
        await pilot.pause()
        assert isinstance(app.focused, DataTable)
        assert len(table_rows(app)) == 8


async def test_a_batch_of_changed_cells_repaints_only_their_rows_on_screen() -> None:
    """Five hundred rows whose latency moved must not repaint the whole table: only the
    changed rows in the window are refreshed (the others are drawn when scrolled to)."""
    from textual.app import ComposeResult
    from textual.geometry import Region

    from console.ui.widgets.fleet_pane import FleetTable

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield FleetTable()

    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(FleetTable)
        column = table.add_columns("Target", "Latency")[1]
        for i in range(100):
            table.add_row(f"t{i}", "1 ms", key=f"t{i}")
        await pilot.pause()
        regions: list[tuple[Region, ...]] = []
        original = table.refresh
        table.refresh = lambda *r, **kw: (regions.append(r),  # type: ignore[method-assign]
                                          original(*r, **kw))[1]
        from rich.text import Text
        table.update_cells([(2, "t2", column, Text("7 ms")), (90, "t90", column, Text("8 ms"))])
        assert regions == [(Region(0, 3, table.size.width, 1),)]  # header line, then t0..
        assert str(table.get_cell("t90", column)) == "8 ms"
        await pilot.pause()
        assert "7&#160;ms" in app.export_screenshot()


async def test_a_cell_that_grows_in_place_widens_its_column_on_screen() -> None:
    """One target going from ok to failing keeps its row (same keys), so its cells are
    updated in place: the new class and reason must be drawn whole, not cut to the width
    the first round's words gave their columns."""
    failing = {"now": False}
    handler = one_target(
        lambda: {"up": "1", "probe_success": "0" if failing["now"] else "1",
                 "probe_duration_seconds": "0.012",
                 "probe_http_status_code": "503" if failing["now"] else "200"})
    fleet = PaneFleet(handler)
    await fleet.fleet_sources.refresh()
    app = pane_app(fleet)
    async with app.run_test(size=(200, 30)) as pilot:
        await pilot.pause()
        assert table_rows(app)[0][2] == "ok"
        failing["now"] = True
        await fleet.fleet_sources.refresh()
        await pilot.pause()
        await pilot.pause()
        row = table_rows(app)[0]
        probe, why = row[2], row[6]
        assert probe != "ok" and len(probe) > len("Probe") and len(why) > 20
        drawn = app.query_one("#fleet-table", DataTable).render_line(1).text
        assert f" {probe} " in drawn and why[:60] in drawn
