"""What an operator reads when an SSH connection fails, and the checks that decide which.

Pure functions for the wording, so the sentence read at 3 AM is unit-tested without a
server; the small probes (known_hosts, the identity file, ssh-agent) only run after a
failure, to explain it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import asyncssh

__all__ = [
    "AgentInfo",
    "auth_rejected_message",
    "changed_host_key_message",
    "describe_connect_error",
    "encrypted_identity_message",
    "identity_state",
    "known_hosts_name",
    "known_keys",
    "lost_reason",
    "no_credentials_message",
    "probe_agent",
    "unknown_host_key_message",
    "usable_default_keys",
]


# --------------------------------------------------------------------------- messages
#
# Pure functions, so the wording an operator reads at 3 AM is unit-tested without a server.


def known_hosts_name(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return host if port == 22 else f"[{host}]:{port}"


def unknown_host_key_message(host: str, port: int, key_type: str, fingerprint: str,
                             known_hosts: str) -> str:
    entry = known_hosts_name(host, port)
    port_opt = "" if port == 22 else f"-p {port} "
    return (f"host key for {host}:{port} is not in {known_hosts}: refusing to connect. "
            f"The server offered {key_type} {fingerprint}. Only if you have verified that "
            f"fingerprint with the server's owner, add it: "
            f"ssh-keyscan {port_opt}{host} >> {known_hosts}  (entry {entry})")


def changed_host_key_message(host: str, port: int, key_type: str, fingerprint: str,
                             known_hosts: str) -> str:
    entry = known_hosts_name(host, port)
    return (f"host key for {host}:{port} CHANGED: the server now offers {key_type} "
            f"{fingerprint}, which does not match the key for {entry} in {known_hosts}. "
            f"This is a possible man-in-the-middle attack: refusing to connect. If the server "
            f"was legitimately rebuilt, verify the new fingerprint, then fix known_hosts: "
            f"ssh-keygen -R '{entry}' -f {known_hosts}")


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """What ssh-agent could offer, for explaining an authentication failure."""

    socket: str | None  # SSH_AUTH_SOCK; None when unset
    reachable: bool = False
    keys: int = 0

    def phrase(self) -> str:
        if not self.socket:
            return "no ssh-agent is available (SSH_AUTH_SOCK is not set)"
        if not self.reachable:
            return f"no ssh-agent answers at SSH_AUTH_SOCK={self.socket}"
        if self.keys == 0:
            return "ssh-agent holds no keys"
        return f"ssh-agent offered {self.keys} key{'s' if self.keys != 1 else ''}"


def encrypted_identity_message(target: str, identity_file: str, agent: AgentInfo) -> str:
    if agent.socket and agent.reachable:
        how = f"ssh-add {identity_file}"
    else:
        how = (f'eval "$(ssh-agent)" && ssh-add {identity_file}, then start ops-console '
               f"from that shell")
    return (f"cannot log in to {target}: identity file {identity_file} is encrypted (it has a "
            f"passphrase) and {agent.phrase()}; ops-console never asks for passphrases. "
            f"Load it into ssh-agent: {how}")


def no_credentials_message(target: str, agent: AgentInfo) -> str:
    return (f"cannot log in to {target}: no identity_file is configured for this server, "
            f"{agent.phrase()} and there is no unencrypted default key (~/.ssh/id_*). Set "
            f"identity_file in the config, or load a key into ssh-agent (ssh-add) and start "
            f"ops-console from that shell")


def auth_rejected_message(target: str, tried: Sequence[str]) -> str:
    offered = "; ".join(tried) if tried else "no key"
    user = target.split("@", 1)[0] if "@" in target else "that user"
    return (f"{target} rejected the keys offered ({offered}): check that the public key is "
            f"in ~{user}/.ssh/authorized_keys on the server and that the user name is right")


def lost_reason(exc: BaseException | None) -> str:
    if exc is None:
        return "closed by the server"
    reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
    return reason.rstrip(".")


def describe_connect_error(exc: BaseException, target: str, host: str,
                            timeout: float) -> str:
    """One sentence for a failed connect that is neither host-key nor authentication."""
    if isinstance(exc, ConnectionRefusedError):
        return f"{target}: connection refused (is sshd running on that port?)"
    if isinstance(exc, TimeoutError):
        return (f"{target}: no answer within {timeout:g}s (server down, or packets "
                f"dropped by a firewall)")
    if isinstance(exc, socket.gaierror):
        return f"{target}: cannot resolve host name {host!r} ({exc.strerror or exc})"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"{target}: {exc.reason or type(exc).__name__}"
    if isinstance(exc, OSError):
        return f"{target}: {exc.strerror or exc}"
    return f"{target}: {type(exc).__name__}: {exc}"



# --------------------------------------------------------------------------- diagnosis


def known_keys(path: str, host: str, addr: str, port: int) -> list[asyncssh.SSHKey]:
    """Keys known_hosts trusts for this host (empty when the file or entry is absent)."""
    try:
        trusted = asyncssh.match_known_hosts(path, host, addr, port)[0]
    except (OSError, ValueError, asyncssh.KeyImportError):
        return []
    return list(trusted)


def identity_state(path: str) -> str:
    """'ok', 'encrypted', 'missing', 'unreadable' or 'invalid' (never prompts)."""
    try:
        asyncssh.read_private_key(path)
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable"
    except asyncssh.KeyImportError as exc:
        return "encrypted" if "passphrase" in str(exc).lower() else "invalid"
    return "ok"


def usable_default_keys() -> list[str]:
    """Default ~/.ssh identities asyncssh would try that load without a passphrase."""
    home = Path.home() / ".ssh"
    found = []
    for name in ("id_ed25519", "id_ecdsa", "id_rsa", "id_ed448", "id_dsa"):
        path = home / name
        if path.is_file() and identity_state(str(path)) == "ok":
            found.append(str(path))
    return found


async def probe_agent() -> AgentInfo:
    """How many keys ssh-agent offers; only used to explain a failed login."""
    sock = os.environ.get("SSH_AUTH_SOCK") or None
    if not sock:
        return AgentInfo(None)
    try:
        async with asyncio.timeout(3):
            # older asyncssh versions answer None when no agent is there
            agent = cast("asyncssh.SSHAgentClient | None", await asyncssh.connect_agent(sock))
            if agent is None:
                return AgentInfo(sock)
            try:
                keys = await agent.get_keys()
            finally:
                agent.close()
                await agent.wait_closed()
    except (OSError, TimeoutError, asyncssh.Error, ValueError):
        return AgentInfo(sock)
    return AgentInfo(sock, reachable=True, keys=len(keys))
