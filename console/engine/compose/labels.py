"""The labels Compose puts on every container it creates, read into one typed record.

Compose (v1 and v2) writes the project, the service, the project's working directory, the
config files it was given and, since v2, the env files used for interpolation. With those a
container says where its configuration lives on its server, so the console can ask that
server's Compose (or read the files) without any configuration of its own.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from console.engine.shared import (
    COMPOSE_CONFIG_FILES_LABEL,
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    COMPOSE_WORKING_DIR_LABEL,
)

__all__ = [
    "CONFIG_FILES_LABEL",
    "CONFIG_HASH_LABEL",
    "COMPOSE_VERSION_LABEL",
    "ENVIRONMENT_FILE_LABEL",
    "ONEOFF_LABEL",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "WORKING_DIR_LABEL",
    "ComposeLabels",
    "ProjectKey",
]

PROJECT_LABEL = COMPOSE_PROJECT_LABEL
SERVICE_LABEL = COMPOSE_SERVICE_LABEL
WORKING_DIR_LABEL = COMPOSE_WORKING_DIR_LABEL
CONFIG_FILES_LABEL = COMPOSE_CONFIG_FILES_LABEL
ENVIRONMENT_FILE_LABEL = "com.docker.compose.project.environment_file"
CONFIG_HASH_LABEL = "com.docker.compose.config-hash"
ONEOFF_LABEL = "com.docker.compose.oneoff"
COMPOSE_VERSION_LABEL = "com.docker.compose.version"


@dataclass(frozen=True, slots=True)
class ProjectKey:
    """What identifies one project's configuration on one server (the cache key)."""

    project: str
    working_dir: str
    config_files: tuple[str, ...]
    env_files: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ComposeLabels:
    """A container's Compose labels; ``None`` from ``parse`` when it has no project label."""

    project: str
    service: str
    working_dir: str | None
    config_files: tuple[str, ...]
    environment_files: tuple[str, ...]
    config_hash: str | None
    oneoff: bool
    compose_version: str | None = None  # of the Compose that created the container

    @classmethod
    def parse(cls, labels: Mapping[str, str] | None) -> ComposeLabels | None:
        """Read the labels; relative config file paths are taken from the working dir."""
        labels = labels or {}
        project = (labels.get(PROJECT_LABEL) or "").strip()
        service = (labels.get(SERVICE_LABEL) or "").strip()
        if not project or not service:
            return None
        working_dir = (labels.get(WORKING_DIR_LABEL) or "").strip() or None
        return cls(
            project=project, service=service, working_dir=working_dir,
            config_files=_paths(labels.get(CONFIG_FILES_LABEL), working_dir),
            environment_files=_paths(labels.get(ENVIRONMENT_FILE_LABEL), working_dir),
            config_hash=(labels.get(CONFIG_HASH_LABEL) or "").strip() or None,
            oneoff=(labels.get(ONEOFF_LABEL) or "").strip().lower() == "true",
            compose_version=(labels.get(COMPOSE_VERSION_LABEL) or "").strip() or None)

    @property
    def resolvable(self) -> bool:
        """Compose's configuration can be found: a working dir and at least one file."""
        return self.working_dir is not None and bool(self.config_files)

    @property
    def project_env_files(self) -> tuple[str, ...]:
        """The files Compose read for interpolation: the label's, else ``<working_dir>/.env``."""
        if self.environment_files:
            return self.environment_files
        if self.working_dir is None:
            return ()
        return (posixpath.join(self.working_dir, ".env"),)

    def key(self) -> ProjectKey | None:
        if self.working_dir is None or not self.config_files:
            return None
        return ProjectKey(self.project, self.working_dir, self.config_files,
                          self.project_env_files)


def _paths(raw: str | None, working_dir: str | None) -> tuple[str, ...]:
    paths: list[str] = []
    for part in (raw or "").split(","):
        path = part.strip()
        if not path:
            continue
        if not posixpath.isabs(path) and working_dir:
            path = posixpath.normpath(posixpath.join(working_dir, path))
        if path not in paths:
            paths.append(path)
    return tuple(paths)
