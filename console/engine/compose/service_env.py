"""What each service's new container would get: its environment, as Compose builds it.

Every ``env_file:`` in order (a later file overriding an earlier one), then
``environment:`` on top; a name listed without a value takes its value from the
environment Compose runs in. Where the server's Compose answered ``config``, its resolved
values replace the ones worked out from the files. Each value is classified and
fingerprinted here and dropped: a model holds ``Observation``s, never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

from console.engine.compose.files import ComposeFiles, RawService
from console.engine.compose.interpolate import Lookup
from console.engine.compose.model import (
    EnvFileRef,
    Expected,
    ProjectProblem,
    ServiceEnv,
    relative_to,
)
from console.engine.envfile import EnvFile
from console.engine.secrets.observe import Fingerprinter, Observation, classify_value

__all__ = ["build_services"]


def build_services(files: ComposeFiles, env_files: Mapping[str, EnvFile | None],
                   fingerprint: Fingerprinter, project_env: Mapping[str, str],
                   lookup: Lookup, *,
                   values: Mapping[str, Mapping[str, str | None]] | None = None,
                   unresolved: frozenset[str] = frozenset(),
                   hashes: Mapping[str, str] | None = None,
                   keep: bool = False,
                   ) -> tuple[dict[str, ServiceEnv], list[ProjectProblem]]:
    """Every service's expected environment, classified; ``files`` is discarded after
    (unless ``keep``: the caller builds again from them, and discards them itself).

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
        if not keep:
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
    sources: dict[str, Mapping[str, str]] = {}  # name -> a sub-project's variable sources
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
            if entry.bare:
                merged[key] = (entry.value,
                               "environment" if entry.value is not None else entry.origin,
                               frozenset({key}), entry.unresolved or key in unresolved)
            else:
                merged[key] = (entry.value, entry.origin, entry.variables,
                               entry.unresolved or bool(entry.variables & unresolved))
            if entry.sources:
                sources[key] = entry.sources
        if compose_values is not None:
            _take_compose_values(merged, compose_values, unresolved)
        expected = {key: _expected(key, item, fingerprint, project_env, sources.get(key))
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
              fingerprint: Fingerprinter, project_env: Mapping[str, str],
              scope_env: Mapping[str, str] | None = None) -> Expected:
    value, origin, variables, shaky = item
    observation: Observation = classify_value(key, value, fingerprint, unresolved=shaky)
    if shaky and not observation.unresolved:
        # classify_value keeps the flag on values only; an empty or missing result built
        # from an unknown variable is just as uncertain
        observation = replace(observation, unresolved=True)
    own = scope_env or {}
    sources = tuple(dict.fromkeys(project_env[v] if v in project_env else own[v]
                                  for v in sorted(variables)
                                  if v in project_env or v in own))
    return Expected(observation, origin, variables, sources)
