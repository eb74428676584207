"""The one SSH connection of a server, kept alive: connect, notice loss, back off, reconnect.

A supervisor task owns the link: it connects, reports ``ConnectionStatus`` to listeners,
notices loss (``connection_lost`` plus keepalives, so a silently dead peer is found within
~15 s) and reconnects forever with capped, jittered exponential backoff until ``close()``.

Status sequence: CONNECTING (first attempt only) -> UP; on loss LOST, then at once RETRYING
with ``retry_at``; every failed attempt announces RETRYING again with its reason and next
``retry_at``. ``since`` stays at the moment the link was lost (or first failed), so a pane
can say "lost 40s ago, retry in 8s"; listeners are called on the event loop at each change.

Security choices, all deliberate:

- Host keys are always checked against known_hosts (``known_hosts`` is never ``None``). An
  unknown or changed key is refused; the message names host:port and the offered key's
  SHA256 fingerprint so the operator can verify it out of band. The offered key is captured
  only to *report* it: ``_Client.validate_host_public_key`` always answers False.
- Authentication follows OpenSSH: the configured ``identity_file``, else ssh-agent and
  ``~/.ssh/config`` (asyncssh reads it by default). An encrypted identity file is never
  prompted for; the console tells the operator to load it into ssh-agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import asyncssh

from console.config import ServerConfig
from console.engine.host_api import Host, HostUnavailable
from console.engine.hosts.explain import (
    auth_rejected_message,
    changed_host_key_message,
    describe_connect_error,
    encrypted_identity_message,
    identity_state,
    known_keys,
    lost_reason,
    no_credentials_message,
    probe_agent,
    unknown_host_key_message,
    usable_default_keys,
)
from console.engine.hosts.status import StatusMixin
from console.engine.shared import RETRY_MAX, RETRY_MIN, retry_delay
from console.models import ConnectionStatus, ConnState, utcnow

__all__ = [
    "BACKOFF_BASE",
    "BACKOFF_CAP",
    "CONNECT_TIMEOUT",
    "KEEPALIVE_COUNT_MAX",
    "KEEPALIVE_INTERVAL",
    "LOGIN_TIMEOUT",
    "SSHConnection",
    "backoff_delay",
]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # a blackholed address must not hang the first connect
LOGIN_TIMEOUT = 15.0
KEEPALIVE_INTERVAL = 5.0  # with COUNT_MAX 2: a dead peer is noticed within ~10-15 s
KEEPALIVE_COUNT_MAX = 2
BACKOFF_BASE = RETRY_MIN
BACKOFF_CAP = RETRY_MAX


def backoff_delay(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP,
                  jitter: float = 0.2, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0-based): 1, 2, 4, ... <= cap.

    The jitter (+-20 % by default) keeps many hosts that lost the same network link from
    reconnecting in lockstep; the result never exceeds ``cap``.
    """
    raw = retry_delay(attempt, base=base, cap=cap)
    spread = raw * jitter * (2.0 * rand() - 1.0)
    return max(0.0, min(cap, raw + spread))


class _ConnectFailed(Exception):
    """A connect attempt failed; the message is the operator-facing status detail."""


class _Client(asyncssh.SSHClient):
    """One per connect attempt: records the host key offered and why the link ended."""

    def __init__(self) -> None:
        self.offered: tuple[str, str, int, asyncssh.SSHKey] | None = None
        self.lost_exc: BaseException | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        # asyncssh calls this only for a key that known_hosts does not trust. We keep it to
        # name its fingerprint in the refusal and always refuse: no trust on first use.
        self.offered = (host, addr, port, key)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_exc = exc


