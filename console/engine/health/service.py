"""HealthService: every health endpoint of every server, probed live or in one round.

Concurrency: in live mode every endpoint has its own task with its own interval, jitter and
deadline (``asyncio.timeout``), so an endpoint that accepts and never answers only ever
delays itself. ``refresh()`` runs one round of every probe at once for ``check``/``report``
and still publishes each result the moment it lands.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import ssl
from collections.abc import Mapping
from types import MappingProxyType

from console.config import Config, HealthCheck
from console.engine.contracts import ChangeListener, Unsubscribe
from console.engine.health.discovery import DISCOVERY_INTERVAL, Discovery, PortLister
from console.engine.health.model import (
    HISTORY,
    HealthChange,
    HealthSnapshot,
    ProbeTarget,
    Track,
    expected_latency,
)
from console.engine.health.probe import internal_error_result, probe, unreachable_result
from console.engine.host_api import Host
from console.engine.http_transport import ClientPool
from console.engine.listeners import Listeners
from console.models import ConnState, HealthResult

__all__ = ["HealthService"]

log = logging.getLogger(__name__)


class HealthService:
    """Every health endpoint of every server, probed live or in one round.

    Built by the Fleet as ``HealthService(config, hosts)``; the keyword arguments exist for
    tests and benchmarks (a CA for a local test HTTPS server, a fake port lister, a fixed
    random seed).
    """

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 clients: ClientPool | None = None, ssl_context: ssl.SSLContext | None = None,
                 history: int = HISTORY, jitter: float = 0.1,
                 port_lister: PortLister | None = None,
                 discovery_interval: float = DISCOVERY_INTERVAL,
                 seed: int | None = None) -> None:
        self.config = config
        self.hosts = hosts
        self._servers = {server.name: server for server in config.servers}
        self._clients = clients or ClientPool(ssl_context=ssl_context)
        self._history = history
        self._jitter = max(0.0, min(jitter, 0.9))
        self._random = random.Random(seed)
        self._discovery_interval = discovery_interval
        self._tracks: dict[tuple[str, str], Track] = {}
        self._listeners: Listeners[HealthChange] = Listeners("health")
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._discovery = Discovery(config.servers, hosts, self._clients, self._found,
                                    port_lister=port_lister)
        self._discovery_task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._running = False
        for server in config.servers:
            for check in server.health:
                self._add(ProbeTarget(server.name, check))

    # -- the Service contract ----------------------------------------------------------

    async def start(self) -> None:
        """Start one probe loop per endpoint (and discovery). Returns at once."""
        if self._running:
            return
        self._running = True
        for track in list(self._tracks.values()):
            self._spawn(track.target)
        if self._discovery:
            self._discovery_task = asyncio.create_task(
                self._discovery.run_forever(self._discovery_interval), name="health-discovery")

    async def stop(self) -> None:
        self._running = False
        tasks = list(self._tasks.values())
        if self._discovery_task is not None:
            tasks.append(self._discovery_task)
            self._discovery_task = None
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*self._closing, return_exceptions=True)
        await self._clients.aclose()

    async def refresh(self) -> None:
        """One probe of every endpoint now, all at once; each result is published as it lands.

        Waits a little for a server that is still connecting (this is what ``check`` runs
        right after start-up), then reports it as unreachable. The results are in
        ``snapshot().results`` afterwards.
        """
        if self._discovery:
            await self._discovery.round(wait=True)
        tracks = sorted(self._tracks.values(), key=expected_latency, reverse=True)
        await asyncio.gather(*(self._probe_and_record(track.target, wait_host=True)
                               for track in tracks))

    def snapshot(self) -> HealthSnapshot:
        """Every endpoint in config order (discovered ones after), no I/O."""
        return HealthSnapshot(endpoints=tuple(track.view() for track in self._tracks.values()),
                              discovery_notes=MappingProxyType(self._discovery.notes()))

    def subscribe(self, listener: ChangeListener) -> Unsubscribe:
        """``listener(HealthChange)`` on the event loop after every probe or new endpoint."""
        return self._listeners.add(listener)

    # -- probing -----------------------------------------------------------------------

    def _add(self, target: ProbeTarget) -> Track:
        track = Track(target, self._history)
        self._tracks[target.key] = track
        return track

    def _spawn(self, target: ProbeTarget) -> None:
        if target.key not in self._tasks:
            self._tasks[target.key] = asyncio.create_task(
                self._loop(target), name=f"health:{target.server}:{target.check.name}")

    async def _loop(self, target: ProbeTarget) -> None:
        """Probe every ``interval`` on a fixed grid, forever; never dies of a probe.

        Each endpoint gets a random offset of up to a second (``jitter`` of the interval
        at most), so 200 endpoints do not fire in the same millisecond; after that the grid
        is fixed (start to start, no drift), so endpoints sharing an interval stay in step
        and the pane redraws once per round, not once per endpoint, which keeps an idle
        console's CPU use low. A probe that overruns its slot (a hang up to its timeout)
        skips to the next free one.
        """
        interval = target.check.interval
        loop = asyncio.get_running_loop()
        offset = self._random.uniform(0.0, min(1.0, interval * self._jitter))
        start = loop.time() + offset
        await asyncio.sleep(offset)
        slot = 0
        while True:
            await self._probe_and_record(target, wait_host=False)
            slot = max(slot + 1, math.ceil((loop.time() - start) / interval))
            await asyncio.sleep(max(0.0, start + slot * interval - loop.time()))

    async def _probe_and_record(self, target: ProbeTarget, *, wait_host: bool) -> HealthResult:
        try:
            result = await self._probe(target, wait_host=wait_host)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug in one probe must not stop the rest
            log.exception("health probe %s/%s failed", target.server, target.check.name)
            result = internal_error_result(target.server, target.check, exc)
        track = self._tracks.get(target.key)
        if track is not None:
            track.record(result)
            self._emit(track)
        return result

    async def _probe(self, target: ProbeTarget, *, wait_host: bool) -> HealthResult:
        server = self._servers[target.server]
        check = target.check
        via_server = check.from_ == "server" and not server.is_local
        host = self.hosts.get(server.name) if via_server else None
        if via_server:
            if host is None:
                raise LookupError(f"no host object for server {server.name}")
            if not host.status.is_up:
                # a first connection still being made is waited for (no "unreachable" flash
                # at start-up); a lost one is reported at once, live
                if wait_host or host.status.state is ConnState.CONNECTING:
                    await host.wait_up(timeout=check.timeout)
                if not host.status.is_up:
                    self._forget_tunnel(host)
                    return unreachable_result(server.name, check, host)
        client = self._clients.client(host, via_server=via_server)
        return await probe(client, server.name, check, via=server.name if via_server else None)

    def _forget_tunnel(self, host: Host) -> None:
        """Drop a down host's pooled connections; after the reconnect, fresh ones are made.

        Closed in the background: closing channels of a dead link can take a moment each.
        """
        client = self._clients.discard(host.name)
        if client is not None:
            task = asyncio.create_task(client.aclose(), name=f"health-close:{host.name}")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _emit(self, track: Track) -> None:
        state = track.view()
        self._listeners.emit(HealthChange("health", state.server, endpoint=state))

    def _found(self, server: str, check: HealthCheck) -> bool:
        """Discovery found ``check`` on ``server``: probe it from now on, if it is new."""
        if (server, check.name) in self._tracks:
            return False
        target = ProbeTarget(server, check, discovered=True)
        track = self._add(target)
        self._emit(track)
        if self._running:
            self._spawn(target)
        return True
