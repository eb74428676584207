"""The Fleet: one Host per configured server and every engine service over them.

The UI and the headless commands hold one Fleet and nothing else from the engine, so the
wiring of hosts to services lives in exactly one place.
"""

from __future__ import annotations

from console.config import Config
from console.engine.host_api import Host

__all__ = ["Fleet"]


class Fleet:
    """Owns the hosts and the services; starts and stops them together."""

    def __init__(self, config: Config, hosts: dict[str, Host] | None = None) -> None:
        from console.engine.hosts import make_host

        self.config = config
        self.hosts: dict[str, Host] = hosts if hosts is not None else {
            server.name: make_host(server) for server in config.servers
        }
        # Each service module adds itself here (constructed as Service(config, hosts)).
        self.services: list = []
        from console.engine.containers import ContainerService

        self.containers = ContainerService(config, self.hosts)
        self.services.append(self.containers)
        from console.engine.secrets import SecretService

        self.secrets = SecretService(config, self.hosts, containers=self.containers)
        self.services.append(self.secrets)
        from console.engine.health import HealthService

        self.health = HealthService(config, self.hosts)
        self.services.append(self.health)
        from console.engine.actions import ActionService

        self.actions = ActionService(config, self.hosts, containers=self.containers)
        self.services.append(self.actions)
        from console.engine.logs import LogService

        self.logs = LogService(config, self.hosts, containers=self.containers)
        self.services.append(self.logs)

    async def start(self) -> None:
        """Connect every host in the background, then start the live services."""
        for host in self.hosts.values():
            await host.start()
        for service in self.services:
            await service.start()

    async def refresh(self) -> None:
        """One full round of every service (for check/report), hosts given a moment to connect."""
        for service in self.services:
            await service.refresh()

    async def stop(self) -> None:
        for service in reversed(self.services):
            await service.stop()
        for host in self.hosts.values():
            await host.close()