class SSHConnection(StatusMixin, Host):
    """The life cycle of one server's asyncssh connection; ``SSHHost`` adds the channels.

    Subclasses restore their per-connection state in ``_on_connected`` (called before the
    status turns UP) and drop it in ``_on_closing`` / ``_on_closed``.
    """

    def __init__(self, server: ServerConfig, *,
                 backoff: Callable[[int], float] = backoff_delay,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 login_timeout: float = LOGIN_TIMEOUT,
                 keepalive_interval: float = KEEPALIVE_INTERVAL,
                 keepalive_count_max: int = KEEPALIVE_COUNT_MAX) -> None:
        self.name = server.name
        self.server = server
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._login_timeout = login_timeout
        self._keepalive_interval = keepalive_interval
        self._keepalive_count_max = keepalive_count_max
        self._conn: asyncssh.SSHClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._init_status(ConnectionStatus(ConnState.CONNECTING,
                                           f"connecting to {self.target}"))

    # -- identity ----------------------------------------------------------------------

    @property
    def target(self) -> str:
        """``user@host:port`` as the operator configured it (for messages)."""
        user = f"{self.server.user}@" if self.server.user else ""
        return f"{user}{self.server.host}:{self.server.port}"

    @property
    def _address(self) -> str:
        return f"{self.server.host}:{self.server.port}"

    @property
    def known_hosts_path(self) -> str:
        return os.path.expanduser(self.server.known_hosts or "~/.ssh/known_hosts")

    @property
    def identity_path(self) -> str | None:
        ident = self.server.identity_file
        return os.path.expanduser(ident) if ident else None

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._supervise(), name=f"ssh:{self.name}")

    async def close(self) -> None:
        """Stop reconnecting, close the link, then let the subclass clean up after it."""
        if self._closed:
            return
        self._closed = True
        conn = self._conn
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._conn = None
        self._on_closing()
        if conn is not None:
            conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), 5)
        self._on_closed()
        self._set_status(ConnState.LOST, "closed")

    def _on_closing(self) -> None:
        """Forget per-connection channels, before the link is closed."""

    def _on_closed(self) -> None:
        """Release what outlives a connection (files, directories), after it is closed."""

    async def _on_connected(self, conn: asyncssh.SSHClientConnection) -> None:
        """Restore per-connection state before anyone is told the host is up."""

    async def _supervise(self) -> None:
        """Connect, wait for the link to end, back off, repeat: forever, until close()."""
        attempt = 0
        down_since: datetime | None = None
        while not self._closed:
            try:
                lost_detail = await self._connect_and_hold()
            except _ConnectFailed as exc:
                detail = str(exc)
            except Exception as exc:  # a bug here must not end reconnecting for good
                log.exception("host %s: unexpected error in the connection loop", self.name)
                detail = f"{self._address}: internal error: {type(exc).__name__}: {exc}"
            else:
                if self._is_closed():
                    return
                # The link was up: start the backoff over, and say when it was lost.
                attempt, down_since = 0, utcnow()
                self._set_status(ConnState.LOST, lost_detail, since=down_since)
                detail = lost_detail
            down_since = down_since or utcnow()
            await self._retry_later(detail, down_since, attempt)
            attempt += 1

    def _is_closed(self) -> bool:
        """``close()`` was called (a method: the flag changes while the loop awaits)."""
        return self._closed

    async def _connect_and_hold(self) -> str:
        """One connection's life: connect, go UP, wait for the end; returns why it ended."""
        conn, client = await self._connect_once()
        try:
            await self._on_connected(conn)
            self._conn = conn
            self._set_status(ConnState.UP, f"connected to {self.target}")
            await conn.wait_closed()
        finally:
            self._conn = None
            conn.close()
        return f"connection to {self._address} lost: {lost_reason(client.lost_exc)}"

    async def _retry_later(self, detail: str, down_since: datetime, attempt: int) -> None:
        delay = self._backoff(attempt)
        self._set_status(ConnState.RETRYING, detail, since=down_since,
                         retry_at=utcnow() + timedelta(seconds=delay))
        await asyncio.sleep(delay)

    # -- connecting --------------------------------------------------------------------

    def _connect_options(self) -> dict[str, object]:
        server = self.server
        options: dict[str, object] = {
            # Always an explicit path, never None and never asyncssh's default: with the
            # default, "UserKnownHostsFile none" in ~/.ssh/config would switch checking off.
            "known_hosts": self.known_hosts_path,
            "keepalive_interval": self._keepalive_interval,
            "keepalive_count_max": self._keepalive_count_max,
            "connect_timeout": self._connect_timeout,
            "login_timeout": self._login_timeout,
        }
        # Port 22 is also the config default, so leave it to ~/.ssh/config (Port) like
        # OpenSSH would; any other port was set on purpose.
        if server.port != 22:
            options["port"] = server.port
        if server.user:
            options["username"] = server.user
        ident = self.identity_path
        if ident:
            # An encrypted file is skipped rather than fatal, so a copy loaded in ssh-agent
            # (always consulted, like OpenSSH) can still log in; if none does, the failure
            # is explained by _explain_auth_failure.
            options["client_keys"] = [ident]
            options["ignore_encrypted"] = True
        return options

    async def _connect_once(self) -> tuple[asyncssh.SSHClientConnection, _Client]:
        if self.server.known_hosts and not os.path.exists(self.known_hosts_path):
            raise _ConnectFailed(
                f"known_hosts file {self.known_hosts_path} does not exist: host keys are "
                f"always checked, so ops-console will not connect to {self._address} until "
                f"that file lists it")
        client = _Client()
        try:
            conn = await asyncssh.connect(self.server.host, client_factory=lambda: client,
                                          **self._connect_options())
        except asyncio.CancelledError:
            raise
        except asyncssh.HostKeyNotVerifiable as exc:
            raise _ConnectFailed(await self._explain_host_key(client, exc)) from None
        except asyncssh.PermissionDenied:
            raise _ConnectFailed(await self._explain_auth_failure()) from None
        except Exception as exc:
            raise _ConnectFailed(self._explain_other(exc)) from None
        return conn, client

    def _explain_other(self, exc: BaseException) -> str:
        ident = self.identity_path
        if isinstance(exc, OSError) and ident and exc.filename == ident:
            return f"identity file {ident} for {self.target}: {exc.strerror or exc}"
        if isinstance(exc, asyncssh.KeyImportError):
            return f"identity file {ident} for {self.target} cannot be loaded: {exc}"
        return describe_connect_error(exc, self._address, self.server.host,
                                      self._connect_timeout)

    async def _explain_host_key(self, client: _Client,
                                exc: asyncssh.HostKeyNotVerifiable) -> str:
        path = self.known_hosts_path
        host, port = self.server.host, self.server.port
        if client.offered is None:  # e.g. revoked key or CA problems: asyncssh says why
            return f"host key for {host}:{port} refused: {exc.reason}"
        match_host, addr, match_port, key = client.offered
        key_type = key.get_algorithm()
        fingerprint = key.get_fingerprint("sha256")
        known = await asyncio.to_thread(known_keys, path, match_host, addr, match_port)
        if known:
            return changed_host_key_message(host, port, key_type, fingerprint, path)
        return unknown_host_key_message(host, port, key_type, fingerprint, path)

    async def _explain_auth_failure(self) -> str:
        agent = await probe_agent()
        ident = self.identity_path
        target = self._login_target()
        if ident:
            state = await asyncio.to_thread(identity_state, ident)
            if state == "encrypted":
                return encrypted_identity_message(target, ident, agent)
            tried = [f"identity file {ident}"]
        else:
            defaults = await asyncio.to_thread(usable_default_keys)
            if not defaults and agent.keys == 0:
                return no_credentials_message(target, agent)
            tried = [f"~/.ssh/{Path(p).name}" for p in defaults]
        if agent.keys:
            tried.append(agent.phrase())
        return auth_rejected_message(target, tried)

    def _login_target(self) -> str:
        user = self.server.user
        if not user:  # asyncssh logs in as the local user by default, so name that one
            with contextlib.suppress(Exception):
                user = getpass.getuser()
        return f"{user}@{self._address}" if user else self._address

    # -- guards ------------------------------------------------------------------------

    def _require_up(self) -> asyncssh.SSHClientConnection:
        conn = self._conn
        if self._closed:
            raise HostUnavailable(f"server {self.name}: closed")
        if conn is None or not self._status.is_up:
            status = self._status
            raise HostUnavailable(f"server {self.name} is unreachable "
                                  f"({status.describe()}): {status.detail}")
        return conn
