"""What the console keeps of a Compose project: keys, origins and fingerprints, never values.

A ``ProjectModel`` says, per service, which names its ``environment:`` declares, which names
each of its ``env_file:`` files holds, and, per name, an ``Observation`` of the value the
service would get if it were recreated now (a state word, a weakness reason and a keyed
fingerprint, as the secret service keeps for every place). Values themselves are gone by
the time a model exists.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from console.engine.compose.labels import ProjectKey
from console.engine.secrets.observe import Observation
from console.models import utcnow

__all__ = [
    "ComposeTool",
    "EnvFileRef",
    "Expected",
    "ProjectModel",
    "ProjectProblem",
    "ServiceEnv",
    "relative_to",
]


@dataclass(frozen=True, slots=True)
class ComposeTool:
    """The Compose found on a server: the argv that starts it and its version."""

    argv: tuple[str, ...]
    version: str
    major: int

    @property
    def label(self) -> str:
        return f"{' '.join(self.argv)} {self.version}"


@dataclass(frozen=True, slots=True)
class ProjectProblem:
    """One line about a project that could not be (fully) understood.

    ``fatal``: Compose itself would refuse the project (a file that does not parse, a
    missing env_file, a required variable unset); otherwise a warning, and the model is
    still usable.
    """

    project: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.project}: {self.message}"


@dataclass(frozen=True, slots=True)
class EnvFileRef:
    """One ``env_file:`` entry of a service: its path, whether it must exist, its names."""

    path: str
    required: bool = True
    keys: frozenset[str] = frozenset()
    missing: bool = False


@dataclass(frozen=True, slots=True)
class Expected:
    """What a service would give a name now: the observation, and where the value comes from.

    ``origin`` is a path (an env_file, or the compose file whose ``environment:`` sets it),
    or ``"environment"`` for a value Compose takes from the environment it runs in.
    ``variables``: the interpolation variables the value was built from; ``from_env_files``:
    those of them the project's ``.env`` (or ``--env-file``) defines.
    """

    observation: Observation
    origin: str
    variables: frozenset[str] = frozenset()
    from_env_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceEnv:
    """One service's environment as Compose would create it now."""

    name: str
    declared: frozenset[str] = frozenset()  # keys its `environment:` lists
    env_files: tuple[EnvFileRef, ...] = ()
    expected: Mapping[str, Expected] = field(default_factory=lambda: MappingProxyType({}))
    config_hash: str | None = None

    @property
    def keys(self) -> frozenset[str]:
        """Every name the service declares, by ``environment:`` or through an env_file."""
        names = set(self.declared) | set(self.expected)
        for ref in self.env_files:
            names |= ref.keys
        return frozenset(names)

    def reads_env_file(self, path: str) -> bool:
        return any(ref.path == path for ref in self.env_files)


@dataclass(frozen=True, slots=True)
class ProjectModel:
    """A project's configuration on one server, as of ``resolved_at``.

    ``source``: how the values were learnt (``"docker-compose 1.29.2 config"``, or
    ``"compose files"`` when they were read directly). ``watched``: the files whose change
    makes the model out of date (compose files, the project's env files, env_files).
    """

    key: ProjectKey
    server: str
    source: str
    services: Mapping[str, ServiceEnv] = field(default_factory=lambda: MappingProxyType({}))
    problems: tuple[ProjectProblem, ...] = ()
    watched: tuple[str, ...] = ()
    resolved_at: datetime = field(default_factory=utcnow)

    @property
    def project(self) -> str:
        return self.key.project

    @property
    def ok(self) -> bool:
        return not any(p.fatal for p in self.problems)

    def service(self, name: str) -> ServiceEnv | None:
        return self.services.get(name)

    def short(self, path: str) -> str:
        """A path as the operator reads it: relative to the project's directory when inside."""
        return relative_to(path, self.key.working_dir)


def relative_to(path: str, directory: str) -> str:
    if directory and (path == directory or path.startswith(directory.rstrip("/") + "/")):
        return posixpath.relpath(path, directory)
    return path
