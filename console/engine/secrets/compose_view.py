"""Per-service expectations: what a Compose container should carry, from Compose's own view.

A container created by Compose is expected to carry exactly what its service declares: its
``environment:`` names and the names of each of its ``env_file:`` files. A service that does
not list the project's ``.env`` does not carry its names (the ``.env`` feeds interpolation
only), so a worker that only interpolates ``JWT_SECRET=${JWT_SECRET}`` is never told that it
lacks ``DATABASE_URL``. Where the running value differs (by keyed fingerprint) from what the
service would get if recreated now, the status is ``stale``, with the sentence that says
which file changed and that a restart does not help.

Comparisons stay inside a project: a container is compared with its own service's model,
never with another project's files. The compose package is imported lazily, so the secret
package's import never depends on it (the compose package reads ``secrets.observe``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.engine.secrets.observe import Observation
from console.engine.secrets.status import PlaceProblem, container_place, own_status
from console.engine.secrets.weakness import looks_secret
from console.models import SecretStatus

if TYPE_CHECKING:
    from console.engine.compose.labels import ComposeLabels, ProjectKey
    from console.engine.compose.model import ProjectModel, ServiceEnv

__all__ = [
    "STALE",
    "ContainerCompose",
    "compose_containers",
    "compose_status",
    "model_env_files",
    "model_names",
    "model_problems",
]

STALE = "stale"


@dataclass(frozen=True, slots=True)
class ContainerCompose:
    """A container's Compose identity and, when its project could be resolved, its service.

    ``service`` None with a ``model``: the service is gone from the compose files; ``model``
    None: the project could not be learnt (its problem line says why).
    """

    container: str
    labels: ComposeLabels
    model: ProjectModel | None
    service: ServiceEnv | None


def compose_containers(rows: Iterable[tuple[str, Mapping[str, str]]],
                       models: Mapping[ProjectKey, ProjectModel]
                       ) -> dict[str, ContainerCompose]:
    """Place label -> Compose identity, for every (name, labels) created by Compose."""
    from console.engine.compose.labels import ComposeLabels

    found: dict[str, ContainerCompose] = {}
    for name, labels in rows:
        parsed = ComposeLabels.parse(labels)
        if parsed is None or parsed.oneoff:
            continue
        key = parsed.key()
        model = models.get(key) if key is not None else None
        service = model.service(parsed.service) if model is not None else None
        found[container_place(name)] = ContainerCompose(name, parsed, model, service)
    return found


def compose_status(server: str, name: str, place: str, obs: Observation,
                   info: ContainerCompose) -> SecretStatus | None:
    """The status of ``name`` in a Compose container; None when the name is not its business
    (its service does not declare it and the container does not have it)."""
    from console.engine.compose.stale import differs, where_from

    expected = info.service.expected.get(name) if info.service is not None else None
    if expected is None:
        return None if obs.state == "absent" else own_status(server, name, place, obs)
    assert info.model is not None
    if differs(expected.observation, obs):
        reason = (f"{name}: {where_from(info.model, expected)} changed since {info.container} "
                  "was created (a restart keeps the old value): recreate")
        return SecretStatus(server, name, place, STALE, False, reason, obs.fingerprint)
    if expected.observation.state == "bare" and obs.state == "absent":
        return None  # declared without a value, and Compose had none to give
    return own_status(server, name, place, obs)


def model_names(containers: Mapping[str, ContainerCompose]) -> list[str]:
    """Zero-config: the secret-looking names the running containers' services declare."""
    names: dict[str, None] = {}
    for info in containers.values():
        if info.service is not None:
            for name in sorted(info.service.keys):
                if looks_secret(name):
                    names.setdefault(name, None)
    return list(names)


def model_env_files(containers: Mapping[str, ContainerCompose]) -> list[str]:
    """The env_file paths of the running containers' services (zero-config places)."""
    paths: dict[str, None] = {}
    for info in containers.values():
        if info.service is not None:
            for ref in info.service.env_files:
                if not ref.missing:
                    paths.setdefault(ref.path, None)
    return list(paths)


def model_problems(models: Iterable[ProjectModel], containers: Mapping[str, ContainerCompose],
                   observations: Mapping[str, Mapping[str, Observation]],
                   shown: Iterable[str]) -> list[PlaceProblem]:
    """One line per project problem; per container, what else makes it stale: a declared
    name outside ``shown`` (the secret names, which have statuses) whose value changed, or
    a compose file change (Compose's config hash) when the environment still agrees."""
    from console.engine.compose.stale import stale_findings

    problems: list[PlaceProblem] = []
    for model in models:
        for problem in model.problems:
            problems.append(PlaceProblem(f"compose:{model.project}", problem.message,
                                         problem.fatal))
    secret_names = set(shown)
    for place, info in containers.items():
        if info.model is None or info.service is None:
            continue
        found = stale_findings(info.model, info.labels, info.container,
                               observations.get(place, {}))
        for finding in found:
            if finding.name is None or finding.name not in secret_names:
                problems.append(PlaceProblem(place, finding.reason, fatal=False))
    return problems
