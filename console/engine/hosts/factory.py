"""Which Host a configured server gets."""

from __future__ import annotations

from console.config import ServerConfig
from console.engine.host_api import Host
from console.engine.hosts.local import LocalHost
from console.engine.hosts.ssh import SSHHost

__all__ = ["make_host"]


def make_host(server: ServerConfig) -> Host:
    """The Host for one configured server: this machine for ``host = "local"``, else SSH."""
    return LocalHost(server) if server.is_local else SSHHost(server)
