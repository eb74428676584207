"""The Fleet: one Host per configured server and every engine service over them.

The UI and the headless commands hold one Fleet and nothing else from the engine, so the
wiring of hosts to services lives in exactly one place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from console.config import Config
from console.engine.actions import ActionService
from console.engine.containers import ContainerService
from console.engine.contracts import Service
from console.engine.fleet_sources import FleetSourceService
from console.engine.health import HealthService
from console.engine.host_api import Host
from console.engine.hosts import OnDemandHost, make_host
from console.engine.logs import LogService
from console.engine.secrets import SecretService

__all__ = ["Fleet", "FleetView"]

log = logging.getLogger(__name__)


class FleetView(Protocol):
    """What the UI and the diagnosis need of a Fleet: its parts to read, and its life cycle.

    Every service may be absent (None): a pane tested alone is given a fleet that holds
    only the service it shows, and each reader says what it shows without one. The real
    ``Fleet`` always has them all, and is a ``FleetView`` as it stands.
    """

    @property
    def config(self) -> Config: ...
    @property
    def hosts(self) -> Mapping[str, Host]: ...
    @property
    def containers(self) -> ContainerService | None: ...
    @property
    def secrets(self) -> SecretService | None: ...
    @property
    def health(self) -> HealthService | None: ...
    @property
    def actions(self) -> ActionService | None: ...
    @property
    def logs(self) -> LogService | None: ...
    @property
    def fleet_sources(self) -> FleetSourceService | None: ...

    async def start(self) -> None: ...
    async def activate(self, server: str) -> None: ...
    async def stop(self) -> None: ...


class Fleet:
    """Owns the hosts and the services; starts and stops them together."""

    def __init__(self, config: Config, hosts: dict[str, Host] | None = None) -> None:
        self.config = config
        self.hosts: dict[str, Host] = hosts if hosts is not None else {
            server.name: make_host(server) for server in config.servers
        }
        # The container list comes first: secrets, actions and logs read it to know which
        # containers exist, so it is refreshed before them and stopped after them.
        self.containers = ContainerService(config, self.hosts)
        self.secrets = SecretService(config, self.hosts, containers=self.containers)
        self.health = HealthService(config, self.hosts)
        self.actions = ActionService(config, self.hosts, containers=self.containers,
                                     clients=self.containers.clients)
        self.logs = LogService(config, self.hosts, containers=self.containers)
        self.fleet_sources = FleetSourceService(config)
        # Typed by the contract alone: the Fleet starts, refreshes and stops them, and
        # never reaches into one.
        self.services: tuple[Service[object], ...] = (
            self.containers, self.secrets, self.health, self.actions, self.logs,
            self.fleet_sources)

    async def start(self) -> None:
        """Connect every host in the background, then start the live services."""
        for host in self.hosts.values():
            await host.start()
        for service in self.services:
            await service.start()

    async def activate(self, server: str) -> None:
        """Open an on-demand server's connection (the operator turned to it); else nothing."""
        host = self.hosts.get(server)
        if isinstance(host, OnDemandHost):
            await host.activate()

    async def refresh(self) -> None:
        """One full round of every service, for check and report.

        Containers first (the others read its list), then the rest side by side: a slow
        health endpoint must not hold up the secrets scan.
        """
        await self.containers.refresh()
        await asyncio.gather(*(service.refresh() for service in self.services[1:]))

    async def stop(self) -> None:
        """Stop services, then hosts; one failing to stop does not keep the rest running."""
        for closer in [*(s.stop for s in reversed(self.services)),
                       *(h.close for h in self.hosts.values())]:
            try:
                await closer()
            except Exception:  # noqa: BLE001 - shutting down: log it and go on
                log.exception("stopping %r failed", closer)
