"""Reading compose files the way Compose does, for when the server has no Compose to ask.

``load_compose`` parses each file with PyYAML, applies Compose's interpolation to it (per
file, before merging, as the specification says), follows its ``include:`` and each
service's ``extends:``, and merges the services of several files (``environment:`` key by
key, the later file winning; ``env_file:`` lists concatenated). ``service_env`` then
gives each service the environment Compose would hand a new container: every ``env_file:``
in order (a later file overriding an earlier one), then ``environment:`` on top; a name
listed without a value takes its value from the environment Compose runs in (shell, then
the project's ``.env``; in an included sub-project, then the sub-project's own ``.env``).

The reader does no I/O: files other than the project's own compose files (those an
``include:`` or ``extends: {file: ...}`` names, and the ``.env`` of an included
sub-project) are looked up in ``sources``. One that is not there yet is put in
``ComposeFiles.wanted`` and the load stops; the caller reads the wanted files and loads
again, until nothing more is wanted.

``extends`` (the Compose Specification, services section, "extends"; compose-go
``loader/extends.go`` and ``override/merge.go``; docker-compose 1.29's
``ServiceExtendsResolver`` and ``merge_service_dicts`` in ``compose/config/config.py``):

* the base is the service named by ``service``, in the same file, or in ``file`` (relative
  to the directory the referring file's paths resolve against: the project directory for
  the project's own files, the extended file's own directory for an extended file);
* the base is resolved first (its own ``extends`` followed, chains of any length); a loop
  (``a`` extends ``b`` extends ``a``) is refused, as Compose does;
* ``environment`` is a mapping: the extending service's names override the base's, the
  others are kept; ``env_file`` is a sequence: the base's files first, then the extending
  service's (a path listed twice is read once, at its first place, as compose-go's
  ``override/uncity.go`` keeps it);
* the base's relative ``env_file`` paths resolve against the directory of the file that
  declares the base (the extended file's directory for ``file:``), and the extended file is
  interpolated with the same variables as the referring one;
* ``depends_on``, ``links`` and ``volumes_from`` carry no environment, so this reader keeps
  none of them from a base (docker-compose 1.29 refuses to extend a service that has them;
  compose-go merges them);
* ``extends`` is resolved per file before the files are merged (compose-go's
  ``loadYamlFile``), so an override file's change to a base does not reach the services
  that extend it; docker-compose 1.29 gives the same (it takes the base from the file as
  written);
* one difference with docker-compose 1.29 is kept on compose-go's side: an env_file listed
  by both the base and the extending service is read once, at its first place (1.29 reads
  it twice, its second place winning).

``include`` (the Compose Specification, "include"; compose-go ``loader/include.go``):

* short syntax (a path) or long syntax (``path`` a string or a list merged in order,
  ``project_directory``, ``env_file`` a string or a list); the include section is
  interpolated with the including project's variables, and its relative paths resolve
  against the including project's directory;
* each included file is its own sub-project: its relative paths resolve against its
  ``project_directory`` (default: the first path's directory), and its variables are the
  including project's environment (the shell and the including project's ``.env``, which
  win, as compose-go's ``Mapping.Merge`` keeps the first), completed by its ``env_file``
  list (default: ``.env`` in its project directory, when it exists; a listed one must
  exist); the sub-project's ``.env`` never reaches the including project;
* includes nest; a file that includes itself again, directly or not, is refused ("include
  cycle detected" in compose-go);
* a service the included project defines that the including file defines too is refused
  unless both definitions are equal (compose-go before v2.10's ``importResource``; the
  specification's text says Compose warns, and compose-go v2.10 merges the local one over
  the imported one instead).

Every value is turned into an ``Observation`` (state, weakness, keyed fingerprint) by
``service_env.build_services``, which the caller runs right after the load, and the
transient objects that held values are cleared before returning.
Problems are built from fixed words, paths, names and line numbers: a YAML error's own
message quotes the document, which may hold a secret, so it is never passed on.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from console.engine.compose.interpolate import InterpolationError, Interpolator, Lookup
from console.engine.compose.model import (
    ProjectProblem,
    relative_to,
)
from console.engine.compose.shapes import (
    Include,
    Refused,
    ShapeError,
    env_file_items,
    environment_items,
    extends_of,
    include_entries,
    join_path,
)
from console.engine.envfile import parse_env

__all__ = [
    "ComposeFiles",
    "EnvEntry",
    "RawService",
    "Sources",
    "load_compose",
    "yaml_problem",
]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Sources = Mapping[str, "bytes | str"]
"""Files beyond the project's own compose files: path -> content, or why it is not there
("does not exist", "cannot be read: permission denied")."""

MAX_FILES = 64
"""Compose files and sub-project ``.env`` files one project may pull in (a bound, so that a
generated chain cannot make one resolution read without end)."""


@dataclass(slots=True)
class EnvEntry:
    """One ``environment:`` name of a service, while its value is still held (briefly).

    ``bare``: listed without a value; ``value`` is then what the environment Compose runs
    in gives it (None: unset). ``sources``: variable -> the sub-project env file that
    defines it, for a service of an included project (the project's own ``.env`` is known
    to ``build_services`` already).
    """

    origin: str  # the compose file that sets it
    value: str | None
    variables: frozenset[str] = frozenset()
    unresolved: bool = False
    bare: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RawService:
    environment: dict[str, EnvEntry] = field(default_factory=dict)
    env_files: list[tuple[str, bool, bool]] = field(default_factory=list)  # path, required, raw

    def add(self, other: RawService) -> None:
        """``other`` over this one: its names win, its env files come after (once each)."""
        self.environment.update(other.environment)
        for item in other.env_files:
            if all(item[0] != p for p, _, _ in self.env_files):
                self.env_files.append(item)


@dataclass(slots=True)
class ComposeFiles:
    """The merged services of a project's compose files. Holds values: ``discard()`` it.

    ``wanted``: files the load needed that ``sources`` did not have (path -> "compose" or
    "env"); when it is not empty the load stopped and ``services`` is empty. ``consulted``:
    every file beyond the project's own that the load looked at (present or not), for the
    cache to watch. ``repr`` gives counts only, so it can show up in a traceback.
    """

    project: str
    working_dir: str
    services: dict[str, RawService] = field(default_factory=dict)
    problems: list[ProjectProblem] = field(default_factory=list)
    missing: set[str] = field(default_factory=set)
    wanted: dict[str, str] = field(default_factory=dict)
    consulted: list[str] = field(default_factory=list)

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
                 lookup: Lookup, unresolved: Iterable[str] = (),
                 sources: Sources | None = None) -> ComposeFiles:
    """Parse, interpolate and merge ``docs`` (path, content) in order, following their
    ``include:`` and ``extends:`` through ``sources``.

    ``lookup``: the interpolation variables (shell over the project's ``.env``);
    ``unresolved``: variables whose value could not be known (a ``.env`` line that refers
    to the deploying shell): values built from them are not compared.
    """
    result = ComposeFiles(project, working_dir)
    reader = _Reader(result, sources or {})
    root = _Scope(working_dir, lookup, frozenset(unresolved), {}, ())
    try:
        for path, content in docs:
            for name, service in reader.file_services(root, path, content).items():
                result.services.setdefault(name, RawService()).add(service)
    except _Wanted:
        result.problems.clear()
        result.missing.clear()
        return _failed(result, reader)
    except Refused as exc:
        result.problems.append(ProjectProblem(project, str(exc)))
        return _failed(result, reader)
    finally:
        reader.close()
    for name in sorted(result.missing):
        result.problems.append(ProjectProblem(
            project, f"variable {name} is not set (Compose uses an empty string)", fatal=False))
    return result


def _failed(result: ComposeFiles, reader: _Reader) -> ComposeFiles:
    result.discard()
    reader.discard()
    return result


class _Wanted(Exception):  # noqa: N818 - a signal, not an error
    """A file the load needs is not in ``sources`` yet (recorded in ``wanted``)."""


@dataclass(frozen=True, slots=True)
class _Scope:
    """A project or an included sub-project: where its relative paths resolve, its
    variables, and the include chain that led to it (for loops)."""

    working_dir: str
    lookup: Lookup
    shaky: frozenset[str]
    sources: Mapping[str, str]  # variable -> sub-project env file defining it
    chain: tuple[str, ...]


@dataclass(slots=True)
class _File:
    """One parsed compose file, in one scope: its service specs and those resolved so far."""

    path: str
    paths_dir: str  # where its relative paths resolve
    specs: dict[str, Any]
    done: dict[str, RawService] = field(default_factory=dict)


class _Reader:
    """One load: the files read, the services built (kept to be cleared), the loops seen."""

    def __init__(self, result: ComposeFiles, sources: Sources) -> None:
        self.result = result
        self.sources = sources
        self.built: list[RawService] = []
        self.extended: dict[tuple[int, str], _File] = {}  # (id of its scope, path)
        self.scopes: list[_Scope] = []  # alive while ``extended`` is keyed by their ids
        self.env_values: list[dict[str, str | None]] = []
        self.contents: dict[str, bytes] = {}  # every compose file parsed, for conflicts

    def short(self, path: str) -> str:
        return relative_to(path, self.result.working_dir)

    def discard(self) -> None:
        for service in self.built:
            for entry in service.environment.values():
                entry.value = None
            service.environment.clear()
        self.built.clear()

    def close(self) -> None:
        for values in self.env_values:
            values.clear()
        self.env_values.clear()
        self.extended.clear()
        self.scopes.clear()
        self.contents.clear()

    # -- files -------------------------------------------------------------------------

    def source(self, path: str, kind: str) -> bytes | str:
        """A file beyond the project's own: content, or why not (``_Wanted`` if unknown)."""
        if path not in self.result.consulted:
            self.result.consulted.append(path)
        if path in self.sources:
            return self.sources[path]
        if len(self.result.consulted) > MAX_FILES:
            raise Refused(f"more than {MAX_FILES} files are included or extended")
        self.result.wanted[path] = kind
        raise _Wanted

    def parse(self, path: str, content: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        """The document and its services, or ``Refused`` (never PyYAML's message)."""
        short = self.short(path)
        self.contents[path] = content
        try:
            doc = yaml.load(content, Loader=_Loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise Refused(f"{short} {yaml_problem(exc)}") from None
        except Exception:  # noqa: BLE001 - a loader failure may quote the document
            raise Refused(f"{short} does not parse as YAML") from None
        if doc is None:
            return {}, {}
        if not isinstance(doc, dict):
            raise Refused(f"{short}: the top level is not a mapping")
        services = doc.get("services") or {}
        if not isinstance(services, dict):
            raise Refused(f"{short}: services is not a mapping")
        for name, spec in services.items():
            if spec is not None and not isinstance(spec, dict):
                raise Refused(f"{short}: service {name} is not a mapping")
        return doc, {str(k): v or {} for k, v in services.items()}

    def file_services(self, scope: _Scope, path: str, content: bytes
                      ) -> dict[str, RawService]:
        """One compose file's services, its includes imported and every extends followed."""
        short = self.short(path)
        doc, specs = self.parse(path, content)
        whole = Interpolator(scope.lookup)
        include: Any = None
        try:
            for section, value in doc.items():
                if section == "include":
                    include = whole.expand_tree(value)
                elif section != "services":
                    whole.expand_tree(value)  # errors and warnings, as Compose gives them
        except InterpolationError as exc:
            raise Refused(f"{short}: {exc}") from None
        self.result.missing |= whole.missing
        file = _File(path, scope.working_dir, specs)
        imported: dict[str, str] = {}
        for entry in include_entries(include, short):
            where, services = self.include(scope, path, entry)
            for name, service in services.items():
                if name in specs or name in file.done:
                    if not self.same_definition(scope, path, name, where, imported.get(name)):
                        raise Refused(
                            f"{short}: service {name} of the included {self.short(where)} "
                            f"is also defined by {self.short(imported.get(name, path))}: "
                            "Compose refuses the conflict")
                    continue
                file.done[name] = service
                imported[name] = where
        for name in specs:
            self.resolve(scope, file, name, ())
        return {name: file.done[name] for name in (*specs, *imported)}

    def same_definition(self, scope: _Scope, path: str, name: str, where: str,
                        other: str | None) -> bool:
        """Whether the two definitions of ``name`` are equal, interpolated (compose-go
        accepted an identical redefinition before v2.10). Values are compared, then gone."""
        mine: Any = None
        theirs: Any = None
        try:
            content = self.contents.get(where)
            own = self.contents.get(other or path)
            if content is None or own is None:
                return False
            theirs = self.parse(where, content)[1].get(name)
            mine = self.parse(other or path, own)[1].get(name)
            if theirs is None or mine is None:
                return False
            interpolator = Interpolator(scope.lookup)
            return bool(interpolator.expand_tree(mine) == interpolator.expand_tree(theirs))
        except (InterpolationError, Refused):
            return False
        finally:
            mine = theirs = None

    # -- include -----------------------------------------------------------------------

    def include(self, scope: _Scope, parent: str, entry: Include
                ) -> tuple[str, dict[str, RawService]]:
        """An included sub-project's services, in its own directory and variables."""
        short = self.short(parent)
        paths = [join_path(scope.working_dir, p) for p in entry.paths]
        chain = (*scope.chain, parent)
        if paths[0] in chain:
            loop = " -> ".join(self.short(p) for p in (*chain[chain.index(paths[0]):],
                                                        paths[0]))
            raise Refused(f"{short}: include loops ({loop}): Compose refuses an include "
                           "cycle")
        project_dir = (posixpath.dirname(paths[0]) if entry.project_directory is None
                       else join_path(scope.working_dir, entry.project_directory))
        if entry.env_files is None:
            env_paths = [(posixpath.join(project_dir, ".env"), False)]
        else:
            env_paths = [(join_path(scope.working_dir, f), True) for f in entry.env_files
                         if f != "/dev/null"]
        own: dict[str, str | None] = {}
        self.env_values.append(own)
        origin: dict[str, str] = {}
        shaky: set[str] = set()
        for env_path, required in env_paths:
            data = self.source(env_path, "env")
            if isinstance(data, str):
                if required:
                    raise Refused(f"{short}: the env_file {self.short(env_path)} of the "
                                   f"include of {self.short(paths[0])} {data}")
                continue
            parsed = parse_env(data, env_path)
            try:
                for name in parsed:
                    own[name] = parsed[name]
                    origin[name] = env_path
                    if name in parsed.unresolved:
                        shaky.add(name)
                    else:
                        shaky.discard(name)
            finally:
                parsed.discard()
        parent_lookup = scope.lookup

        def lookup(name: str) -> str | None:
            value = parent_lookup(name)
            return own.get(name) if value is None else value

        defined = {n for n in own if parent_lookup(n) is None}
        sub = _Scope(project_dir, lookup, scope.shaky | (shaky & defined),
                     {**scope.sources, **{n: origin[n] for n in defined}}, chain)
        self.scopes.append(sub)
        merged: dict[str, RawService] = {}
        for path in paths:
            content = self.source(path, "compose")
            if isinstance(content, str):
                raise Refused(f"{short}: the included {self.short(path)} {content}")
            for name, service in self.file_services(sub, path, content).items():
                merged.setdefault(name, self.new()).add(service)
        return paths[0], merged

    # -- extends -----------------------------------------------------------------------

    def resolve(self, scope: _Scope, file: _File, name: str,
                stack: tuple[tuple[str, str], ...]) -> RawService:
        """``name`` of ``file`` with its ``extends`` chain merged in (base first)."""
        if name in file.done:
            return file.done[name]
        here = (file.path, name)
        short = self.short(file.path)
        if here in stack:
            loop = " -> ".join(self.label(p, n, file.path) for p, n in
                               (*stack[stack.index(here):], here))
            raise Refused(f"{short}: service {name}: extends loops ({loop}): Compose "
                           "refuses circular extends")
        spec = file.specs[name]
        try:
            own = self.service(scope, file, spec)
            base_name, base_file = extends_of(spec.get("extends"), name, scope.lookup)
        except InterpolationError as exc:
            raise Refused(f"{short}: {exc}") from None
        except ShapeError as exc:
            raise Refused(f"{short}: {exc}") from None
        if base_name is None:
            file.done[name] = own
            return own
        if base_file is None:
            if base_name not in file.specs and base_name not in file.done:
                raise Refused(f"{short}: service {name} extends {base_name}, which "
                               f"{short} does not define")
            base = self.resolve(scope, file, base_name, (*stack, here))
        else:
            target = join_path(file.paths_dir, base_file)
            other = self.extended_file(scope, target, short, name, base_file)
            if base_name not in other.specs:
                raise Refused(f"{short}: service {name} extends {base_name}, which "
                               f"{self.short(target)} does not define")
            base = self.resolve(scope, other, base_name, (*stack, here))
        merged = self.new()
        merged.add(base)
        merged.add(own)
        file.done[name] = merged
        return merged

    def label(self, path: str, name: str, first: str) -> str:
        return name if path == first else f"{self.short(path)}:{name}"

    def extended_file(self, scope: _Scope, path: str, short: str, name: str,
                      written: str) -> _File:
        key = (id(scope), path)
        if key not in self.extended:
            content = self.source(path, "compose")
            if isinstance(content, str):
                raise Refused(f"{short}: service {name} extends a service of {written}, "
                               f"which {content}")
            _, specs = self.parse(path, content)
            self.extended[key] = _File(path, posixpath.dirname(path), specs)
        return self.extended[key]

    def new(self) -> RawService:
        service = RawService()
        self.built.append(service)
        return service

    def service(self, scope: _Scope, file: _File, spec: Mapping[str, Any]) -> RawService:
        """One service's own ``environment:`` and ``env_file:`` (no extends), interpolated."""
        service = self.new()
        interpolator = Interpolator(scope.lookup)
        for key, value in spec.items():
            if key not in ("environment", "env_file"):
                interpolator.expand_tree(value)
        self.result.missing |= interpolator.missing
        for entry_name, raw in environment_items(spec.get("environment")):
            interpolator.reset()
            if raw is None:
                service.environment[entry_name] = EnvEntry(
                    file.path, scope.lookup(entry_name), frozenset({entry_name}),
                    entry_name in scope.shaky, bare=True, sources=scope.sources)
                continue
            value = interpolator.expand(raw)
            self.result.missing |= interpolator.missing
            used = frozenset(interpolator.used)
            service.environment[entry_name] = EnvEntry(
                file.path, value, used, bool(used & scope.shaky) or bool(interpolator.missing),
                sources=scope.sources)
        for env_path, required, raw_format in env_file_items(spec.get("env_file"),
                                                              interpolator):
            full = join_path(file.paths_dir, env_path)
            if all(full != p for p, _, _ in service.env_files):
                service.env_files.append((full, required, raw_format))
        self.result.missing |= interpolator.missing
        return service
