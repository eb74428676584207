"""Reading compose files the way Compose does, for when the server has no Compose to ask.

``load_compose`` parses each file with PyYAML, applies Compose's interpolation to it (per
file, before merging, as the specification says), and merges the services of several files
(``environment:`` key by key, the later file winning; ``env_file:`` lists concatenated).
``build_services`` then gives each service the environment Compose would hand a new
container: every ``env_file:`` in order (a later file overriding an earlier one), then
``environment:`` on top; a name listed without a value takes its value from the
environment Compose runs in (shell, then the project's ``.env``).

Every value is turned into an ``Observation`` (state, weakness, keyed fingerprint) as soon
as it is known, and the transient objects that held values are cleared before returning.
Problems are built from fixed words, paths, names and line numbers: a YAML error's own
message quotes the document, which may hold a secret, so it is never passed on.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import yaml

from console.engine.compose.interpolate import InterpolationError, Interpolator, Lookup
from console.engine.compose.model import (
    EnvFileRef,
    Expected,
    ProjectProblem,
    ServiceEnv,
    relative_to,
)
from console.engine.envfile import EnvFile
from console.engine.secrets.observe import Fingerprinter, Observation, classify_value

__all__ = [
    "ComposeFiles",
    "EnvEntry",
    "RawService",
    "build_services",
    "load_compose",
    "yaml_problem",
]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(slots=True)
class EnvEntry:
    """One ``environment:`` name of a service, while its value is still held (briefly)."""

    origin: str  # the compose file that sets it
    value: str | None  # None: listed without a value
    variables: frozenset[str] = frozenset()
    unresolved: bool = False


@dataclass(slots=True)
class RawService:
    environment: dict[str, EnvEntry] = field(default_factory=dict)
    env_files: list[tuple[str, bool, bool]] = field(default_factory=list)  # path, required, raw


@dataclass(slots=True)
class ComposeFiles:
    """The merged services of a project's compose files. Holds values: ``discard()`` it.

    ``repr`` gives counts only, so it can show up in a traceback without leaking.
    """

    project: str
    working_dir: str
    services: dict[str, RawService] = field(default_factory=dict)
    problems: list[ProjectProblem] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)

    def __repr__(self) -> str:
        return f"ComposeFiles({self.project!r}, {len(self.services)} services)"

    @property
    def ok(self) -> bool:
        return not any(p.fatal for p in self.problems)

    def env_file_paths(self) -> list[str]:
        paths: list[str] = []
        for service in self.services.values():
            for path, _, _ in service.env_files:
                if path not in paths:
                    paths.append(path)
        return paths

    def discard(self) -> None:
        for service in self.services.values():
            for entry in service.environment.values():
                entry.value = None
            service.environment.clear()
        self.services.clear()


def yaml_problem(exc: BaseException) -> str:
    """"does not parse as YAML (line N)": the line number only, never PyYAML's message."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = getattr(mark, "line", None)
    if isinstance(line, int):
        return f"does not parse as YAML (line {line + 1})"
    return "does not parse as YAML"


