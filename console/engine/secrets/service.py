"""SecretService: which required secrets exist where, which disagree, and the Docker volumes.

For every server it reads the configured ``.env`` files and the ``Config.Env`` of the
configured containers (``gather``), and reports one ``SecretStatus`` per required name and
place: present, missing, empty, weak, not_in_container, differs_from_file (``status``).
**Values are dropped as soon as they are classified** (``observe``). Zero-config
(``SecretsConfig.infer``): the required names are the secret-looking names found in the
inferred places (names only). Volumes: see ``volumes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from console.config import Config, ServerConfig
from console.engine import dockerapi
from console.engine.contracts import Change, ChangeListener, Unsubscribe
from console.engine.host_api import Host, HostUnavailable
from console.engine.listeners import Listeners
from console.engine.secrets import gather
from console.engine.secrets.compose_view import (
    ContainerCompose,
    compose_containers,
    model_env_files,
    model_names,
    model_problems,
)
from console.engine.secrets.gather import Round, first_line
from console.engine.secrets.observe import Fingerprinter, Place, Unclassifiable, observe
from console.engine.secrets.status import (
    PlaceProblem,
    SecretsSnapshot,
    ServerSecrets,
    apply_drift,
    infer_names,
    statuses,
)
from console.engine.secrets.volumes import SeenVolumes, volume_statuses
from console.engine.shared import REFRESH_CONNECT_TIMEOUT
from console.models import ConnectionStatus, utcnow

if TYPE_CHECKING:
    from console.engine.compose.projects import ComposeProjects

__all__ = ["ContainerWatch", "SecretService"]

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 30.0
CONTAINER_CHANGE_DELAY = 2.0
SERVER_TIMEOUT = 30.0


class ContainerWatch(Protocol):
    """What the secrets need of the container service: to hear that a server's containers
    changed (a recreated container is re-checked within seconds instead of at the next
    interval, which only has to catch .env edits). The listener takes the server's name
    or a ``Change`` naming it."""

    def subscribe(self, callback: Callable[[str | Change], None]) -> Callable[[], None]: ...


class _Server:
    """Mutable state for one server; touched on the event loop only."""

    def __init__(self, config: ServerConfig, host: Host) -> None:
        self.config = config
        self.host = host
        self.result: ServerSecrets = ServerSecrets(server=config.name)
        self.seen_volumes: SeenVolumes = {}
        self.wake = asyncio.Event()
        self.soon: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()


class SecretService:
    """Secret presence, weakness and drift on every server, plus the volumes.

    ``subscribe(listener)``: ``listener(Change("secrets", server))`` on the event loop when
    that server's part of ``snapshot()`` changed (drift may change other servers' rows too:
    each of them is notified).
    """

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 clients: dockerapi.DockerClients | None = None,
                 containers: ContainerWatch | None = None,
                 interval: float = REFRESH_INTERVAL) -> None:
        self.config = config
        self.hosts = hosts
        self.interval = interval
        self._containers = containers
        self.clients = clients if clients is not None else dockerapi.default_clients()
        self._fingerprint = Fingerprinter()
        self._compose: ComposeProjects | None = None
        self._servers: dict[str, _Server] | None = None
        self._listeners: Listeners[Change] = Listeners("secrets")
        self._unsubscribe_hosts: list[Callable[[], None]] = []
        self._running = False
        self._view: SecretsSnapshot | None = None

    def __repr__(self) -> str:
        return f"SecretService(servers={list(self.servers)})"

    @property
    def servers(self) -> dict[str, _Server]:
        """Per configured server with a host; built on first use, as the hosts are then."""
        if self._servers is None:
            self._servers = {s.name: _Server(s, self.hosts[s.name])
                             for s in self.config.servers if s.name in self.hosts}
        return self._servers

    @property
    def compose(self) -> ComposeProjects:
        """Each Compose project's model per server, fingerprinted with this service's key
        (so that its fingerprints compare with the containers'). Built on first use: the
        compose package reads this package, so it is imported here, not at the top."""
        if self._compose is None:
            from console.engine.compose.projects import ComposeProjects

            self._compose = ComposeProjects(self._fingerprint, on_update=self.request_refresh)
        return self._compose

    # -- read model --------------------------------------------------------------------

    def subscribe(self, listener: ChangeListener) -> Unsubscribe:
        """``listener(change)`` on the event loop whenever a server's secrets were checked."""
        return self._listeners.add(listener)

    def _notify(self, servers: Iterable[str]) -> None:
        for name in servers:
            self._listeners.emit(Change("secrets", name))

    def snapshot(self) -> SecretsSnapshot:
        """Per server (config order): statuses with cross-server drift applied. No I/O."""
        if self._view is None:
            servers, drift = apply_drift({n: st.result for n, st in self.servers.items()},
                                         self._consistent_names())
            self._view = SecretsSnapshot(MappingProxyType(dict(servers)),
                                         MappingProxyType(dict(drift)))
        return self._view

    def _consistent_names(self) -> frozenset[str]:
        return frozenset(n for s in self.config.servers for n in s.secrets.consistent)

    def _publish(self, st: _Server, result: ServerSecrets) -> None:
        before = self.snapshot().servers
        st.result = result
        self._view = None
        after = self.snapshot().servers
        changed = [n for n in after if n == st.config.name or after[n] != before.get(n)]
        self._notify(changed)

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Check every server now and every ``interval`` seconds; returns at once."""
        if self._running:
            return
        self._running = True
        # Live, a plain project's first model is its files' (Compose's answer replaces it
        # and wakes the server's next round), and Compose's config hashes come after the
        # first round (they only add the "configuration changed" staleness), waking it too.
        self.compose.files_first = True
        self.compose.hashes_later = True
        for st in self.servers.values():
            self._unsubscribe_hosts.append(
                st.host.add_status_listener(functools.partial(self._on_host, st)))
            if not st.host.status.is_up and st.host.status.detail:
                self._on_host(st, st.host.status)
            st.task = asyncio.create_task(self._loop(st), name=f"secrets:{st.config.name}")
        if self._containers is not None:
            self._unsubscribe_hosts.append(self._containers.subscribe(self._containers_changed))

    async def stop(self) -> None:
        self._running = False
        for unsubscribe in self._unsubscribe_hosts:
            unsubscribe()
        self._unsubscribe_hosts.clear()
        for st in self.servers.values():
            if st.soon is not None:
                st.soon.cancel()
        tasks = [st.task for st in self.servers.values() if st.task and not st.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._compose is not None:
            await self._compose.close()

    async def refresh(self) -> None:
        """One full round on every server now (``check``/``report``), concurrently."""
        await asyncio.gather(*(self._refresh_server(st, wait=REFRESH_CONNECT_TIMEOUT)
                               for st in self.servers.values()))

    def request_refresh(self, server: str | None = None) -> None:
        """Ask the live loop for a check now (all servers, or one)."""
        for name, st in self.servers.items():
            if server is None or name == server:
                st.wake.set()

    def _containers_changed(self, change: str | Change) -> None:
        """A container of a server changed: re-check it shortly (bursts coalesce)."""
        server = change.server if isinstance(change, Change) else change
        st = self.servers.get(server) if server is not None else None
        if st is None or (st.soon is not None and not st.soon.cancelled()
                          and st.soon.when() > asyncio.get_running_loop().time()):
            return
        st.soon = asyncio.get_running_loop().call_later(CONTAINER_CHANGE_DELAY, st.wake.set)

    def _on_host(self, st: _Server, status: ConnectionStatus) -> None:
        if status.is_up:
            st.wake.set()
            return
        reason = f"server {status.state.value}"
        self._set_unavailable(st, f"{reason}: {status.detail}" if status.detail else reason,
                              status)

    async def _loop(self, st: _Server) -> None:
        while self._running:
            if st.host.status.is_up:
                await self._refresh_server(st, wait=None)
            st.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(st.wake.wait(), self.interval)

    # -- one server --------------------------------------------------------------------

    async def _refresh_server(self, st: _Server, wait: float | None) -> None:
        async with st.lock:
            if wait is not None and not await st.host.wait_up(timeout=wait):
                self._set_unavailable(st, st.host.status.describe(), st.host.status)
                return
            try:
                outcome = await asyncio.wait_for(self._check(st), SERVER_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except HostUnavailable as exc:
                self._set_unavailable(st, first_line(str(exc)) or "server unreachable",
                                      st.host.status)
                return
            except TimeoutError:
                self._set_unavailable(st, f"no answer within {SERVER_TIMEOUT:g}s",
                                      st.host.status)
                return
            except Exception as exc:  # noqa: BLE001 - shown, and retried next round
                log.debug("secrets check on %s failed: %s", st.config.name, type(exc).__name__)
                self._set_unavailable(st, f"check failed ({type(exc).__name__})",
                                      st.host.status)
                return
            now = utcnow()
            self._publish(st, ServerSecrets(
                server=st.config.name, state="ok", statuses=tuple(outcome.statuses),
                places=tuple(outcome.places), problems=tuple(outcome.problems),
                volumes=tuple(outcome.volumes), inferred=outcome.inferred,
                since=st.result.since if st.result.state == "ok" else now,
                checked_at=now, connection=st.host.status))

    def _set_unavailable(self, st: _Server, error: str,
                         connection: ConnectionStatus | None) -> None:
        old = st.result
        since: datetime = old.since if old.state == "unavailable" else utcnow()
        self._publish(st, replace(old, state="unavailable", error=error,
                                  stale=bool(old.statuses or old.volumes), since=since,
                                  connection=connection))

    async def _check(self, st: _Server) -> Round:
        """Read every place of one server, classify, drop the values, check the volumes.

        Compose containers are judged against their own service (``compose_view``): the
        project models are learnt first, and a Compose container's place is classified for
        every name its service declares, so that a stale value outside the secret names
        (or a changed compose file) is reported too.
        """
        cfg = st.config
        secrets_cfg = cfg.secrets
        socket_path = cfg.docker_socket
        outcome = Round()
        rows, volumes, docker_error = await gather.docker_lists(st.host, self.clients,
                                                                socket_path)
        if docker_error:
            outcome.problems.append(PlaceProblem("docker", docker_error))
        rows = [r for r in rows if gather.wanted(cfg, r)]
        models = await self.compose.for_containers(st.host, [gather.labels(r) for r in rows])
        composed = compose_containers(
            ((gather.container_name(r), gather.labels(r)) for r in rows), models)
        infer = gather.infers(secrets_cfg)
        outcome.inferred = infer
        files, containers = gather.choose_places(secrets_cfg, rows, infer)
        if infer:
            files += [p for p in model_env_files(composed) if p not in files]
        places: list[Place] = []
        try:
            places += [p for p in await asyncio.gather(
                *(gather.read_env_file(st.host, path, outcome, optional=infer)
                  for path in files)) if p is not None]
            places += [p for p in await asyncio.gather(
                *(gather.read_container(st.host, self.clients, socket_path, rows, name,
                                        outcome, infer) for name in containers))
                if p is not None]
            names = list(dict.fromkeys(infer_names(places) + model_names(composed))) \
                if infer else list(secrets_cfg.required)
            for place in places:
                self._classify(place, _names_for(place, names, composed), outcome)
        finally:
            for place in places:
                place.drop_values()
        outcome.statuses = statuses(cfg.name, names, places, infer, composed)
        outcome.problems += model_problems(models.values(), composed,
                                           {p.label: p.observations for p in places}, names)
        shown = {s.place for s in outcome.statuses} | {p.place for p in outcome.problems}
        outcome.places = [p.label for p in places if not infer or p.label in shown]
        if docker_error is None:
            outcome.volumes = await volume_statuses(cfg.name, st.host, cfg.compose_project,
                                                    st.seen_volumes, rows, volumes)
        return outcome

    def _classify(self, place: Place, names: list[str], outcome: Round) -> None:
        if not place.readable:
            return
        try:
            place.observations = observe(names, place.values or {}, self._fingerprint,
                                         place.unresolved)
        except Unclassifiable as exc:
            place.readable = False
            outcome.problems.append(PlaceProblem(place.label, str(exc)))


def _names_for(place: Place, names: list[str], composed: Mapping[str, ContainerCompose]
               ) -> list[str]:
    """The names to classify in ``place``: the secret names, and for a Compose container
    every name its service declares as well."""
    info = composed.get(place.label)
    if info is None or info.service is None:
        return names
    return list(dict.fromkeys([*names, *sorted(info.service.keys)]))
