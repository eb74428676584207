"""The log pipeline and pane against the real lab (dockerd, sshd, nginx + backend)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from console.config import LogsConfig
from console.engine.containers import ContainerService
from console.engine.fleet import Fleet
from console.engine.hosts import make_host
from console.engine.logs import INITIAL_TAIL, LogService
from console.ui.widgets.logs import LogsPane, LogView
from tests.support.fleet import NoContainers
from tests.support.ui import PaneApp

pytestmark = pytest.mark.lab


def pane_app(fleet: Fleet) -> PaneApp:
    """The logs pane alone over a real Fleet (the app shell is tested elsewhere)."""
    return PaneApp(fleet, LogsPane, start=lambda f: f.start())


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
    app = pane_app(fleet)
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
        assert any("login failed" in row and "alpha/crm-backend-1" in row
                   and "Login failed: invalid password" in row for row in rendered)
        assert app.is_running
        await fleet.stop()


async def test_backend_down_shows_nginx_502_events(lab_clean: Any) -> None:
    fleet = Fleet(lab_clean.load_config())
    app = pane_app(fleet)
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

        assert await wait_for(lambda: "upstream_error" in gateway_events(), 5)
        assert gateway_events() & {"upstream_error"}
        stopped = {s.name: s for s in fleet.logs.sources()}["crm-backend-1"]
        assert stopped.state == "stopped"
        counts = fleet.logs.rule_counts(300)
        assert counts.get("upstream_error", 0) >= 3
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
            # Docker's own record, one frame per message: a line cut by the restart is its
            # own message, which plain `docker logs` prints joined to the next start's
            # first line.
            frames = client.containers.get("crm-backend-1").logs(
                stdout=True, stderr=True, timestamps=True, stream=True, follow=False)
            texts = [f.decode().partition(" ")[2].removesuffix("\n") for f in frames]
            return [text for text in texts if f"tag={tag} " in text]

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


def _append(path: str, start: int, stop: int, tag: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        for i in range(start, stop):
            fh.write(f"file line {i:05d} tag={tag} [AUTH] Login failed: invalid password\n")
        fh.flush()
        os.fsync(fh.fileno())


class FollowedFile:
    """An empty ``auth.log`` that alpha's LogService follows (``async with``): numbered
    lines go in with ``append`` and come back, as their numbers, from ``ours``."""

    def __init__(self, lab: Any, tmp_path: Any) -> None:
        self.path = str(tmp_path / "auth.log")
        self.tag = secrets.token_hex(3)
        config = lab.load_config()
        alpha = next(s for s in config.servers if s.name == "alpha")
        alpha = dataclasses.replace(alpha, logs=LogsConfig(containers=(), files=(self.path,)))
        self.host = make_host(alpha)
        self.service = LogService(dataclasses.replace(config, servers=(alpha,)),
                                  {"alpha": self.host}, containers=NoContainers())

    async def __aenter__(self) -> FollowedFile:
        open(self.path, "w").close()
        await self.host.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.service.stop()
        await self.host.close()

    def append(self, start: int, stop: int) -> None:
        _append(self.path, start, stop, self.tag)

    def ours(self) -> list[int]:
        return [int(line.text.split("file line ")[1][:5]) for line in self.service.buffered()
                if f"tag={self.tag} " in line.text]


async def test_host_file_follows_over_ssh_through_rotation_and_truncation(
        lab: Any, tmp_path: Any) -> None:
    """tail -F semantics over SSH: a file moved away and recreated (logrotate's create) and
    a file truncated in place (copytruncate) both keep flowing, numbered lines in order,
    none lost, none twice."""
    async with FollowedFile(lab, tmp_path) as followed:
        path, service, ours = followed.path, followed.service, followed.ours
        await service.start()
        assert await wait_for(lambda: following(service, {path}), 30), service.sources()
        assert service.sources()[0].kind == "file"
        await asyncio.sleep(0.5)  # tail has opened the file
        followed.append(1, 101)
        assert await wait_for(lambda: len(ours()) >= 100, 10), ours()[-3:]
        os.rename(path, path + ".1")  # rotation: moved away, a new file created
        followed.append(101, 201)
        assert await wait_for(lambda: len(ours()) >= 200, 15), ours()[-3:]
        os.truncate(path, 0)  # truncation in place
        await asyncio.sleep(1.5)  # tail notices the size drop before the next writes
        followed.append(201, 251)
        assert await wait_for(lambda: len(ours()) >= 250, 15), ours()[-3:]
        await asyncio.sleep(0.5)
        assert ours() == list(range(1, 251))
        assert all(line.rule == "failed_login" for line in service.buffered())
        assert following(service, {path})


async def test_host_file_resumes_at_its_byte_after_the_ssh_link_drops(
        lab: Any, tmp_path: Any) -> None:
    """sshd killed while a file is followed: lines written during the outage are read
    after it, from the byte where the follow stopped, none twice. A file rotated during an
    outage cannot be resumed (the lines between the last read and the rotation are in a
    file whose name is unknown): the source says lines may be missing, and follows on."""
    async with FollowedFile(lab, tmp_path) as followed:
        path, service, ours = followed.path, followed.service, followed.ours

        def state() -> tuple[str, str]:
            source = service.sources()[0]
            return source.state, source.detail

        await service.start()
        assert await wait_for(lambda: following(service, {path}), 30), service.sources()
        await asyncio.sleep(0.5)  # tail has opened the file
        followed.append(1, 101)
        assert await wait_for(lambda: len(ours()) >= 100, 10), ours()[-3:]
        with lab.sshd_stopped("alpha"):
            assert await wait_for(lambda: state()[0] == "lost", 20), state()
            followed.append(101, 151)  # written while nobody can read it
        assert await wait_for(lambda: len(ours()) >= 150, 60), (state(), ours()[-3:])
        await asyncio.sleep(0.5)
        assert ours() == list(range(1, 151))
        assert state() == ("following", "")

        with lab.sshd_stopped("alpha"):
            assert await wait_for(lambda: state()[0] == "lost", 20), state()
            os.rename(path, path + ".1")
            followed.append(151, 161)
        assert await wait_for(lambda: state()[0] == "following", 60), state()
        assert "lines may be missing" in state()[1]
        await asyncio.sleep(0.5)  # tail has opened the new file
        followed.append(161, 171)
        assert await wait_for(lambda: 170 in ours(), 15), (state(), ours()[-3:])
        await asyncio.sleep(0.5)
        assert ours()[:150] == list(range(1, 151)) and ours()[-10:] == list(range(161, 171))
        assert len(ours()) == len(set(ours()))  # nothing twice


async def test_docker_follow_resumes_after_the_ssh_link_drops(lab_clean: Any) -> None:
    """sshd killed mid-flood (its sessions die, the docker socket forward with them) and
    started again: the follow resumes from the last timestamp, numbered lines complete."""
    history = f"h{secrets.token_hex(3)}"
    await asyncio.to_thread(lab_clean.scenario, "log-flood", lines=1500, rate=0, tag=history,
                            server="alpha", wait=True)
    config = lab_clean.load_config()
    hosts = {s.name: make_host(s) for s in config.servers if s.name == "alpha"}
    for host in hosts.values():
        await host.start()
    containers = ContainerService(config, hosts)
    service = LogService(config, hosts, containers=containers)
    await containers.start()
    await service.start()
    client = lab_clean.docker()
    tag = f"r{secrets.token_hex(3)}"
    total = 6000

    def ours(tag: str = tag) -> list[str]:
        return [line.text for line in service.buffered()
                if line.source == "crm-backend-1" and f"tag={tag} " in line.text]

    try:
        assert await wait_for(lambda: following(service, {"crm-backend-1"}), 60)
        await asyncio.sleep(1.0)
        # Opening did not replay the whole history: only the last INITIAL_TAIL lines.
        replayed = [int(t.split("flood line ")[1][:6]) for t in ours(history)]
        assert 0 < len(replayed) <= INITIAL_TAIL < 1500
        assert replayed == list(range(1501 - len(replayed), 1501))
        flood = asyncio.create_task(asyncio.to_thread(
            lab_clean.scenario, "log-flood", lines=total, rate=1500, tag=tag,
            server="alpha", wait=True))
        await asyncio.sleep(1.0)
        seen_before = len(ours())
        with lab_clean.sshd_stopped("alpha"):
            assert await wait_for(
                lambda: {s.name: s.state for s in service.sources()}.get("crm-backend-1")
                != "following", 15), service.sources()
            await asyncio.sleep(1.5)
        await flood
        raw = await asyncio.to_thread(
            lambda: client.containers.get("crm-backend-1").logs(stdout=True, stderr=True))
        truth = [line for line in raw.decode().splitlines() if f"tag={tag} " in line]
        assert len(truth) == total
        assert 0 < seen_before < total, "the link did not drop mid-flood"
        assert await wait_for(lambda: len(ours()) >= total, 60), len(ours())
        await asyncio.sleep(0.5)
        assert ours() == truth
        numbers = [int(t.split("flood line ")[1][:6]) for t in ours()]
        assert numbers == list(range(1, total + 1))
    finally:
        await service.stop()
        await containers.stop()
        for host in hosts.values():
            await host.close()
