"""One server's live container state, mutable and owned by the service (event loop only)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime

from console.config import ServerConfig
from console.engine import dockerapi
from console.engine.containers.model import ServerContainers, sort_key
from console.engine.host_api import Host
from console.engine.shared import COMPOSE_PROJECT_LABEL
from console.models import ContainerInfo, utcnow

__all__ = ["ServerState"]


class ServerState:
    """Mutable live state for one server; only touched on the event loop."""

    def __init__(self, config: ServerConfig, host: Host) -> None:
        self.config = config
        self.host = host
        self.containers: dict[str, ContainerInfo] = {}
        self.state = "connecting"
        self.error = ""
        self.stale = False
        self.since = utcnow()
        self.updated_at: datetime | None = None
        self.restarting: set[str] = set()
        self.dirty: set[str] = set()
        self.destroyed: set[str] = set()  # ids are never reused; cleared on each full list
        self.drain_task: asyncio.Task[None] | None = None
        self.pump: dockerapi.StreamPump | None = None
        self.stream_ended: asyncio.Event = asyncio.Event()
        self.host_up: asyncio.Event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def filters(self) -> dict[str, str]:
        project = self.config.compose_project
        return {"label": f"{COMPOSE_PROJECT_LABEL}={project}"} if project else {}

    def wanted(self, info: ContainerInfo) -> bool:
        project = self.config.compose_project
        return project is None or info.project == project

    def view(self, info: ContainerInfo) -> ContainerInfo:
        """The row as shown: a container being restarted by us says so until the call ends."""
        if info.id in self.restarting and info.state != "restarting":
            return dataclasses.replace(info, state="restarting")
        return info

    def find(self, container: str) -> ContainerInfo | None:
        """A container by id (or, failing that, by name), as shown."""
        info = self.containers.get(container) or next(
            (c for c in self.containers.values() if c.name == container), None)
        return self.view(info) if info else None

    def snapshot(self) -> ServerContainers:
        rows = tuple(sorted((self.view(c) for c in self.containers.values()), key=sort_key))
        return ServerContainers(server=self.config.name, state=self.state, error=self.error,
                                containers=rows, stale=self.stale, since=self.since,
                                updated_at=self.updated_at)

    def set_unavailable(self, error: str) -> None:
        """The server (or its Docker) cannot be reached: keep the last rows, marked stale."""
        if self.state != "unavailable":
            self.since = utcnow()
        self.state, self.error = "unavailable", error
        self.stale = bool(self.containers)
