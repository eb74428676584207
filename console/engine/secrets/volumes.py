"""Volumes: the named Docker volumes each compose project uses or declares, present or not.

A project's volumes are the ones its containers mount, the ones labelled with the project,
the top-level ``volumes:`` of its compose file(s), and any seen earlier in this run. A
deleted database volume is the loss an operator most needs to see ("gone since
08:01:13"), so a volume once seen stays listed, as missing, when it goes.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from console.engine.compose.labels import WORKING_DIR_LABEL
from console.engine.host_api import Host, HostUnavailable
from console.engine.secrets.gather import (
    CONFIG_FILES_LABEL,
    PROJECT_LABEL,
    DockerDoc,
    container_name,
    labels,
)
from console.engine.secrets.status import VolumeStatus
from console.models import utcnow

__all__ = ["SeenVolumes", "compose_volume_names", "volume_statuses"]

COMPOSE_FILE_MAX_BYTES = 512 * 1024

SeenVolumes = dict[str, tuple[str | None, datetime]]
"""Volume name -> (project, first seen): what this run has seen on one server."""


async def volume_statuses(server: str, host: Host, compose_project: str | None,
                          seen: SeenVolumes, rows: list[DockerDoc],
                          volume_docs: list[DockerDoc]) -> list[VolumeStatus]:
    """Every expected volume of the server's projects, present or missing (``seen`` grows)."""
    existing = {str(v.get("Name")): v for v in volume_docs if v.get("Name")}
    projects = {p for r in rows if (p := labels(r).get(PROJECT_LABEL))}
    if compose_project:
        projects.add(compose_project)
    expected: dict[str, _Expected] = {}
    for row in rows:
        project = labels(row).get(PROJECT_LABEL)
        for mount in row.get("Mounts") or []:
            vname = mount.get("Name")
            if mount.get("Type") == "volume" and vname and not _anonymous(vname):
                entry = expected.setdefault(vname, _Expected(project))
                entry.used_by.append(container_name(row))
    for vname, doc in existing.items():
        project = (doc.get("Labels") or {}).get(PROJECT_LABEL)
        if project in projects:
            expected.setdefault(vname, _Expected(project)).declared = "labelled"
    for vname, project, source in await _compose_declared(host, rows):
        entry = expected.setdefault(vname, _Expected(project))
        entry.declared = entry.declared or f"declared in {source}"
    now = utcnow()
    for vname, (project, _) in seen.items():
        expected.setdefault(vname, _Expected(project))
    result: list[VolumeStatus] = []
    for vname, entry in sorted(expected.items(),
                               key=lambda kv: (kv[1].project or "\uffff", kv[0])):
        result.append(_volume_status(server, seen, vname, entry, existing.get(vname), now))
    return result


async def _compose_declared(host: Host, rows: list[DockerDoc]
                            ) -> list[tuple[str, str | None, str]]:
    """Top-level ``volumes:`` of each project's compose file(s), if they can be read."""
    files: dict[str, str] = {}
    for row in rows:
        found = labels(row)
        for path in _config_files(found):
            files.setdefault(path, found.get(PROJECT_LABEL) or "")
    declared: list[tuple[str, str | None, str]] = []
    for path, project in files.items():
        try:
            text = await host.read_file(path, max_bytes=COMPOSE_FILE_MAX_BYTES)
        except HostUnavailable:
            raise
        except Exception:  # noqa: BLE001 - an unreadable compose file only loses a hint
            continue
        for vname in compose_volume_names(text, project):
            declared.append((vname, project or None, path))
    return declared


def _config_files(found: Mapping[str, str]) -> list[str]:
    """The label's config files; a relative one (docker-compose v1 run in the project's
    directory writes the bare file name) is taken from the working-directory label."""
    working_dir = (found.get(WORKING_DIR_LABEL) or "").strip()
    paths: list[str] = []
    for part in (found.get(CONFIG_FILES_LABEL) or "").split(","):
        path = part.strip()
        if path and not posixpath.isabs(path) and working_dir:
            path = posixpath.normpath(posixpath.join(working_dir, path))
        if path and path not in paths:
            paths.append(path)
    return paths


@dataclass(slots=True)
class _Expected:
    project: str | None
    used_by: list[str] = field(default_factory=list)
    declared: str = ""


_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")


def _anonymous(name: str) -> bool:
    return bool(_ANONYMOUS.match(name))


def _volume_status(server: str, seen: SeenVolumes, name: str, entry: _Expected,
                   doc: DockerDoc | None, now: datetime) -> VolumeStatus:
    used_by = tuple(dict.fromkeys(entry.used_by))
    if doc is not None:
        seen.setdefault(name, (entry.project, now))
        detail = f"used by {', '.join(used_by)}" if used_by else "not used by any container"
        return VolumeStatus(server=server, name=name, project=entry.project,
                            status="present", ok=True, used_by=used_by, detail=detail,
                            driver=str(doc.get("Driver") or ""),
                            created_at=doc.get("CreatedAt"))
    if used_by:
        detail = f"used by {', '.join(used_by)} but absent from docker volume ls"
    elif entry.declared:
        detail = f"{entry.declared} but absent from docker volume ls"
    else:
        _, first = seen.get(name, (None, now))
        detail = (f"seen at {first:%H:%M:%S} UTC earlier in this session; gone now "
                  "(deleted? a recreated volume starts empty)")
    return VolumeStatus(server=server, name=name, project=entry.project,
                        status="missing", ok=False, used_by=used_by, detail=detail)


def compose_volume_names(text: bytes | str, project: str) -> list[str]:
    """Docker names of the top-level ``volumes:`` in a compose file.

    ``name:`` overrides and ``external`` volumes keep their own name; others are
    ``<project>_<key>`` as compose creates them. Unparseable YAML gives nothing.
    """
    import yaml  # here, not at the top: only a compose file needs it

    try:
        doc = yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - YAML errors quote the document: never re-raise
        return []
    volumes = doc.get("volumes") if isinstance(doc, dict) else None
    if not isinstance(volumes, dict):
        return []
    names: list[str] = []
    for key, spec in volumes.items():
        spec = spec if isinstance(spec, dict) else {}
        explicit = spec.get("name")
        if isinstance(explicit, str) and explicit:
            names.append(explicit)
        elif spec.get("external"):
            names.append(str(key))
        else:
            names.append(f"{project}_{key}" if project else str(key))
    return names


