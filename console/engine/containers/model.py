"""The containers read model: per server, its state and its containers, frozen.

``ContainerService.snapshot()`` returns one ``ContainersSnapshot``; the pane, ``check``,
``report``, the other services and the diagnosis read it and nothing else. The parsing of
Docker's inspect documents lives here too, since it decides what a row says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from console.engine.shared import COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL
from console.models import ContainerInfo, utcnow

__all__ = [
    "ContainersSnapshot",
    "ServerContainers",
    "container_from_inspect",
    "group_by_project",
    "parse_docker_time",
    "sort_key",
]


@dataclass(frozen=True, slots=True)
class ServerContainers:
    """One server's part of the snapshot.

    ``state``: ``connecting`` (nothing known yet), ``ok`` (live), ``unavailable`` (Docker or
    the server cannot be reached; ``error`` says why in words). When a server is lost after
    having been seen, its last known containers are kept with ``stale=True`` so the operator
    still sees what was running, clearly marked.
    """

    server: str
    state: str = "connecting"
    error: str = ""
    containers: tuple[ContainerInfo, ...] = ()
    stale: bool = False
    since: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok" and all(c.ok for c in self.containers)


_DOCKER_TIME = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse_docker_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 with nanoseconds ('2024-05-01T10:00:00.123456789Z'); zero is None.

    ``datetime.fromisoformat`` in 3.11 takes at most microseconds, so the fraction is cut.
    """
    if not value or value.startswith("0001-01-01"):
        return None
    match = _DOCKER_TIME.match(value.strip())
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    text = whole + (f".{fraction[:6].ljust(6, '0')}" if fraction else "")
    text += "+00:00" if zone in (None, "Z") else zone
    return datetime.fromisoformat(text).astimezone(UTC)


def container_from_inspect(server: str, data: Mapping[str, Any]) -> ContainerInfo:
    """A ContainerInfo from ``docker inspect`` output (the low-level API dict)."""
    state = data.get("State") or {}
    config = data.get("Config") or {}
    labels = config.get("Labels") or {}
    health = (state.get("Health") or {}).get("Status") or "none"
    status = state.get("Status") or "unknown"
    exit_code = state.get("ExitCode")
    return ContainerInfo(
        server=server,
        id=str(data.get("Id", "")),
        name=str(data.get("Name", "")).lstrip("/"),
        project=labels.get(COMPOSE_PROJECT_LABEL),
        service=labels.get(COMPOSE_SERVICE_LABEL),
        state=str(status),
        health=str(health),
        restart_count=int(data.get("RestartCount") or 0),
        started_at=parse_docker_time(state.get("StartedAt")),
        image=str(config.get("Image") or data.get("Image") or ""),
        exit_code=int(exit_code) if status in ("exited", "dead") and exit_code is not None
        else None,
    )


def sort_key(info: ContainerInfo) -> tuple[str, str, str]:
    return (info.project or "\uffff", info.service or "", info.name)



def _no_servers() -> Mapping[str, ServerContainers]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ContainersSnapshot(Mapping[str, ServerContainers]):
    """Every configured server's part, in config order.

    It reads as a mapping from server name to ``ServerContainers`` (``snap["alpha"]``,
    ``snap.get(name)``, ``snap.items()``), which is how every consumer looks a server up;
    ``servers`` is that mapping itself.
    """

    servers: Mapping[str, ServerContainers] = field(default_factory=_no_servers)

    def __getitem__(self, server: str) -> ServerContainers:
        return self.servers[server]

    def __iter__(self) -> Iterator[str]:
        return iter(self.servers)

    def __len__(self) -> int:
        return len(self.servers)

    def find(self, server: str, container: str) -> ContainerInfo | None:
        """A container of a server by id, or failing that by name, as shown."""
        part = self.servers.get(server)
        if part is None:
            return None
        rows = part.containers
        return next((c for c in rows if c.id == container), None) or next(
            (c for c in rows if c.name == container), None)

    @property
    def ok(self) -> bool:
        return all(part.ok for part in self.servers.values())


def group_by_project(containers: Iterable[ContainerInfo]) -> dict[str | None, list[ContainerInfo]]:
    """Containers per compose project (None: not part of one), order kept."""
    groups: dict[str | None, list[ContainerInfo]] = {}
    for info in containers:
        groups.setdefault(info.project, []).append(info)
    return groups

