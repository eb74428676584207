"""Reading one server's places: its env files and its containers' ``Config.Env``.

Env files are read with ``host.read_file`` (over SSH for a remote server), containers with
``docker inspect`` through the host's Docker socket. A value is held only until
``observe`` has classified it; then ``Place.drop_values`` clears it. Zero-config (or a
server whose secrets section is empty): the places are each compose project's ``.env``
(found through the ``com.docker.compose.project.working_dir`` label) and the containers
themselves.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from console.config import SecretsConfig, ServerConfig
from console.engine import dockerapi
from console.engine.envfile import parse_env
from console.engine.host_api import Host, HostUnavailable
from console.engine.secrets.observe import Place, env_list_to_dict
from console.engine.secrets.status import (
    PlaceProblem,
    VolumeStatus,
    container_place,
)
from console.engine.shared import (
    COMPOSE_CONFIG_FILES_LABEL,
    COMPOSE_PROJECT_LABEL,
    COMPOSE_WORKING_DIR_LABEL,
)
from console.models import SecretStatus

__all__ = [
    "CONFIG_FILES_LABEL",
    "PROJECT_LABEL",
    "WORKING_DIR_LABEL",
    "DockerDoc",
    "InspectAPI",
    "Round",
    "choose_places",
    "container_name",
    "docker_lists",
    "first_line",
    "infers",
    "labels",
    "read_container",
    "read_env_file",
    "wanted",
]

PROJECT_LABEL = COMPOSE_PROJECT_LABEL
WORKING_DIR_LABEL = COMPOSE_WORKING_DIR_LABEL
CONFIG_FILES_LABEL = COMPOSE_CONFIG_FILES_LABEL
ENV_FILE_MAX_BYTES = 1024 * 1024

DockerDoc = Mapping[str, Any]
"""A JSON document from the Docker API (a container row, an inspect, a volume)."""


class InspectAPI(Protocol):
    """The part of docker-py's ``APIClient`` the secret service reads."""

    def containers(self, *, all: bool = ...) -> list[DockerDoc]: ...

    def volumes(self) -> Mapping[str, Any] | None: ...

    def inspect_container(self, container: str) -> dict[str, Any]: ...


class InspectClient(Protocol):
    @property
    def api(self) -> InspectAPI: ...


@dataclass(slots=True)
class Round:
    """Everything one server check produced (no values)."""

    statuses: list[SecretStatus] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    problems: list[PlaceProblem] = field(default_factory=list)
    volumes: list[VolumeStatus] = field(default_factory=list)
    inferred: bool = False


def container_name(row: DockerDoc) -> str:
    names = row.get("Names") or []
    if names:
        return str(names[0]).lstrip("/")
    return str(row.get("Name", "")).lstrip("/")


def labels(row: DockerDoc) -> Mapping[str, str]:
    found = row.get("Labels")
    if found is None:
        found = (row.get("Config") or {}).get("Labels")
    return found or {}


def first_line(text: str, limit: int = 200) -> str:
    text = text.strip()
    return text.splitlines()[0][:limit] if text else ""


def _read_error(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(exc, IsADirectoryError):
        return "cannot be read: it is a directory"
    detail = first_line(str(exc)) or type(exc).__name__
    return f"cannot be read: {detail}"


def infers(cfg: SecretsConfig) -> bool:
    """Zero-config, or a server whose secrets section is empty: infer names and places."""
    return cfg.infer or not (cfg.required or cfg.env_files or cfg.containers)


def wanted(cfg: ServerConfig, row: DockerDoc) -> bool:
    project = cfg.compose_project
    return project is None or labels(row).get(PROJECT_LABEL) == project


def choose_places(cfg: SecretsConfig, rows: list[DockerDoc], infer: bool
                  ) -> tuple[list[str], list[str]]:
    """Configured places, or (zero-config / none configured) each project's .env and
    every container."""
    if not infer and (cfg.env_files or cfg.containers):
        return list(cfg.env_files), list(cfg.containers)
    files: list[str] = []
    for row in rows:
        directory = labels(row).get(WORKING_DIR_LABEL)
        if directory:
            path = posixpath.join(directory, ".env")
            if path not in files:
                files.append(path)
    return files, [container_name(r) for r in rows]


async def docker_lists(host: Host, clients: dockerapi.DockerClients, socket_path: str
                       ) -> tuple[list[DockerDoc], list[DockerDoc], str | None]:
    """All containers and volumes; an error sentence instead when Docker fails."""
    try:
        client: InspectClient = await clients.get(host)
        rows = await dockerapi.run_blocking(client.api.containers, all=True)
        volumes = await dockerapi.run_blocking(client.api.volumes)
    except HostUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - Docker down is a state, not a crash
        if not host.status.is_up:
            raise HostUnavailable(host.status.describe()) from None
        clients.invalidate(host)
        return [], [], dockerapi.describe_docker_error(exc, socket_path)
    return list(rows or []), list((volumes or {}).get("Volumes") or []), None


async def read_env_file(host: Host, path: str, outcome: Round, optional: bool = False
                        ) -> Place | None:
    """Read and parse one env file. ``optional`` (zero-config): a project without a
    ``.env`` is normal, so its absence is not reported."""
    place = Place(label=path, kind="file", directory=posixpath.dirname(path))
    try:
        data = await host.read_file(path, max_bytes=ENV_FILE_MAX_BYTES)
    except HostUnavailable:
        raise
    except FileNotFoundError:
        if optional:
            return None
        place.missing_file = True
        outcome.problems.append(PlaceProblem(path, "file not found", fatal=False))
        return place
    except Exception as exc:  # noqa: BLE001 - unreadable is shown, not raised
        place.readable = False
        outcome.problems.append(PlaceProblem(path, _read_error(exc)))
        return place
    envfile = parse_env(data, path)
    del data
    place.values = envfile
    place.assigned = frozenset(envfile.assigned)
    place.unresolved = envfile.unresolved
    for issue in envfile.issues:
        outcome.problems.append(PlaceProblem(path, f"{issue} (line skipped)", fatal=False))
    return place


async def read_container(host: Host, clients: dockerapi.DockerClients, socket_path: str,
                         rows: list[DockerDoc], name: str, outcome: Round, infer: bool
                         ) -> Place | None:
    """One container's environment as a place (its values cleared from the inspect doc)."""
    label = container_place(name)
    row = next((r for r in rows if container_name(r) == name), None)
    if row is None:
        if not infer:
            outcome.problems.append(PlaceProblem(label, "no such container"))
        return None
    try:
        client: InspectClient = await clients.get(host)
        data = await dockerapi.run_blocking(client.api.inspect_container, row["Id"])
    except HostUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001
        outcome.problems.append(PlaceProblem(
            label, dockerapi.describe_docker_error(exc, socket_path)))
        return None
    config = data.get("Config") or {}
    env = config.pop("Env", None) or []
    data.clear()
    values = env_list_to_dict(env)
    env.clear()
    return Place(label=label, kind="container", values=values,
                 assigned=frozenset(n for n, v in values.items() if v is not None),
                 directory=labels(row).get(WORKING_DIR_LABEL))