def load_compose(project: str, working_dir: str, docs: Sequence[tuple[str, bytes]],
                 lookup: Lookup, unresolved: Iterable[str] = ()) -> ComposeFiles:
    """Parse, interpolate and merge ``docs`` (path, content) in order.

    ``lookup``: the interpolation variables (shell over the project's ``.env``);
    ``unresolved``: variables whose value could not be known (a ``.env`` line that refers
    to the deploying shell): values built from them are not compared.
    """
    result = ComposeFiles(project, working_dir)
    shaky = frozenset(unresolved)
    for path, content in docs:
        short = relative_to(path, working_dir)
        try:
            doc = yaml.load(content, Loader=_Loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            result.problems.append(ProjectProblem(project, f"{short} {yaml_problem(exc)}"))
            return _failed(result)
        except Exception:  # noqa: BLE001 - a loader failure may quote the document
            result.problems.append(ProjectProblem(project, f"{short} does not parse as YAML"))
            return _failed(result)
        try:
            _merge_file(result, path, short, doc, lookup, shaky)
        except InterpolationError as exc:
            result.problems.append(ProjectProblem(project, f"{short}: {exc}"))
            return _failed(result)
        except _ShapeError as exc:
            result.problems.append(ProjectProblem(project, f"{short}: {exc}"))
            return _failed(result)
        finally:
            doc = None
    for name in sorted(result.missing):
        result.problems.append(ProjectProblem(
            project, f"variable {name} is not set (Compose uses an empty string)", fatal=False))
    return result


def _failed(result: ComposeFiles) -> ComposeFiles:
    result.discard()
    return result


class _ShapeError(ValueError):
    """The document is YAML but not a compose file's shape (fixed words only)."""


def _merge_file(result: ComposeFiles, path: str, short: str, doc: Any, lookup: Lookup,
                shaky: frozenset[str]) -> None:
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise _ShapeError("the top level is not a mapping")
    services = doc.get("services") or {}
    if not isinstance(services, dict):
        raise _ShapeError("services is not a mapping")
    _not_followed(result, short, doc, services)
    whole = Interpolator(lookup)
    for section, content in doc.items():
        if section != "services":
            whole.expand_tree(content)  # errors and warnings, as Compose gives them
    result.missing |= whole.missing
    for name, spec in services.items():
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise _ShapeError(f"service {name} is not a mapping")
        service = result.services.setdefault(str(name), RawService())
        _merge_service(result, service, path, spec, lookup, shaky)


def _not_followed(result: ComposeFiles, short: str, doc: Mapping[str, Any],
                  services: Mapping[Any, Any]) -> None:
    """Say that this reader does not follow ``include:`` or ``extends:`` (Compose does):
    what they bring is not expected of any container, so a finding may be missing."""
    if doc.get("include"):
        result.problems.append(ProjectProblem(
            result.project, f"{short}: include: is not followed without Compose on the "
            "server: the services and environment it brings are not checked", fatal=False))
    for name, spec in services.items():
        if isinstance(spec, dict) and spec.get("extends"):
            result.problems.append(ProjectProblem(
                result.project, f"{short}: service {name} uses extends:, which is not "
                "followed without Compose on the server: the environment it inherits is "
                "not checked", fatal=False))


def _merge_service(result: ComposeFiles, service: RawService, path: str,
                   spec: Mapping[str, Any], lookup: Lookup, shaky: frozenset[str]) -> None:
    interpolator = Interpolator(lookup)
    for key, value in spec.items():
        if key not in ("environment", "env_file"):
            interpolator.expand_tree(value)
    result.missing |= interpolator.missing
    for entry_name, raw in _environment_items(spec.get("environment")):
        interpolator.reset()
        if raw is None:
            service.environment[entry_name] = EnvEntry(path, None)
            continue
        value = interpolator.expand(raw)
        result.missing |= interpolator.missing
        used = frozenset(interpolator.used)
        service.environment[entry_name] = EnvEntry(
            path, value, used, bool(used & shaky) or bool(interpolator.missing))
    for env_path, required, raw_format in _env_file_items(spec.get("env_file"), interpolator):
        full = env_path if posixpath.isabs(env_path) else posixpath.normpath(
            posixpath.join(result.working_dir, env_path))
        if all(full != p for p, _, _ in service.env_files):
            service.env_files.append((full, required, raw_format))
    result.missing |= interpolator.missing


def _environment_items(environment: Any) -> list[tuple[str, str | None]]:
    """``environment:`` as (name, raw value or None), from a list or a mapping."""
    if environment is None:
        return []
    items: list[tuple[str, str | None]] = []
    if isinstance(environment, dict):
        for name, value in environment.items():
            items.append((str(name), None if value is None else _scalar(value)))
        return items
    if isinstance(environment, list):
        for item in environment:
            if not isinstance(item, str):
                raise _ShapeError("an environment list item is not a string")
            name, sep, value = item.partition("=")
            items.append((name, value if sep else None))
        return items
    raise _ShapeError("environment is neither a list nor a mapping")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise _ShapeError("an environment value is not a scalar")


def _env_file_items(env_file: Any, interpolator: Interpolator
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
            raise _ShapeError("an env_file entry is neither a path nor {path: ...}")
    return items


# =========================================================================== services


def build_services(files: ComposeFiles, env_files: Mapping[str, EnvFile | None],
                   fingerprint: Fingerprinter, project_env: Mapping[str, str],
                   lookup: Lookup, *,
                   values: Mapping[str, Mapping[str, str | None]] | None = None,
                   unresolved: frozenset[str] = frozenset(),
                   hashes: Mapping[str, str] | None = None,
                   ) -> tuple[dict[str, ServiceEnv], list[ProjectProblem]]:
    """Every service's expected environment, classified; ``files`` is discarded after.

    ``env_files``: path -> parsed file (None: missing). ``project_env``: variable -> the
    project env file that defines it. ``values``: Compose's own answer (service -> name ->
    value), used instead of ours where given; ``unresolved``: variables Compose said were
    unset (values built from them are not compared).
    """
    services: dict[str, ServiceEnv] = {}
    problems: list[ProjectProblem] = []
    try:
        for name, raw in files.services.items():
            own = None if values is None else values.get(name)
            services[name] = _service_env(files, name, raw, env_files, fingerprint,
                                          project_env, lookup, own, unresolved, problems,
                                          (hashes or {}).get(name))
    finally:
        files.discard()
    return services, problems


def _service_env(files: ComposeFiles, name: str, raw: RawService,
                 env_files: Mapping[str, EnvFile | None], fingerprint: Fingerprinter,
                 project_env: Mapping[str, str], lookup: Lookup,
                 compose_values: Mapping[str, str | None] | None, unresolved: frozenset[str],
                 problems: list[ProjectProblem], config_hash: str | None) -> ServiceEnv:
    refs: list[EnvFileRef] = []
    # name -> (value, origin, variables, unresolved); values live only in this frame
    merged: dict[str, tuple[str | None, str, frozenset[str], bool]] = {}
    try:
        for path, required, _ in raw.env_files:
            parsed = env_files.get(path)
            if parsed is None:
                refs.append(EnvFileRef(path, required, frozenset(), missing=True))
                if required:
                    problems.append(ProjectProblem(
                        files.project, f"env_file {relative_to(path, files.working_dir)} "
                        f"of service {name} does not exist"))
                continue
            refs.append(EnvFileRef(path, required, frozenset(parsed)))
            for key in parsed:
                merged[key] = (parsed[key], path, frozenset(), key in parsed.unresolved)
        for key, entry in raw.environment.items():
            if entry.value is None:
                value = lookup(key)
                merged[key] = (value, "environment" if value is not None else entry.origin,
                               frozenset({key}), key in unresolved)
            else:
                merged[key] = (entry.value, entry.origin, entry.variables,
                               entry.unresolved or bool(entry.variables & unresolved))
        if compose_values is not None:
            _take_compose_values(merged, compose_values, unresolved)
        expected = {key: _expected(key, item, fingerprint, project_env)
                    for key, item in merged.items()}
    finally:
        merged.clear()
    return ServiceEnv(name=name, declared=frozenset(raw.environment), env_files=tuple(refs),
                      expected=MappingProxyType(expected), config_hash=config_hash)


def _take_compose_values(merged: dict[str, tuple[str | None, str, frozenset[str], bool]],
                         compose_values: Mapping[str, str | None],
                         unresolved: frozenset[str]) -> None:
    """Compose's resolved values replace ours; names only Compose knows come from it."""
    for key in list(merged):
        if key not in compose_values:
            del merged[key]
    for key, value in compose_values.items():
        _, origin, variables, _ = merged.get(key, (None, "compose config", frozenset(), False))
        merged[key] = (value, origin, variables, bool(variables & unresolved))


def _expected(key: str, item: tuple[str | None, str, frozenset[str], bool],
              fingerprint: Fingerprinter, project_env: Mapping[str, str]) -> Expected:
    value, origin, variables, shaky = item
    observation: Observation = classify_value(key, value, fingerprint, unresolved=shaky)
    if shaky and not observation.unresolved:
        # classify_value keeps the flag on values only; an empty or missing result built
        # from an unknown variable is just as uncertain
        observation = replace(observation, unresolved=True)
    sources = tuple(dict.fromkeys(project_env[v] for v in sorted(variables)
                                  if v in project_env))
    return Expected(observation, origin, variables, sources)
