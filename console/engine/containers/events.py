"""Following one server's Docker events: list once, then re-inspect what each event names.

Why events and not polling: a poll loop over 50 servers costs CPU while nothing happens
(lazydocker #115) and still shows a restart seconds late. Per server the stream is opened
first and the containers listed after, so nothing that happens between the two is missed;
each event then re-inspects just its container (the list API lacks health, RestartCount
and StartedAt).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from console.engine import dockerapi
from console.engine.containers.model import container_from_inspect
from console.engine.containers.server import ServerState
from console.engine.shared import is_not_found
from console.models import ContainerInfo, utcnow

__all__ = ["WATCHED_EVENTS", "ContainerClient", "EventFollower", "parse_event"]

log = logging.getLogger(__name__)

# What changes a row. Asked of the daemon as a filter, so it never sends the rest: a
# healthcheck's exec_create/exec_start/exec_die every few seconds per container would
# otherwise cross the SSH link and be decoded only to be dropped, which costs an idle
# console CPU. The daemon matches "health_status" against "health_status: healthy" and
# the like.
WATCHED_EVENTS = ("create", "start", "restart", "stop", "die", "kill", "pause", "unpause",
                  "oom", "destroy", "rename", "update", "health_status")
# Events that cannot change what the pane shows, should a daemon send them anyway: every
# `docker exec` (a migration, a health check) emits three.
_IGNORED_ACTION_PREFIXES = ("exec_", "attach", "detach", "resize", "top", "archive-path",
                            "extract-to-dir", "export", "commit", "copy", "create-exec")


class _ContainerAPI(Protocol):
    """The low-level docker SDK calls the container service makes."""

    def containers(self, *, all: bool, filters: Mapping[str, object] | None
                   ) -> list[Mapping[str, object]]: ...

    def inspect_container(self, container: str) -> Mapping[str, object]: ...

    def restart(self, container: str, *, timeout: int) -> None: ...


class ContainerClient(Protocol):
    """A ``docker.DockerClient`` as far as the container service uses it."""

    @property
    def api(self) -> _ContainerAPI: ...

    def events(self, *, decode: bool, filters: Mapping[str, object]) -> Iterable[object]: ...


def parse_event(event: object) -> tuple[str, str] | None:
    """``(action, container_id)`` of a container event worth acting on, else None."""
    if not isinstance(event, Mapping) or event.get("Type", "container") != "container":
        return None
    action = str(event.get("Action") or event.get("status") or "")
    actor = event.get("Actor")
    actor_id = actor.get("ID") if isinstance(actor, Mapping) else None
    container_id = str(event.get("id") or actor_id or "")
    if not container_id or action.startswith(_IGNORED_ACTION_PREFIXES):
        return None
    return action, container_id


class EventFollower:
    """Keeps each server's rows in step with its Docker daemon, by listing and by events.

    ``notify(server)`` is called whenever a server's rows changed.
    """

    def __init__(self, clients: Callable[[], dockerapi.DockerClients],
                 notify: Callable[[str], None]) -> None:
        self._clients = clients
        self._notify = notify

    async def client(self, st: ServerState) -> ContainerClient:
        client: ContainerClient = await self._clients().get(st.host)
        return client

    async def follow(self, st: ServerState) -> None:
        """Open the events stream, then list; returns (or raises) when the stream ends."""
        client = await self.client(st)
        st.stream_ended.clear()
        end_error: list[BaseException | None] = []

        def on_end(error: BaseException | None) -> None:
            end_error.append(error)
            st.stream_ended.set()

        filters: dict[str, object] = {"type": "container", "event": list(WATCHED_EVENTS),
                                      **st.filters}
        st.pump = dockerapi.pump_stream(
            lambda: client.events(decode=True, filters=filters),
            lambda event: self.on_event(st, event),
            on_end,
            name=f"docker-events:{st.name}",
        )
        await st.pump.opened
        await self.full_list(st)
        await st.stream_ended.wait()
        if end_error and end_error[0] is not None:
            raise end_error[0]

    async def full_list(self, st: ServerState) -> None:
        """List and inspect every container of the server: the rows start over from here."""
        client = await self.client(st)
        rows = await dockerapi.run_blocking(client.api.containers, all=True,
                                            filters=st.filters or None)
        ids = [str(row["Id"]) for row in rows]
        inspected = await asyncio.gather(*(self.inspect(st, client, cid) for cid in ids))
        st.containers = {info.id: info for info in inspected
                         if info is not None and st.wanted(info)}
        st.destroyed.clear()
        st.state, st.error, st.stale = "ok", "", False
        st.since = st.updated_at = utcnow()
        self._notify(st.name)

    async def inspect(self, st: ServerState, client: ContainerClient,
                      container_id: str) -> ContainerInfo | None:
        """Inspect one container; None when it has gone (removed between list and inspect)."""
        try:
            data = await dockerapi.run_blocking(client.api.inspect_container, container_id)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        return container_from_inspect(st.name, data)

    def on_event(self, st: ServerState, event: object) -> None:
        parsed = parse_event(event)
        if parsed is None:
            return
        action, container_id = parsed
        if action == "destroy":
            if st.containers.pop(container_id, None) is not None:
                st.updated_at = utcnow()
                self._notify(st.name)
            # An inspect started before the destroy (for its "die") may land after it and
            # would put the row back for good: remember the id so drain() drops that answer.
            st.destroyed.add(container_id)
            st.dirty.discard(container_id)
            return
        self.mark_dirty(st, container_id)

    def mark_dirty(self, st: ServerState, container_id: str) -> None:
        """Queue a re-inspect; one drain task per server keeps them ordered and coalesced."""
        st.dirty.add(container_id)
        if st.drain_task is None or st.drain_task.done():
            st.drain_task = asyncio.create_task(self.drain(st),
                                                name=f"containers-inspect:{st.name}")

    async def drain(self, st: ServerState) -> None:
        while st.dirty:
            container_id = st.dirty.pop()
            try:
                client = await self.client(st)
                info = await self.inspect(st, client, container_id)
            except Exception as exc:  # noqa: BLE001 - the stream's end reports the outage
                log.debug("inspect %s on %s failed: %s", container_id, st.name, exc)
                continue
            if info is None or not st.wanted(info) or container_id in st.destroyed:
                changed = st.containers.pop(container_id, None) is not None
            else:
                changed = st.containers.get(container_id) != info
                st.containers[container_id] = info
            if changed or container_id in st.restarting:
                st.updated_at = utcnow()
                self._notify(st.name)
