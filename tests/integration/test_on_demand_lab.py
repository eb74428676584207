"""connect = "on_demand" against the lab's real sshd: nothing opens until it is needed."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from console.config import load_config
from console.engine.fleet import Fleet
from console.models import ConnState

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]


def on_demand_config(lab, idle_close_s: float = 300.0):
    config = load_config(lab.config_path)
    servers = tuple(dataclasses.replace(s, connect="on_demand", idle_close_s=idle_close_s)
                    if s.name == "alpha" else s for s in config.servers)
    return dataclasses.replace(config, servers=servers)


async def wait(predicate, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.1)


async def test_an_on_demand_server_connects_when_activated_and_its_panes_fill(lab) -> None:
    fleet = Fleet(on_demand_config(lab))
    await fleet.start()
    try:
        alpha, bravo = fleet.hosts["alpha"], fleet.hosts["bravo"]
        await wait(lambda: bravo.status.is_up, 20, "bravo (always) up")
        await asyncio.sleep(1.0)
        assert alpha.status.state is ConnState.IDLE
        assert alpha.status.describe() == "not connected (on demand)"
        assert fleet.containers.snapshot().servers["alpha"].containers == ()
        await fleet.activate("alpha")
        await wait(lambda: alpha.status.is_up, 20, "alpha up after activation")
        await wait(lambda: bool(fleet.containers.snapshot().servers["alpha"].containers), 20,
                   "alpha's containers listed")
    finally:
        await fleet.stop()


async def test_an_idle_on_demand_server_is_closed_again(lab) -> None:
    fleet = Fleet(on_demand_config(lab, idle_close_s=1.0))
    await fleet.start()
    try:
        alpha = fleet.hosts["alpha"]
        await fleet.activate("alpha")
        await wait(lambda: alpha.status.is_up, 20, "alpha up")
        result = await alpha.run(["true"])
        assert result.exit_status == 0
        await wait(lambda: alpha.status.state is ConnState.IDLE, 30, "alpha idle-closed")
    finally:
        await fleet.stop()
