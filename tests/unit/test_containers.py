"""ContainerService against fake hosts and a fake docker daemon (no Docker needed).

The fake event stream blocks its reader thread like the SDK's, so these tests exercise the
real thread hand-off, the close-from-another-thread stop, and the reconnect path.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

import pytest

from console.config import ServerConfig
from console.engine import dockerapi
from console.engine.containers import (
    WATCHED_EVENTS,
    ContainerService,
    container_from_inspect,
    parse_docker_time,
)
from console.engine.host_api import HostUnavailable
from console.models import ConnState
from tests.support.docker import FakeDaemon, fake_clients, inspect_doc
from tests.support.fleet import make_config
from tests.support.hosts import FakeHost
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(30)


def one_server(compose_project: str | None = None, docs: list | None = None):
    config = make_config(ServerConfig(name="alpha", host="10.0.0.1",
                                      compose_project=compose_project))
    host = FakeHost("alpha")
    daemon = FakeDaemon(docs if docs is not None else [
        inspect_doc("c1", "crm-backend-1", service="backend"),
        inspect_doc("c2", "crm-nginx-1", service="nginx", health=None),
        inspect_doc("c3", "other-1", project="other", service="x"),
    ])
    service = ContainerService(config, {"alpha": host}, clients=fake_clients({"alpha": daemon}))
    return service, host, daemon


def names(service: ContainerService, server: str = "alpha") -> list[str]:
    return [c.name for c in service.snapshot()[server].containers]


# --------------------------------------------------------------------------- parsing


def test_parse_docker_time_handles_nanoseconds_zero_and_offsets() -> None:
    assert parse_docker_time("2024-05-01T10:00:00.123456789Z") == datetime(
        2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert parse_docker_time("2024-05-01T12:00:00+02:00") == datetime(2024, 5, 1, 10,
                                                                       tzinfo=UTC)
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("") is None
    assert parse_docker_time("yesterday") is None


def test_container_from_inspect_reads_health_restarts_labels_and_exit_code() -> None:
    info = container_from_inspect("alpha", inspect_doc(
        "c9", "crm-worker-1", service="worker", state="exited", health=None, restarts=3,
        exit_code=137))
    assert (info.name, info.project, info.service) == ("crm-worker-1", "crm", "worker")
    assert (info.state, info.health, info.restart_count, info.exit_code) == (
        "exited", "none", 3, 137)
    assert info.image == "ops-lab-app:1"
    assert not info.ok


# --------------------------------------------------------------------------- live


async def test_start_lists_then_follows_events_and_updates_one_container() -> None:
    service, host, daemon = one_server()
    changes: list[str] = []
    service.subscribe(lambda change: changes.append(change.server))
    await service.start()
    try:
        await wait_until(lambda: service.snapshot()["alpha"].state == "ok")
        assert names(service) == ["crm-backend-1", "crm-nginx-1", "other-1"]
        # The stream was opened before the list, so nothing in between is missed.
        kinds = [c[0] for c in daemon.calls]
        assert daemon.streams and kinds[0] == "containers"
        # only the events that change a row are asked for (no healthcheck exec_* noise)
        assert daemon.event_filters == [{"type": "container", "event": list(WATCHED_EVENTS)}]
        assert "health_status" in WATCHED_EVENTS and "exec_start" not in WATCHED_EVENTS

        daemon.calls.clear()
        daemon.docs["c1"]["State"]["Health"]["Status"] = "unhealthy"
        daemon.docs["c1"]["RestartCount"] = 4
        daemon.emit("c1", "health_status: unhealthy")
        await wait_until(lambda: service.find("alpha", "c1").health == "unhealthy")
        assert service.find("alpha", "c1").restart_count == 4
        # Only the affected container was re-inspected: no relisting, no polling.
        assert daemon.calls == [("inspect", "c1")]
        assert changes.count("alpha") >= 2
    finally:
        await service.stop()


async def test_exec_events_are_ignored_and_destroy_removes_the_row() -> None:
    service, host, daemon = one_server()
    await service.start()
    try:
        await wait_until(lambda: service.snapshot()["alpha"].state == "ok")
        daemon.calls.clear()
        daemon.emit("c1", "exec_start: sh -c true")
        daemon.emit("c1", "exec_die")
        daemon.emit("c2", "destroy")
        await wait_until(lambda: "crm-nginx-1" not in names(service))
        await asyncio.sleep(0.05)
        assert daemon.calls == []
    finally:
        await service.stop()


async def test_new_container_event_adds_it_and_compose_filter_applies() -> None:
    service, host, daemon = one_server(compose_project="crm")
    await service.start()
    try:
        await wait_until(lambda: service.snapshot()["alpha"].state == "ok")
        assert names(service) == ["crm-backend-1", "crm-nginx-1"]
        assert daemon.calls[0] == ("containers", {"label": "com.docker.compose.project=crm"})
        assert daemon.event_filters == [
            {"type": "container", "event": list(WATCHED_EVENTS),
             "label": "com.docker.compose.project=crm"}]
        daemon.docs["c4"] = inspect_doc("c4", "crm-worker-1", service="worker")
        daemon.emit("c4", "start")
        await wait_until(lambda: "crm-worker-1" in names(service))
        daemon.docs["c5"] = inspect_doc("c5", "intruder-1", project="other")
        daemon.emit("c5", "start")
        await asyncio.sleep(0.1)
        assert "intruder-1" not in names(service)
    finally:
        await service.stop()


async def test_host_loss_marks_rows_stale_and_reconnect_refreshes_in_full() -> None:
    service, host, daemon = one_server()
    await service.start()
    try:
        await wait_until(lambda: service.snapshot()["alpha"].state == "ok")
        first_stream = daemon.live_stream
        host.set_state(ConnState.LOST, "connection reset by peer")
        snap = service.snapshot()["alpha"]
        assert snap.state == "unavailable" and snap.stale
        assert "lost" in snap.error and "connection reset by peer" in snap.error
        await wait_until(lambda: first_stream.closed.is_set())  # closed from the loop thread

        # While away, a container went and another came; the reconnect relists.
        del daemon.docs["c3"]
        daemon.docs["c6"] = inspect_doc("c6", "crm-new-1", service="new")
        daemon.calls.clear()
        host.set_state(ConnState.UP)
        await wait_until(lambda: service.snapshot()["alpha"].state == "ok")
        assert names(service) == ["crm-backend-1", "crm-new-1", "crm-nginx-1"]
        assert not service.snapshot()["alpha"].stale
        assert ("containers", None) in daemon.calls
        assert daemon.live_stream is not None and daemon.live_stream is not first_stream
    finally:
        await service.stop()


async def test_stream_end_while_host_up_is_shown_and_retried() -> None:
    service, host, daemon = one_server()
    await service.start()
    try:
        await wait_until(lambda: service.snapshot()["alpha"].state == "ok")
        daemon.live_stream.end()  # dockerd restarted under us
        await wait_until(lambda: service.snapshot()["alpha"].state == "unavailable")
        assert "events stream ended" in service.snapshot()["alpha"].error
        await wait_until(lambda: service.snapshot()["alpha"].state == "ok", timeout=5)
        assert len(daemon.streams) == 2
    finally:
        await service.stop()


async def test_unreachable_docker_socket_is_a_state_in_words() -> None:
    service, host, daemon = one_server()
    daemon.broken = ConnectionError(
        "Error while fetching server API version: ('Connection aborted.', "
        "FileNotFoundError(2, 'No such file or directory'))")
    await service.start()
    try:
        await wait_until(lambda: service.snapshot()["alpha"].state == "unavailable")
        snap = service.snapshot()["alpha"]
        assert snap.error == "Docker socket not found at /var/run/docker.sock"
        assert snap.containers == () and not snap.stale
    finally:
        await service.stop()


async def test_server_down_at_start_shows_host_detail_then_recovers() -> None:
    config = make_config(ServerConfig(name="alpha", host="10.0.0.1"))
    host = FakeHost("alpha", ConnState.RETRYING, "connection refused")
    daemon = FakeDaemon([inspect_doc("c1", "crm-backend-1", service="backend")])
    service = ContainerService(config, {"alpha": host}, clients=fake_clients({"alpha": daemon}))
    await service.start()
    try:
        snap = service.snapshot()["alpha"]
        assert snap.state == "unavailable" and "connection refused" in snap.error
        assert daemon.calls == []
        host.set_state(ConnState.UP)
        await wait_until(lambda: service.snapshot()["alpha"].state == "ok")
        assert names(service) == ["crm-backend-1"]
    finally:
        await service.stop()


async def test_restart_shows_restarting_until_the_call_returns() -> None:
    service, host, daemon = one_server()
    daemon.restart_gate = threading.Event()
    await service.start()
    try:
        await wait_until(lambda: service.snapshot()["alpha"].state == "ok")
        before = service.find("alpha", "c1").started_at
        task = asyncio.create_task(service.restart("alpha", "c1"))
        await wait_until(lambda: ("restart", "c1") in daemon.calls)
        assert service.find("alpha", "c1").state == "restarting"
        daemon.restart_gate.set()
        info = await task
        assert info is not None and info.state == "running" and info.health == "starting"
        assert info.started_at > before
        assert service.find("alpha", "c1").state == "running"
    finally:
        await service.stop()


async def test_restart_on_a_down_server_raises_host_unavailable() -> None:
    service, host, daemon = one_server()
    host.set_state(ConnState.LOST, "gone")
    with pytest.raises(HostUnavailable):
        await service.restart("alpha", "c1")


async def test_refresh_lists_once_without_a_stream() -> None:
    service, host, daemon = one_server()
    await service.refresh()
    assert names(service) == ["crm-backend-1", "crm-nginx-1", "other-1"]
    assert daemon.streams == []


async def test_stop_ends_the_reader_thread() -> None:
    service, host, daemon = one_server()
    await service.start()
    await wait_until(lambda: service.snapshot()["alpha"].state == "ok")
    pump = service.servers["alpha"].pump
    await service.stop()
    await wait_until(lambda: not pump.running)
    assert daemon.streams[0].closed.is_set()


async def test_a_failing_subscriber_does_not_stop_others() -> None:
    service, host, daemon = one_server()
    seen: list[str] = []

    def broken(change: object) -> None:
        raise RuntimeError("boom")

    service.subscribe(broken)
    unsubscribe = service.subscribe(lambda change: seen.append(change.server))
    await service.refresh()
    assert seen == ["alpha"]
    unsubscribe()
    await service.refresh()
    assert seen == ["alpha"]


# --------------------------------------------------------------------------- dockerapi


async def test_run_blocking_runs_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()
    worker_thread = await dockerapi.run_blocking(threading.get_ident)
    assert worker_thread != loop_thread


async def test_clients_are_rebuilt_after_a_reconnect() -> None:
    host = FakeHost("alpha")
    daemon = FakeDaemon()
    clients = fake_clients({"alpha": daemon})
    first = await clients.get(host)
    assert await clients.get(host) is first
    host.set_state(ConnState.LOST, "gone")
    with pytest.raises(HostUnavailable):
        await clients.get(host)
    host.set_state(ConnState.UP)
    second = await clients.get(host)
    assert second is not first
    await wait_until(lambda: first.closed)


@pytest.mark.parametrize(("message", "expected"), [
    ("('Connection aborted.', FileNotFoundError(2, 'No such file'))",
     "Docker socket not found at /s"),
    ("PermissionError(13, 'Permission denied')", "permission denied on the Docker socket at /s"),
    ("ConnectionRefusedError(111, 'Connection refused')",
     "Docker daemon refused the connection at /s"),
    ("Read timed out. (read timeout=15)", "Docker did not answer in time at /s"),
    ("500 Server Error: something odd\nmore",
     "Docker error at /s: 500 Server Error: something odd"),
])
def test_describe_docker_error(message: str, expected: str) -> None:
    assert dockerapi.describe_docker_error(Exception(message), "/s") == expected
