"""Which Host a configured server gets."""

from __future__ import annotations

from console.config import ServerConfig
from console.engine.host_api import Host
from console.engine.hosts.local import LocalHost
from console.engine.hosts.ondemand import OnDemandHost
from console.engine.hosts.ssh import SSHHost

__all__ = ["make_host"]


def make_host(server: ServerConfig) -> Host:
    """The Host for one configured server: this machine for ``host = "local"``, else SSH,
    opened only when needed for ``connect = "on_demand"``."""
    if server.is_local:
        return LocalHost(server)
    if server.connect == "on_demand":
        return OnDemandHost(server.name, lambda: SSHHost(server), server.idle_close_s)
    return SSHHost(server)
