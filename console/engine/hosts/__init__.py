"""Local and SSH hosts: run, read, forward the Docker socket, tunnel TCP, reconnect.

- ``local``: ``LocalHost``, this machine;
- ``reconnect``: ``SSHConnection``, one server's SSH link kept alive with backoff;
- ``ssh``: ``SSHHost``, every command, file, Docker call and tunnel a channel on that link;
- ``explain``: the sentences an operator reads when connecting fails;
- ``commands``: argv quoting and the watchdog that stops a remote command with its channel;
- ``status``: the connection status both kinds report;
- ``ondemand``: ``OnDemandHost``, a server connected only while something needs it;
- ``factory``: ``make_host``, which kind a configured server gets.
"""

from console.engine.hosts.explain import (
    AgentInfo,
    auth_rejected_message,
    changed_host_key_message,
    encrypted_identity_message,
    known_hosts_name,
    no_credentials_message,
    unknown_host_key_message,
)
from console.engine.hosts.factory import make_host
from console.engine.hosts.local import LocalHost
from console.engine.hosts.ondemand import OnDemandHost
from console.engine.hosts.reconnect import backoff_delay
from console.engine.hosts.ssh import SSHHost

__all__ = [
    "AgentInfo",
    "LocalHost",
    "OnDemandHost",
    "SSHHost",
    "auth_rejected_message",
    "backoff_delay",
    "changed_host_key_message",
    "encrypted_identity_message",
    "known_hosts_name",
    "make_host",
    "no_credentials_message",
    "unknown_host_key_message",
]
