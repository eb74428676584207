"""Is a running container what its service would be if recreated now? Said in words.

Incident 003's trap: the ``.env`` was fixed, the container restarted, and nothing changed,
because a restart keeps the environment the container was created with. Here each name a
service declares is compared, by keyed fingerprint, between the running container and the
model of its project; a difference is a ``Staleness`` whose ``reason`` names the file that
changed and the fix (recreate). When the environment agrees but Compose's own config hash
differs from the container's label, the compose file (image, command, ports...) changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from console.engine.compose.labels import ComposeLabels
from console.engine.compose.model import Expected, ProjectModel
from console.engine.secrets.observe import Observation

__all__ = ["Staleness", "differs", "stale_findings", "where_from"]

_ABSENT = Observation("absent")


@dataclass(frozen=True, slots=True)
class Staleness:
    """One way a container lags behind its service: ``kind`` ``env`` (``name`` set) or
    ``config`` (the compose file changed, ``name`` None)."""

    server: str
    container: str
    project: str
    service: str
    kind: str
    reason: str
    name: str | None = None


def stale_findings(model: ProjectModel, labels: ComposeLabels, container: str,
                   observed: Mapping[str, Observation]) -> list[Staleness]:
    """What differs between ``container`` (its observations by name) and its service now."""
    service = model.service(labels.service)
    if service is None or labels.oneoff:
        return []
    found: list[Staleness] = []
    for name in sorted(service.expected):
        expected = service.expected[name]
        if differs(expected.observation, observed.get(name, _ABSENT)):
            where = where_from(model, expected)
            found.append(Staleness(
                model.server, container, model.project, service.name, "env",
                f"{name}: {where} changed since {container} was created "
                "(a restart keeps the old value): recreate", name))
    if not found and service.config_hash and labels.config_hash \
            and service.config_hash != labels.config_hash:
        found.append(Staleness(
            model.server, container, model.project, service.name, "config",
            f"{container}: its compose configuration (image, command, ports or other "
            "settings) changed since it was created: recreate"))
    return found


def differs(expected: Observation, actual: Observation) -> bool:
    """Would recreating change this name? Unresolved values are never judged."""
    if expected.unresolved or actual.unresolved:
        return False
    if expected.state == "value":
        return actual.state != "value" or actual.fingerprint != expected.fingerprint
    if expected.state == "empty":
        return actual.state == "value"
    return False  # listed without a value: Compose passes nothing it could compare


def where_from(model: ProjectModel, expected: Expected) -> str:
    """The file to blame: the env_file it comes from, else the .env it was interpolated
    from, else the compose file, else the environment Compose runs in."""
    if expected.from_env_files:
        return model.short(expected.from_env_files[0])
    if expected.origin == "environment":
        return "the environment Compose runs in"
    if expected.origin == "compose config":
        return "the compose configuration"
    return model.short(expected.origin)
