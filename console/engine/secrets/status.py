"""What the secret service reports: a status per name and place, drift, the read model.

Every message is built from fixed words, names, paths and line numbers only; drift groups
come from keyed fingerprints, never values. ``SecretsSnapshot`` is the read model that
``check``, ``report``, the secrets pane and the diagnosis all read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from console.engine.secrets.observe import ABSENT, Observation, Place
from console.engine.secrets.weakness import looks_secret
from console.models import ConnectionStatus, SecretStatus, utcnow

if TYPE_CHECKING:
    from console.engine.secrets.compose_view import ContainerCompose

__all__ = [
    "DRIFT_NOTE",
    "STATUSES",
    "PlaceProblem",
    "SecretsSnapshot",
    "ServerSecrets",
    "VolumeStatus",
    "apply_drift",
    "container_place",
    "infer_names",
    "own_status",
    "secret_status_json",
    "split_drift",
    "statuses",
]

STATUSES = ("present", "missing", "empty", "weak", "not_in_container", "differs_from_file",
            "stale")


def container_place(name: str) -> str:
    return f"container:{name}"


@dataclass(frozen=True, slots=True)
class PlaceProblem:
    """A place that could not be (fully) read: the reason in words, never its content."""

    place: str
    message: str
    fatal: bool = True  # False: the place was read, with warnings (invalid .env lines)


@dataclass(frozen=True, slots=True)
class VolumeStatus:
    """A named Docker volume a compose project uses or declares, and whether it exists."""

    server: str
    name: str
    project: str | None
    status: str  # present | missing
    ok: bool
    used_by: tuple[str, ...] = ()
    detail: str = ""
    driver: str = ""
    created_at: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "project": self.project, "status": self.status,
                "ok": self.ok, "used_by": list(self.used_by), "detail": self.detail,
                "driver": self.driver, "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class ServerSecrets:
    """One server's part of the snapshot.

    ``state``: ``connecting`` (nothing known yet), ``ok``, or ``unavailable`` (``error``
    says why). After a loss the last results are kept with ``stale=True``.
    """

    server: str
    state: str = "connecting"
    error: str = ""
    statuses: tuple[SecretStatus, ...] = ()
    places: tuple[str, ...] = ()
    problems: tuple[PlaceProblem, ...] = ()
    volumes: tuple[VolumeStatus, ...] = ()
    inferred: bool = False
    stale: bool = False
    since: datetime = field(default_factory=utcnow)
    checked_at: datetime | None = None
    connection: ConnectionStatus | None = None

    @property
    def ok(self) -> bool:
        return (self.state == "ok" and all(s.ok for s in self.statuses)
                and all(v.ok for v in self.volumes)
                and not any(p.fatal for p in self.problems))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.name for s in self.statuses))


def secret_status_json(status: SecretStatus) -> dict[str, object]:
    """The ``check --json`` shape: no value and no fingerprint, ever. ``reason``: for a
    ``stale`` container, the sentence saying what changed and the fix; else null."""
    return {"name": status.name, "place": status.place, "status": status.status,
            "ok": status.ok, "detail": status.detail, "drift": status.drift,
            "reason": split_drift(status.detail)[0] if status.status == "stale" else None}


@dataclass(frozen=True, slots=True)
class SecretsSnapshot:
    """The secrets' read model: per server (config order) with cross-server drift applied.

    ``drift``: per drifting name, which places agree with which ("A = alpha .env, ...;
    B = ..."), names and places only. ``servers`` and ``drift`` are read-only mappings.
    """

    servers: Mapping[str, ServerSecrets]
    drift: Mapping[str, str]

    @property
    def statuses(self) -> tuple[SecretStatus, ...]:
        """Every status of every server, flattened (for ``check`` and ``report``)."""
        return tuple(s for result in self.servers.values() for s in result.statuses)


def infer_names(places: list[Place]) -> list[str]:
    """Secret-looking names assigned anywhere (bare ``NAME`` lines are not trusted: a
    stray pasted value alone on a line would otherwise become a 'name' on screen)."""
    names: dict[str, None] = {}
    for place in places:
        for name in sorted(place.assigned):
            if looks_secret(name) and _plausible_name(name):
                names.setdefault(name, None)
    return list(names)


_NAME_SHAPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")


def _plausible_name(name: str) -> bool:
    return bool(_NAME_SHAPE.match(name))


def _feeding_files(container: Place, files: list[Place], infer: bool) -> list[Place]:
    """The env files that feed a container not created by Compose (or whose project could
    not be learnt): same directory when that is known, and sharing at least one name with
    it (an nginx sidecar of the same project gets no env_file, and must not be told it
    needs a restart). Only with an explicit configuration is a container of unknown
    directory compared with every file of the server: zero-config never compares one
    project's container with another project's files.
    """
    readable = [f for f in files if f.readable and not f.missing_file]
    same_dir = [f for f in readable if container.directory and f.directory == container.directory]
    candidates = same_dir if infer or container.directory else same_dir or readable
    return [f for f in candidates if f.assigned & container.assigned]


def statuses(server: str, names: list[str], places: list[Place], infer: bool,
             compose: Mapping[str, ContainerCompose] | None = None) -> list[SecretStatus]:
    """A status per name and place. A container in ``compose`` is judged against its own
    service's model (``compose_view``); the others against the env files that feed them."""
    files = [p for p in places if p.kind == "file" and p.readable]
    containers = [p for p in places if p.kind == "container"]
    compose = compose or {}
    feeds = {c.label: _feeding_files(c, files, infer) for c in containers
             if c.label not in compose}
    if compose:
        from console.engine.secrets.compose_view import compose_status
    result: list[SecretStatus] = []
    for name in names:
        for place in files:
            obs = place.observations.get(name, ABSENT)
            if infer and obs.state == "absent":
                continue
            result.append(_file_status(server, name, place, obs))
        for place in containers:
            obs = place.observations.get(name, ABSENT)
            info = compose.get(place.label)
            if info is not None:
                judged = compose_status(server, name, place.label, obs, info)
                if judged is not None and (not infer or judged.status != "missing"):
                    result.append(judged)
                elif judged is None and not infer:
                    result.append(own_status(server, name, place.label, obs))
                continue
            sources = [(f.label, f.observations.get(name, ABSENT)) for f in feeds[place.label]]
            status = _container_status(server, name, place.label, obs, sources)
            if infer and obs.state == "absent" and status.status != "not_in_container":
                continue
            result.append(status)
    return result


def own_status(server: str, name: str, place: str, obs: Observation) -> SecretStatus:
    if obs.state == "absent":
        return SecretStatus(server, name, place, "missing", False, "not set here")
    if obs.state == "bare":
        return SecretStatus(server, name, place, "empty", False,
                            "listed without a value (NAME with no '=')")
    if obs.state == "empty":
        return SecretStatus(server, name, place, "empty", False, "set to an empty value")
    if obs.weak:
        fingerprint = None if obs.unresolved else obs.fingerprint
        return SecretStatus(server, name, place, "weak", False, obs.weak, fingerprint)
    if obs.unresolved:
        return SecretStatus(server, name, place, "present", True,
                            "uses ${...} from the deploying shell; not compared")
    return SecretStatus(server, name, place, "present", True, "", obs.fingerprint)


def _file_status(server: str, name: str, place: Place, obs: Observation) -> SecretStatus:
    status = own_status(server, name, place.label, obs)
    if place.missing_file:
        return replace(status, detail="the file does not exist")
    return status


def _container_status(server: str, name: str, place: str, obs: Observation,
                      sources: list[tuple[str, Observation]]) -> SecretStatus:
    with_value = [(label, o) for label, o in sources if o.has_value]
    if obs.state == "absent" and with_value:
        return SecretStatus(server, name, place, "not_in_container", False,
                            f"set in {with_value[0][0]} but not in the running container: "
                            "recreate it (a plain restart keeps the old environment)")
    comparable = [(label, o) for label, o in with_value if o.comparable]
    if comparable and obs.state in ("empty", "value") and (
            obs.fingerprint not in {o.fingerprint for _, o in comparable}):
        detail = ("empty in the container but" if obs.state == "empty" else "differs from") + \
            f" {comparable[0][0]}" + (" (which has a value)" if obs.state == "empty" else "") + \
            ": recreate the container or fix the file"
        return SecretStatus(server, name, place, "differs_from_file", False, detail,
                            obs.fingerprint)
    return own_status(server, name, place, obs)


DRIFT_NOTE = "; drift: "


def split_drift(detail: str) -> tuple[str, str]:
    """A status detail split into its own reason and its drift note (either may be '')."""
    if detail.startswith(DRIFT_NOTE[2:]):
        return "", detail[len(DRIFT_NOTE) - 2:]
    base, _, note = detail.partition(DRIFT_NOTE)
    return base, note


def _drift_groups(results: dict[str, ServerSecrets], consistent: frozenset[str]
                  ) -> dict[str, dict[str, list[str]]]:
    """For each drifting name: fingerprint -> the places ("server place") holding it."""
    groups: dict[str, dict[str, list[str]]] = {}
    for result in results.values():
        for status in result.statuses:
            if status.name in consistent and status.fingerprint:
                where = f"{result.server} {_short_place(status.place)}"
                groups.setdefault(status.name, {}).setdefault(status.fingerprint, []).append(
                    where)
    return {name: fps for name, fps in groups.items() if len(fps) > 1}


def apply_drift(results: dict[str, ServerSecrets], consistent: frozenset[str]
                 ) -> tuple[dict[str, ServerSecrets], dict[str, str]]:
    """Mark ``consistent`` names whose fingerprints differ between places, on all servers.

    Groups of equal values are lettered A, B, ... in config order, so the operator reads
    which places agree ("A: alpha .env, alpha crm-backend-1; B: bravo .env") without any
    value or fingerprint on screen. Returns the marked results and, per drifting name, the
    one-line summary of its groups.
    """
    drifting = _drift_groups(results, consistent) if consistent else {}
    if not drifting:
        return results, {}
    summaries: dict[str, str] = {}
    letters: dict[str, dict[str, str]] = {}
    for name, fps in drifting.items():
        letters[name] = {fp: chr(ord("A") + i) for i, fp in enumerate(fps)}
        summaries[name] = (f"{len(fps)} different values where one is required: " + "; ".join(
            f"{letters[name][fp]} = {', '.join(places)}" for fp, places in fps.items()))
    updated: dict[str, ServerSecrets] = {}
    for server, result in results.items():
        statuses = []
        for status in result.statuses:
            if status.name in drifting and status.fingerprint in letters[status.name]:
                letter = letters[status.name][status.fingerprint]
                note = f"value {letter} here; {summaries[status.name]}"
                detail = f"{status.detail}{DRIFT_NOTE}{note}" if status.detail \
                    else f"{DRIFT_NOTE[2:]}{note}"
                status = replace(status, drift=True, ok=False, detail=detail)
            statuses.append(status)
        updated[server] = replace(result, statuses=tuple(statuses))
    return updated, summaries


def _short_place(place: str) -> str:
    if place.startswith("container:"):
        return place.removeprefix("container:")
    return place
