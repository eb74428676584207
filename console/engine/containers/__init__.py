"""Every server's containers, live from the Docker events stream, and restart.

- ``model``: the frozen read model (``ContainersSnapshot``, ``ServerContainers``) and the
  parsing of Docker's inspect documents;
- ``server``: one server's mutable live state;
- ``events``: listing, then following the events stream;
- ``service``: ``ContainerService``, the life cycle and restart.
"""

from console.engine.containers.events import WATCHED_EVENTS, parse_event
from console.engine.containers.model import (
    ContainersSnapshot,
    ServerContainers,
    container_from_inspect,
    group_by_project,
    parse_docker_time,
)
from console.engine.containers.service import ContainerService
from console.engine.shared import COMPOSE_PROJECT_LABEL, COMPOSE_SERVICE_LABEL

__all__ = [
    "COMPOSE_PROJECT_LABEL",
    "COMPOSE_SERVICE_LABEL",
    "WATCHED_EVENTS",
    "ContainerService",
    "ContainersSnapshot",
    "ServerContainers",
    "container_from_inspect",
    "group_by_project",
    "parse_docker_time",
    "parse_event",
]
