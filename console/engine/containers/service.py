"""ContainerService: every server's containers, live from the Docker events stream.

Per server:

1. open the events stream (``type=container``) in its own thread, and wait until it is open;
2. list every container and inspect each, so nothing that happens between the two steps is
   missed;
3. for each event, re-inspect just that container;
4. when the stream ends (the SSH link dropped, dockerd restarted), mark the server's rows
   stale with the reason, wait for the host to be up again, and start over at 1 - which is
   the full refresh after a reconnect. Failures back off exponentially; an idle fleet does
   no work at all.

Blocking SDK calls go through ``dockerapi.run_blocking``; the only thread per server is the
events reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import MappingProxyType

from console.config import Config
from console.engine import dockerapi
from console.engine.containers.events import EventFollower
from console.engine.containers.model import ContainersSnapshot
from console.engine.containers.server import ServerState
from console.engine.contracts import Change, ChangeListener, Unsubscribe
from console.engine.host_api import Host
from console.engine.listeners import Listeners
from console.engine.shared import REFRESH_CONNECT_TIMEOUT, LazyDockerClients, retry_delay
from console.models import ConnectionStatus, ContainerInfo, utcnow

__all__ = ["RESTART_STOP_TIMEOUT", "ContainerService"]

RESTART_STOP_TIMEOUT = 10
STABLE_AFTER_S = 60.0  # a stream that lived this long was healthy: back off from 1 s again


class ContainerService(LazyDockerClients):
    """Live container state of every server, and restart.

    ``subscribe(listener)``: ``listener(Change)`` is called on the event loop whenever a
    server's part of ``snapshot()`` changed; ``change.server`` names it.
    """

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 clients: dockerapi.DockerClients | None = None) -> None:
        self.config = config
        self.hosts = hosts
        self._clients = clients
        self._servers: dict[str, ServerState] | None = None
        self._listeners: Listeners[Change] = Listeners("containers")
        self._unsubscribe_hosts: list[Callable[[], None]] = []
        self._running = False
        self._follower = EventFollower(lambda: self.clients, self._notify)

    @property
    def servers(self) -> dict[str, ServerState]:
        # Built lazily: asyncio.Event needs no loop in 3.11, but keeping construction
        # side-effect free lets the Fleet be built before any loop exists.
        if self._servers is None:
            self._servers = {
                server.name: ServerState(server, self.hosts[server.name])
                for server in self.config.servers if server.name in self.hosts
            }
        return self._servers

    # -- the Service contract ----------------------------------------------------------

    def subscribe(self, listener: ChangeListener) -> Unsubscribe:
        """``listener(Change)`` on the event loop whenever a server's containers changed."""
        return self._listeners.add(listener)

    def _notify(self, server: str) -> None:
        self._listeners.emit(Change("containers", server))

    def snapshot(self) -> ContainersSnapshot:
        """Per server (config order), its state and containers sorted by project/service."""
        return ContainersSnapshot(MappingProxyType(
            {name: st.snapshot() for name, st in self.servers.items()}))

    def find(self, server: str, container: str) -> ContainerInfo | None:
        """A container of a server by id (or, failing that, by name), as shown."""
        st = self.servers.get(server)
        return st.find(container) if st is not None else None

    async def start(self) -> None:
        """Follow every server in the background; returns at once."""
        if self._running:
            return
        self._running = True
        for st in self.servers.values():
            if st.host.status.is_up:
                st.host_up.set()
            elif st.host.status.detail:
                self._on_host(st, st.host.status)
            self._unsubscribe_hosts.append(st.host.add_status_listener(self._host_listener(st)))
            st.task = asyncio.create_task(self._supervise(st), name=f"containers:{st.name}")

    async def stop(self) -> None:
        self._running = False
        for unsubscribe in self._unsubscribe_hosts:
            unsubscribe()
        self._unsubscribe_hosts.clear()
        tasks = []
        for st in self.servers.values():
            if st.pump is not None:
                st.pump.stop()
            for task in (st.task, st.drain_task):
                if task is not None and not task.done():
                    task.cancel()
                    tasks.append(task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def refresh(self) -> None:
        """One full listing of every server now (``check``/``report``); no stream."""
        await asyncio.gather(*(self._refresh_once(st) for st in self.servers.values()))

    async def _refresh_once(self, st: ServerState) -> None:
        if not await st.host.wait_up(timeout=REFRESH_CONNECT_TIMEOUT):
            self._set_unavailable(st, st.host.status.describe())
            return
        try:
            await self._follower.full_list(st)
        except Exception as exc:  # noqa: BLE001 - any failure is a state to show
            self._set_unavailable(st, self._describe(st, exc))

    # -- following ---------------------------------------------------------------------

    def _host_listener(self, st: ServerState) -> Callable[[ConnectionStatus], None]:
        return lambda status: self._on_host(st, status)

    def _on_host(self, st: ServerState, status: ConnectionStatus) -> None:
        """Host link changes: a loss is shown at once and ends the stream; up wakes us."""
        if status.is_up:
            st.host_up.set()
            return
        st.host_up.clear()
        if st.pump is not None:
            st.pump.stop()
        if st.state != "connecting" or status.detail:
            reason = f"server {status.state.value}"
            self._set_unavailable(st, f"{reason}: {status.detail}" if status.detail else reason)

    async def _supervise(self, st: ServerState) -> None:
        """Connect, list, follow; on any failure wait for the host and back off, forever."""
        attempt = 0
        while self._running:
            if not st.host.status.is_up:
                await st.host_up.wait()
            started = asyncio.get_running_loop().time()
            try:
                await self._follower.follow(st)
                error = "the Docker events stream ended"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - shown in the pane, then retried
                error = self._describe(st, exc)
            finally:
                if st.pump is not None:
                    st.pump.stop()
                    st.pump = None
            if self._stopped():
                return
            if st.host.status.is_up:
                self.clients.invalidate(st.host)
                self._set_unavailable(st, error)
            if asyncio.get_running_loop().time() - started > STABLE_AFTER_S:
                attempt = 0
            await self._sleep_or_host_change(st, retry_delay(attempt))
            attempt += 1

    def _stopped(self) -> bool:
        """``stop()`` was called (a method: the flag changes while the loop awaits)."""
        return not self._running

    async def _sleep_or_host_change(self, st: ServerState, delay: float) -> None:
        """Back off, but no longer than it takes the host to come back after a loss."""
        if st.host.status.is_up:
            await asyncio.sleep(delay)
        else:
            await st.host_up.wait()

    # -- actions -------------------------------------------------------------------------

    async def restart(self, server: str, container_id: str) -> ContainerInfo | None:
        """Restart one container (docker restart, 10 s to stop) and return its new state.

        The row shows ``restarting`` from the moment this is called until the restart call
        returns; the events stream then brings running / healthy. No audit here: the caller
        (the action service) records intent and outcome around this call.
        """
        st = self.servers.get(server)
        if st is None:
            raise KeyError(f"unknown server {server!r}")
        known = self.find(server, container_id)
        if known is not None:
            container_id = known.id  # a name was given: the overlay is keyed by id
        client = await self._follower.client(st)
        st.restarting.add(container_id)
        self._notify(server)
        try:
            await dockerapi.run_blocking(client.api.restart, container_id,
                                         timeout=RESTART_STOP_TIMEOUT)
        finally:
            st.restarting.discard(container_id)
            self._notify(server)
        info = await self._follower.inspect(st, client, container_id)
        if info is not None:
            st.containers[container_id] = info
            st.updated_at = utcnow()
            self._notify(server)
        return info

    # -- states --------------------------------------------------------------------------

    def _set_unavailable(self, st: ServerState, error: str) -> None:
        st.set_unavailable(error)
        self._notify(st.name)

    def _describe(self, st: ServerState, exc: BaseException) -> str:
        return dockerapi.describe_docker_error(exc, st.config.docker_socket)
