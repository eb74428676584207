"""The log pipeline and pane against the real lab (dockerd, sshd, nginx + backend)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from textual.app import App, ComposeResult

from console.engine.containers import ContainerService
from console.engine.fleet import Fleet
from console.engine.hosts import make_host
from console.engine.logs import LogService
from console.ui.widgets.logs_pane import LogsPane, LogView

pytestmark = pytest.mark.lab


class PaneApp(App[None]):
    """The logs pane alone over a real Fleet (the app shell is tested elsewhere)."""

    def __init__(self, fleet: Fleet) -> None:
        super().__init__()
        self.fleet = fleet

    def compose(self) -> ComposeResult:
        yield LogsPane(self.fleet)

    async def on_mount(self) -> None:
        await self.fleet.start()


def post_login(url: str, email: str, password: str) -> int:
    body = json.dumps({"email": email, "password": password}).encode()
    request = urllib.request.Request(f"{url}/api/v1/auth/login", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


async def wait_for(predicate, timeout: float, step: float = 0.02) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


def following(service: LogService, names: set[str]) -> bool:
    return names <= {s.name for s in service.sources() if s.state == "following"}


async def test_wrong_password_through_nginx_shows_within_two_seconds(lab: Any) -> None:
    fleet = Fleet(lab.load_config())
    app = PaneApp(fleet)
    async with app.run_test(size=(160, 30)) as pilot:
        assert await wait_for(lambda: following(fleet.logs, {"crm-backend-1", "crm-nginx-1"}),
                              60), fleet.logs.sources()
        view = app.query_one(LogView)
        await pilot.pause(0.5)
        before = max((line.seq for line in view.lines), default=0)
        started = time.monotonic()
        status = await asyncio.to_thread(post_login, lab.nginx_url, lab.login_user,
                                         "wrong-" + secrets.token_hex(4))
        assert status == 401

        def shown() -> bool:
            return any(line.seq > before and line.rule == "failed_login"
                       and "invalid password" in line.text for line in view.lines)

        assert await wait_for(shown, 2.0 - (time.monotonic() - started) + 0.3)
        elapsed = time.monotonic() - started
        assert elapsed < 2.0, f"failed login shown after {elapsed:.2f}s"
        await pilot.pause()
        rendered = [view.render_line(y).text for y in range(view.size.height)]
        assert any("failed_login" in row and "alpha/crm-backend-1" in row for row in rendered)
        assert app.is_running
        await fleet.stop()


async def test_backend_down_shows_nginx_502_events(lab_clean: Any) -> None:
    fleet = Fleet(lab_clean.load_config())
    app = PaneApp(fleet)
    async with app.run_test(size=(160, 30)) as pilot:
        assert await wait_for(lambda: following(fleet.logs, {"crm-nginx-1"}), 60)
        view = app.query_one(LogView)
        await pilot.pause(0.5)
        before = max((line.seq for line in view.lines), default=0)
        await asyncio.to_thread(lab_clean.scenario, "backend-down")
        for _ in range(3):
            assert await asyncio.to_thread(post_login, lab_clean.nginx_url, "a@b", "x") == 502

        def gateway_events() -> set[str]:
            return {line.rule for line in view.lines  # type: ignore[misc]
                    if line.seq > before and line.source == "crm-nginx-1"}

        assert await wait_for(lambda: "bad_gateway" in gateway_events(), 5)
        assert gateway_events() & {"bad_gateway", "upstream_error"}
        stopped = {s.name: s for s in fleet.logs.sources()}["crm-backend-1"]
        assert stopped.state == "stopped"
        counts = fleet.logs.rule_counts(300)
        assert counts.get("bad_gateway", 0) >= 3
        assert app.is_running
        await fleet.stop()


async def test_container_restart_mid_follow_loses_and_duplicates_nothing(
        lab_clean: Any) -> None:
    config = lab_clean.load_config()
    hosts = {s.name: make_host(s) for s in config.servers if s.name == "alpha"}
    for host in hosts.values():
        await host.start()
    containers = ContainerService(config, hosts)
    service = LogService(config, hosts, containers=containers)
    await containers.start()
    await service.start()
    client = lab_clean.docker()
    try:
        assert await wait_for(lambda: following(service, {"crm-backend-1"}), 60)
        first, second = f"a{secrets.token_hex(3)}", f"b{secrets.token_hex(3)}"
        flood = asyncio.create_task(asyncio.to_thread(
            lab_clean.scenario, "log-flood", lines=4000, rate=2000, tag=first,
            server="alpha", wait=True))
        await asyncio.sleep(1.0)  # mid-flood
        await asyncio.to_thread(client.containers.get("crm-backend-1").restart, timeout=5)
        await asyncio.gather(flood, return_exceptions=True)  # cut short by the restart
        assert await asyncio.to_thread(_wait_healthy, lab_clean.backend_url, 60)
        await asyncio.to_thread(lab_clean.scenario, "log-flood", lines=3000, rate=0,
                                tag=second, server="alpha", wait=True)

        def truth(tag: str) -> list[str]:
            raw = client.containers.get("crm-backend-1").logs(stdout=True, stderr=True)
            return [line for line in raw.decode().splitlines() if f"tag={tag} " in line]

        def ours(tag: str) -> list[str]:
            return [line.text for line in service.buffered()
                    if line.source == "crm-backend-1" and f"tag={tag} " in line.text]

        expected_second = await asyncio.to_thread(truth, second)
        assert len(expected_second) == 3000
        assert await wait_for(lambda: len(ours(second)) >= 3000, 20)
        await asyncio.sleep(0.5)
        expected_first = await asyncio.to_thread(truth, first)
        assert 0 < len(expected_first) < 4000, "the restart did not interrupt the flood"
        assert ours(first) == expected_first
        assert ours(second) == expected_second
        numbers = [int(t.split("flood line ")[1][:6]) for t in ours(first)]
        assert numbers == list(range(1, len(numbers) + 1))  # in order, no gap, no repeat
    finally:
        await service.stop()
        await containers.stop()
        for host in hosts.values():
            await host.close()


def _wait_healthy(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get_status(f"{url}/health") == 200:
            return True
        time.sleep(0.2)
    return False
