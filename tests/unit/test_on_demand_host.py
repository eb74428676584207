"""connect = "on_demand": no connection until something needs the server, closed when idle."""

from __future__ import annotations

import asyncio

import pytest

from console.config import ServerConfig
from console.engine.host_api import Host, HostUnavailable
from console.engine.hosts import LocalHost, OnDemandHost, make_host
from console.models import ConnState


class Factory:
    """Builds real LocalHosts (commands run on this machine) and counts them."""

    def __init__(self) -> None:
        self.made: list[LocalHost] = []

    def __call__(self) -> Host:
        host = LocalHost(ServerConfig(name="web-1"))
        self.made.append(host)
        return host


async def test_nothing_connects_until_activated() -> None:
    factory = Factory()
    host = OnDemandHost("web-1", factory, idle_close_s=60)
    await host.start()
    assert host.status.state is ConnState.IDLE
    assert host.status.describe() == "not connected (on demand)"
    with pytest.raises(HostUnavailable, match="on demand"):
        await host.run(["true"])
    assert await host.wait_up(0.05) is False
    assert factory.made == []
    await host.close()


async def test_activate_connects_and_calls_go_through() -> None:
    factory = Factory()
    host = OnDemandHost("web-1", factory, idle_close_s=60)
    seen: list[ConnState] = []
    host.add_status_listener(lambda status: seen.append(status.state))
    await host.activate()
    assert await host.wait_up(2)
    result = await host.run(["echo", "hello"])
    assert result.stdout.strip() == b"hello"
    assert ConnState.UP in seen and len(factory.made) == 1
    await host.activate()  # already active: no second connection
    assert len(factory.made) == 1
    await host.close()


async def test_a_waiting_service_proceeds_once_the_server_is_activated() -> None:
    host = OnDemandHost("web-1", Factory(), idle_close_s=60)
    waiter = asyncio.create_task(host.wait_up())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await host.activate()
    assert await asyncio.wait_for(waiter, 2) is True
    await host.close()


async def test_idle_closes_the_connection_and_the_next_activation_opens_a_new_one() -> None:
    factory = Factory()
    host = OnDemandHost("web-1", factory, idle_close_s=0.2)
    await host.activate()
    await host.run(["true"])
    await asyncio.sleep(0.6)
    assert host.status.state is ConnState.IDLE and not host.active
    with pytest.raises(HostUnavailable):
        await host.run(["true"])
    await host.activate()
    assert len(factory.made) == 2 and host.status.is_up
    await host.close()


async def test_a_call_in_flight_keeps_the_connection_open() -> None:
    host = OnDemandHost("web-1", Factory(), idle_close_s=0.2)
    await host.activate()
    chunks = [c async for c in host.stream(["sh", "-c", "sleep 0.7; echo done"])]
    assert b"".join(chunks).strip() == b"done"
    assert host.active  # 0.7 s of streaming outlived the 0.2 s idle limit
    await host.close()


def test_the_factory_gives_on_demand_servers_the_wrapper() -> None:
    lazy = make_host(ServerConfig(name="a", host="10.0.0.1", connect="on_demand"))
    eager = make_host(ServerConfig(name="b", host="10.0.0.2"))
    assert isinstance(lazy, OnDemandHost) and not isinstance(eager, OnDemandHost)
