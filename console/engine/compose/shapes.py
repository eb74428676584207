"""A compose file's fields read into plain values: ``include:`` entries, ``extends:``,
``environment:`` and ``env_file:``, each in every form the specification allows, and
refused in fixed words when it is none of them."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from console.engine.compose.interpolate import Interpolator, Lookup

__all__ = ["Include", "Refused", "ShapeError", "env_file_items", "environment_items",
           "extends_of", "include_entries", "join_path", "scalar", "strings_of"]


class ShapeError(ValueError):
    """The document is YAML but not a compose file's shape (fixed words only)."""


class Refused(ValueError):
    """Compose would refuse the project: a located line of fixed words, paths and names."""


def join_path(directory: str, path: str) -> str:
    return path if posixpath.isabs(path) else posixpath.normpath(posixpath.join(directory, path))


@dataclass(frozen=True, slots=True)
class Include:
    paths: tuple[str, ...]
    project_directory: str | None = None
    env_files: tuple[str, ...] | None = None


def include_entries(include: Any, short: str) -> list[Include]:
    """``include:`` in its long form, from either syntax (compose-go's loadIncludeConfig)."""
    if include is None:
        return []
    if not isinstance(include, list):
        raise Refused(f"{short}: include is not a list")
    entries: list[Include] = []
    for item in include:
        if isinstance(item, str):
            entries.append(Include((item,)))
            continue
        if not isinstance(item, dict):
            raise Refused(f"{short}: an include entry is neither a path nor {{path: ...}}")
        paths = strings_of(item.get("path"))
        if not paths:
            raise Refused(f"{short}: an include entry has no path")
        directory = item.get("project_directory")
        if directory is not None and not isinstance(directory, str):
            raise Refused(f"{short}: an include project_directory is not a string")
        env = item.get("env_file")
        env_files = None if env is None else strings_of(env)
        if env is not None and env_files is None:
            raise Refused(f"{short}: an include env_file is neither a path nor a list")
        entries.append(Include(paths, directory, env_files))
    return entries


def strings_of(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def extends_of(extends: Any, name: str, lookup: Lookup) -> tuple[str | None, str | None]:
    """(base service, its file or None): ``extends: {service, file}`` or ``extends: NAME``
    (compose-go accepts the string form), interpolated."""
    if extends is None:
        return None, None
    interpolator = Interpolator(lookup)
    if isinstance(extends, str):
        return interpolator.expand(extends), None
    if not isinstance(extends, dict) or not isinstance(extends.get("service"), str):
        raise ShapeError(f"service {name}: extends.service is required")
    file = extends.get("file")
    if file is not None and not isinstance(file, str):
        raise ShapeError(f"service {name}: extends.file is not a string")
    return (interpolator.expand(extends["service"]),
            None if file is None else interpolator.expand(file))


def environment_items(environment: Any) -> list[tuple[str, str | None]]:
    """``environment:`` as (name, raw value or None), from a list or a mapping."""
    if environment is None:
        return []
    items: list[tuple[str, str | None]] = []
    if isinstance(environment, dict):
        for name, value in environment.items():
            items.append((str(name), None if value is None else scalar(value)))
        return items
    if isinstance(environment, list):
        for item in environment:
            if not isinstance(item, str):
                raise ShapeError("an environment list item is not a string")
            name, sep, value = item.partition("=")
            items.append((name, value if sep else None))
        return items
    raise ShapeError("environment is neither a list nor a mapping")


def scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ShapeError("an environment value is not a scalar")


def env_file_items(env_file: Any, interpolator: Interpolator
                    ) -> list[tuple[str, bool, bool]]:
    """``env_file:`` as (path, required, raw format): a string, a list, or long syntax."""
    if env_file is None:
        return []
    entries = env_file if isinstance(env_file, list) else [env_file]
    items: list[tuple[str, bool, bool]] = []
    for entry in entries:
        if isinstance(entry, str):
            items.append((interpolator.expand(entry), True, False))
        elif isinstance(entry, dict) and isinstance(entry.get("path"), str):
            required = entry.get("required", True) is not False
            items.append((interpolator.expand(entry["path"]), required,
                          entry.get("format") == "raw"))
        else:
            raise ShapeError("an env_file entry is neither a path nor {path: ...}")
    return items
