"""Each Compose project's configuration on each server, cached until its files change.

``ComposeProjects.project(host, labels)`` gives the ``ProjectModel`` of the project a
container belongs to. The first call per server detects its Compose; the first call per
project resolves it: Compose's own ``config`` where the server has Compose (with the files
read too, to learn which names come from which ``environment:`` or ``env_file:``), else the
files alone. Later calls ``stat`` the watched files over the host (one command) and return
the cached model while nothing changed, so the 30-second secret round costs one ``stat``
per project. The files an ``include:`` or ``extends:`` names are read over the host too,
and watched like the project's own.

A project that cannot be understood gets a model with ``problems`` (one line each) and
whatever could still be learnt; other projects are unaffected. Values exist only inside
``_resolve``'s frame and the objects it clears before returning.

With ``hashes_later`` (the live console), Compose's config hashes are asked after the
model is returned, not beside ``config``: on a server with ``docker-compose`` v1 (a Python
program, most of a CPU-second a run) they were one run in three on the way to the first
secrets round. They then fill the cached model, and ``on_update(server)`` says so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from console.engine.compose.files import ComposeFiles, load_compose
from console.engine.compose.labels import ComposeLabels, ProjectKey
from console.engine.compose.model import ComposeTool, ProjectModel, ProjectProblem, relative_to
from console.engine.compose.service_env import build_services
from console.engine.compose.tool import (
    COMPOSE_TIMEOUT,
    ComposeAnswer,
    config_hashes,
    detect,
    likely_tool,
    resolve_config,
)
from console.engine.envfile import EnvFile, parse_env
from console.engine.host_api import Host, HostUnavailable
from console.engine.secrets.observe import Fingerprinter

__all__ = ["ComposeProjects", "FileSignature"]

log = logging.getLogger(__name__)

COMPOSE_FILE_MAX_BYTES = 512 * 1024
ENV_FILE_MAX_BYTES = 1024 * 1024
DETECT_TTL = 300.0
CONCURRENT_RESOLVES = 2
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")

FileSignature = tuple[tuple[str, str], ...]
"""(path, "size:inode:mtime:ctime" or "absent") per watched file, in order."""


@dataclass(slots=True)
class _Entry:
    model: ProjectModel
    signature: FileSignature


@dataclass(slots=True)
class _ServerState:
    tool: ComposeTool | None = None
    detected_at: float | None = None
    precise_stat: bool | None = None
    entries: dict[ProjectKey, _Entry] = field(default_factory=dict)
    locks: dict[ProjectKey, asyncio.Lock] = field(default_factory=dict)
    detect_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stat_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class ComposeProjects:
    """Project models per server, refreshed when a watched file's size, inode or mtime moves.

    ``fingerprint`` must be the secret service's own Fingerprinter: the fingerprints in the
    models are compared with the ones it takes of the running containers.
    """

    def __init__(self, fingerprint: Fingerprinter, *, timeout: float = COMPOSE_TIMEOUT,
                 detect_timeout: float = COMPOSE_TIMEOUT, detect_ttl: float = DETECT_TTL,
                 clock: Callable[[], float] = time.monotonic,
                 hashes_later: bool = False,
                 on_update: Callable[[str], None] | None = None) -> None:
        self._fingerprint = fingerprint
        self.hashes_later = hashes_later
        self._on_update = on_update
        self._background: set[asyncio.Task[None]] = set()
        self._timeout = timeout
        self._detect_timeout = detect_timeout
        self._detect_ttl = detect_ttl
        self._clock = clock
        self._servers: dict[str, _ServerState] = {}
        self._gate = asyncio.Semaphore(CONCURRENT_RESOLVES)

    def __repr__(self) -> str:
        return f"ComposeProjects(servers={sorted(self._servers)})"

    def _state(self, host: Host) -> _ServerState:
        return self._servers.setdefault(host.name, _ServerState())

    # -- reading (no I/O) --------------------------------------------------------------

    def cached(self, server: str) -> dict[ProjectKey, ProjectModel]:
        """The models last resolved on ``server``; no I/O."""
        state = self._servers.get(server)
        return {} if state is None else {k: e.model for k, e in state.entries.items()}

    def forget(self, server: str | None = None) -> None:
        """Drop cached models (and the detected Compose) of one server or all."""
        if server is None:
            self._servers.clear()
        else:
            self._servers.pop(server, None)

    # -- resolving ---------------------------------------------------------------------

    async def tool(self, host: Host) -> ComposeTool | None:
        """The server's Compose, detected at most every ``detect_ttl`` seconds."""
        state = self._state(host)
        async with state.detect_lock:
            now = self._clock()
            if state.detected_at is None or now - state.detected_at >= self._detect_ttl:
                state.tool = await detect(host, self._detect_timeout)
                state.detected_at = now
            return state.tool

    async def for_containers(self, host: Host, labels: Iterable[Mapping[str, str] | None]
                             ) -> dict[ProjectKey, ProjectModel]:
        """The model of every project among these containers' labels (one-off runs and
        containers without a working directory label are skipped)."""
        keys: dict[ProjectKey, ComposeLabels] = {}
        for raw in labels:
            parsed = ComposeLabels.parse(raw)
            key = parsed.key() if parsed is not None and not parsed.oneoff else None
            if parsed is not None and key is not None:
                keys.setdefault(key, parsed)
        state = self._state(host)
        first_sight = [k for k in keys if k not in state.entries]
        # The warm-up is listed first, so it holds the detection and stat locks before
        # any project asks: the projects then wait for its answers instead of asking again.
        # Projects whose labels name their Compose ask it at once, and detection waits
        # until they have their answers (see _ask_compose).
        guessed = all(likely_tool(keys[k].compose_version) for k in first_sight)
        warm = [self._warm(host, detect=not guessed)] if first_sight else []
        models = await asyncio.gather(*warm, *(self._guarded(host, keys[k]) for k in keys))
        models = models[len(warm):]
        return {k: m for k, m in zip(keys, models, strict=True) if m is not None}

    async def _warm(self, host: Host, *, detect: bool = True) -> None:
        """A project seen for the first time will want the server's Compose and its kind
        of ``stat``: both are asked at once, beside the projects' own first reads, rather
        than one after the other on the way to the first model."""
        try:
            await asyncio.gather(*([self.tool(host)] if detect else []), self._precise(host))
        except (HostUnavailable, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - the projects ask again and say why
            log.debug("compose warm-up on %s: %s", host.name, type(exc).__name__)

    async def _guarded(self, host: Host, labels: ComposeLabels) -> ProjectModel | None:
        """``project``, with a failure of its own (not the link's) as the project's line."""
        try:
            return await self.project(host, labels)
        except (HostUnavailable, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - one project never breaks the others
            key = labels.key()
            assert key is not None
            log.debug("compose project %s on %s: %s", key.project, host.name,
                      type(exc).__name__)
            return ProjectModel(key=key, server=host.name, source="none", problems=(
                ProjectProblem(key.project, f"could not be read ({type(exc).__name__})"),),
                watched=_base_files(key))

    async def project(self, host: Host, labels: ComposeLabels) -> ProjectModel | None:
        """The project's model, from the cache while its files are unchanged; None when the
        labels do not say where the project lives."""
        key = labels.key()
        if key is None:
            return None
        state = self._state(host)
        lock = state.locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = state.entries.get(key)
            watched = entry.model.watched if entry else _base_files(key)
            signature = await self._signature(host, watched)
            if entry is not None and entry.signature == signature:
                return entry.model
            async with self._gate:
                model, answered_by = await self._resolve(host, key, labels.compose_version)
            if model.watched != watched:
                signature = await self._signature(host, model.watched)
            state.entries[key] = _Entry(model, signature)
            if self.hashes_later and answered_by is not None:
                self._hash_later(host, key, answered_by)
            return model

    def _hash_later(self, host: Host, key: ProjectKey, tool: ComposeTool) -> None:
        task = asyncio.create_task(self._fill_hashes(host, key, tool),
                                   name=f"compose-hashes:{host.name}:{key.project}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fill_hashes(self, host: Host, key: ProjectKey, tool: ComposeTool) -> None:
        """Compose's config hashes into the cached model they belong to (unless the
        project's files changed meanwhile: the next resolution asks again)."""
        state = self._state(host)
        before = state.entries.get(key)
        try:
            hashes = await config_hashes(host, tool, key, self._timeout)
        except (HostUnavailable, asyncio.CancelledError):
            return
        except Exception as exc:  # noqa: BLE001 - the model stands without the hashes
            log.debug("compose hashes %s on %s: %s", key.project, host.name,
                      type(exc).__name__)
            return
        entry = state.entries.get(key)
        if not hashes or entry is None or entry is not before:
            return
        services = {name: dataclasses.replace(service, config_hash=hashes.get(name))
                    for name, service in entry.model.services.items()}
        entry.model = dataclasses.replace(entry.model, services=MappingProxyType(services))
        if self._on_update is not None:
            self._on_update(host.name)

    def detect_later(self, host: Host) -> None:
        """Detect the server's Compose in the background (unless it is known)."""
        if self.detected(host):
            return
        task = asyncio.create_task(self._detect_quietly(host),
                                   name=f"compose-detect:{host.name}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _detect_quietly(self, host: Host) -> None:
        try:
            await self.tool(host)
        except (HostUnavailable, asyncio.CancelledError):
            return
        except Exception as exc:  # noqa: BLE001 - the next ask detects again
            log.debug("compose detection on %s: %s", host.name, type(exc).__name__)

    async def close(self) -> None:
        """End the detections and hash asks still running (the console is stopping)."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _precise(self, host: Host) -> bool:
        """Whether the server's ``stat`` gives nanosecond times (GNU does), asked once."""
        state = self._state(host)
        async with state.stat_lock:
            if state.precise_stat is None:
                probe = await host.run(["stat", "-L", "-c", "%.9Y", "/"],
                                       timeout=self._timeout)
                state.precise_stat = bool(re.fullmatch(rb"\d+\.\d+\s*", probe.stdout))
            return state.precise_stat

    async def _signature(self, host: Host, paths: tuple[str, ...]) -> FileSignature:
        """One ``stat`` over the host for every watched file (nanosecond mtimes if GNU)."""
        spec = "%s:%i:%.9Y:%.9Z" if await self._precise(host) else "%s:%i:%Y:%Z"
        try:
            result = await host.run(["stat", "-L", "-c", f"%n\t{spec}", "--", *paths],
                                    timeout=self._timeout)
        except TimeoutError:
            return tuple((p, "unknown") for p in paths)
        seen: dict[str, str] = {}
        for line in result.stdout.decode("utf-8", "surrogateescape").splitlines():
            path, sep, data = line.rpartition("\t")
            if sep:
                seen[path] = data
        return tuple((p, seen.get(p, "absent")) for p in paths)

    def detected(self, host: Host) -> bool:
        """Whether the server's Compose is known and fresh (``tool`` answers at once)."""
        state = self._servers.get(host.name)
        return state is not None and state.detected_at is not None \
            and self._clock() - state.detected_at < self._detect_ttl

    async def _resolve(self, host: Host, key: ProjectKey, created_by: str | None = None
                       ) -> tuple[ProjectModel, ComposeTool | None]:
        """Learn the project now; every value is classified and dropped before returning.
        ``created_by``: the Compose version on the containers' labels, a hint of the tool.
        Also returns the Compose whose ``config`` the model was built from, if any."""
        resolution = _Resolution(self, host, key, created_by)
        try:
            return await resolution.run(), resolution.answered_by
        except (HostUnavailable, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - a message here could quote a value
            log.debug("compose project %s on %s: %s", key.project, host.name,
                      type(exc).__name__)
            return ProjectModel(key=key, server=host.name, source="none", problems=(
                ProjectProblem(key.project, f"could not be read ({type(exc).__name__})"),),
                watched=_base_files(key)), None


# Compose's answer, its config hashes, and what to say of it as (message, fatal).
_Asked = tuple[ComposeAnswer, dict[str, str], list[tuple[str, bool]]]
_T = TypeVar("_T")


async def _abandon(asking: asyncio.Future[_T],
                   answer_of: Callable[[_T], ComposeAnswer | None]) -> None:
    """End an ask no longer wanted, and clear the values its answer may hold."""
    asking.cancel()
    ended = (await asyncio.gather(asking, return_exceptions=True))[0]
    if not isinstance(ended, BaseException):
        answer = answer_of(ended)
        if answer is not None:
            answer.discard()


def _base_files(key: ProjectKey) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*key.config_files, *key.env_files)))


class _Resolution:
    """One resolution of one project: reads, asks Compose, builds the model, clears."""

    def __init__(self, owner: ComposeProjects, host: Host, key: ProjectKey,
                 created_by: str | None = None) -> None:
        self.owner = owner
        self.host = host
        self.key = key
        self.created_by = created_by
        self.problems: list[ProjectProblem] = []
        self.dotenv: dict[str, str | None] = {}
        self.dotenv_source: dict[str, str] = {}
        self.shaky: set[str] = set()
        self.environ: dict[str, str] = {}
        self.asked: set[str] = set()  # names looked for in the server's environment
        self.answered_by: ComposeTool | None = None  # whose ``config`` the model is built on

    def problem(self, message: str, fatal: bool = True) -> None:
        if all(p.message != message for p in self.problems):
            self.problems.append(ProjectProblem(self.key.project, message, fatal))

    def short(self, path: str) -> str:
        return relative_to(path, self.key.working_dir)

    def lookup(self, name: str) -> str | None:
        if name in self.environ:
            return self.environ[name]
        return self.dotenv.get(name)

    async def run(self) -> ProjectModel:
        files: ComposeFiles | None = None
        env_files: dict[str, EnvFile | None] = {}
        answer: ComposeAnswer | None = None
        try:
            hashes: dict[str, str] = {}
            (files, env_files), (tool, asked) = await self._read_and_ask()
            if asked is not None:
                answer, hashes, said = asked
                for message, fatal in said:
                    self.problem(message, fatal)
            values = answer.values if answer is not None and answer.state == "ok" else None
            unresolved = frozenset(self.shaky | (answer.unset if answer else frozenset()))
            services, problems = build_services(
                files, env_files, self.owner._fingerprint, self.dotenv_source, self.lookup,
                values=values, unresolved=unresolved, hashes=hashes)
            for p in problems:
                self.problem(p.message, p.fatal)
            if answer is not None and answer.state == "failed" and tool is not None \
                    and not any(p.fatal for p in self.problems):
                self.problem(f"{' '.join(tool.argv)} config refused the project "
                             f"(exit {answer.exit_status})")
            if values is not None and tool is not None:
                self.answered_by = tool
            source = f"{tool.label} config" if values is not None and tool else "compose files"
            watched = tuple(dict.fromkeys((*_base_files(self.key), *files.consulted,
                                           *env_files)))
            return ProjectModel(key=self.key, server=self.host.name, source=source,
                                services=MappingProxyType(services),
                                problems=tuple(self.problems), watched=watched)
        finally:
            if files is not None:
                files.discard()
            for parsed in env_files.values():
                if parsed is not None:
                    parsed.discard()
            if answer is not None:
                answer.discard()
            self.dotenv.clear()
            self.environ.clear()

    async def _read_files(self) -> tuple[ComposeFiles, dict[str, EnvFile | None]]:
        """The compose files (and those they include or extend), the interpolation env
        files, the server's environment for the names they use, and the services' env
        files: everything the model is built from but Compose's own answer."""
        docs = await self._read_compose_files()
        await self._read_project_env()
        await self._read_environ(docs)
        files = await self._load(docs)
        docs.clear()
        for p in files.problems:
            self.problem(p.message, p.fatal)
        try:
            return files, await self._read_env_files(files)
        except BaseException:
            files.discard()
            raise

    async def _read_and_ask(self) -> tuple[
            tuple[ComposeFiles, dict[str, EnvFile | None]],
            tuple[ComposeTool | None, _Asked | None]]:
        """``_read_files`` and Compose's ``config`` side by side: the files come over SFTP
        while Compose (v1 is a Python program: a second or so) works out the same project.
        If either fails, the other is ended and what it holds is cleared."""
        asking = asyncio.ensure_future(self._ask_compose())
        try:
            read = await self._read_files()
        except BaseException:
            await _abandon(asking, lambda ended: ended[1][0] if ended[1] else None)
            raise
        try:
            return read, await asking
        except BaseException:
            files, env_files = read
            files.discard()
            for parsed in env_files.values():
                if parsed is not None:
                    parsed.discard()
            raise

    async def _read(self, path: str, limit: int) -> bytes | None:
        """A file's bytes; None (and a problem) when it cannot be read. Absent: FileNotFound."""
        try:
            return await self.host.read_file(path, max_bytes=limit)
        except (HostUnavailable, FileNotFoundError):
            raise
        except PermissionError:
            self.problem(f"{self.short(path)} cannot be read: permission denied")
        except IsADirectoryError:
            self.problem(f"{self.short(path)} cannot be read: it is a directory")
        except OSError as exc:
            self.problem(f"{self.short(path)} cannot be read ({type(exc).__name__})")
        return None

    async def _read_compose_files(self) -> list[tuple[str, bytes]]:
        docs: list[tuple[str, bytes]] = []
        for path in self.key.config_files:
            try:
                data = await self._read(path, COMPOSE_FILE_MAX_BYTES)
            except FileNotFoundError:
                self.problem(f"{self.short(path)} does not exist on {self.host.name}")
                continue
            if data is not None:
                docs.append((path, data))
        return docs

    async def _load(self, docs: list[tuple[str, bytes]]) -> ComposeFiles:
        """``load_compose``, again each time it wants files (those ``include:`` and
        ``extends:`` name) until it has them all; their contents are cleared after."""
        sources: dict[str, bytes | str] = {}
        try:
            while True:
                files = load_compose(self.key.project, self.key.working_dir, docs,
                                     self.lookup, self.shaky, sources)
                if not files.wanted:
                    return files
                read: list[tuple[str, bytes]] = []
                for path, kind in files.wanted.items():
                    limit = COMPOSE_FILE_MAX_BYTES if kind == "compose" else \
                        ENV_FILE_MAX_BYTES
                    sources[path] = data = await self._source(path, limit)
                    if kind == "compose" and isinstance(data, bytes):
                        read.append((path, data))
                await self._read_environ(read)
                read.clear()
        finally:
            sources.clear()

    async def _source(self, path: str, limit: int) -> bytes | str:
        """A file's bytes, or why it cannot be had (fixed words), for ``load_compose``."""
        try:
            return await self.host.read_file(path, max_bytes=limit)
        except HostUnavailable:
            raise
        except FileNotFoundError:
            return f"does not exist on {self.host.name}"
        except PermissionError:
            return "cannot be read: permission denied"
        except IsADirectoryError:
            return "cannot be read: it is a directory"
        except OSError as exc:
            return f"cannot be read ({type(exc).__name__})"

    async def _read_project_env(self) -> None:
        """The interpolation env files (the label's, else ``.env``); absent is normal."""
        for path in self.key.env_files:
            try:
                data = await self._read(path, ENV_FILE_MAX_BYTES)
            except FileNotFoundError:
                continue
            if data is None:
                continue
            parsed = parse_env(data, path)
            try:
                if parsed.issues:
                    self.problem(f"{self.short(path)}: {len(parsed.issues)} invalid line(s), "
                                 f"first {parsed.issues[0]}", fatal=False)
                for name in parsed:
                    self.dotenv[name] = parsed[name]
                    self.dotenv_source[name] = path
                    if name in parsed.unresolved:
                        self.shaky.add(name)
                    else:
                        self.shaky.discard(name)
            finally:
                parsed.discard()

    async def _read_environ(self, docs: list[tuple[str, bytes]]) -> None:
        """The environment Compose runs in on that server, for the names the files use
        (asked again only when a file read later, an included or extended one, uses a name
        not asked before)."""
        wanted = {m.decode() for _, data in docs for m in _WORD.findall(data)} - self.asked
        if not wanted:
            return
        self.asked |= wanted
        try:
            result = await self.host.run(["env", "-0"], timeout=self.owner._timeout)
        except TimeoutError:
            return
        raw = result.stdout
        try:
            for item in raw.split(b"\0"):
                name, sep, value = item.partition(b"=")
                text = name.decode("utf-8", "surrogateescape")
                if sep and text in wanted:
                    self.environ[text] = value.decode("utf-8", "surrogateescape")
        finally:
            del raw, result

    async def _read_env_files(self, files: ComposeFiles) -> dict[str, EnvFile | None]:
        raw_format = {p for s in files.services.values() for p, _, raw in s.env_files if raw}
        found: dict[str, EnvFile | None] = {}
        for path in files.env_file_paths():
            try:
                data = await self._read(path, ENV_FILE_MAX_BYTES)
            except FileNotFoundError:
                found[path] = None
                continue
            if data is None:
                found[path] = None
                continue
            found[path] = parse_env(data, path, interpolate=path not in raw_format)
        return found

    async def _ask_compose(self) -> tuple[ComposeTool | None, _Asked | None]:
        """The Compose that answered and its answer (None without Compose).

        Before the server's Compose is known, ``config`` is asked at once of the Compose
        the labels name. When it answers, the model is built from that answer and the
        server's Compose is detected afterwards, for later asks: on a server with v1 (a
        Python program, most of a CPU-second a run) detection's ``docker-compose version``
        was one run in three on the way to the first secrets round. When it does not
        answer, the server's Compose is detected and asked (unless it is the same one)."""
        guess = None if self.owner.detected(self.host) else likely_tool(self.created_by)
        if guess is None:
            tool = await self.owner.tool(self.host)
            return tool, (await self._ask(tool) if tool is not None else None)
        asked = await self._ask(guess)
        if asked[0].state == "ok":
            self.owner.detect_later(self.host)
            return guess, asked
        try:
            tool = await self.owner.tool(self.host)
        except BaseException:
            asked[0].discard()
            raise
        if tool is not None and (tool.argv, tool.major) == (guess.argv, guess.major):
            return tool, asked
        asked[0].discard()
        return tool, (await self._ask(tool) if tool is not None else None)

    async def _ask(self, tool: ComposeTool) -> _Asked:
        """Compose's ``config`` and its hashes (unless they are asked later), with what to
        say of the answer (added to the problems after the files' own, as when the two ran
        one after the other)."""
        timeout = self.owner._timeout
        hashes: dict[str, str] = {}
        if self.owner.hashes_later:
            answer = await resolve_config(self.host, tool, self.key, timeout)
        else:
            answer, hashes = await asyncio.gather(
                resolve_config(self.host, tool, self.key, timeout),
                config_hashes(self.host, tool, self.key, timeout))
        name = " ".join(tool.argv)
        said: list[tuple[str, bool]] = []  # (message, fatal)
        if answer.state == "timeout":
            said.append((f"{name} config did not answer within {self.owner._timeout:g} s: "
                         "the compose files were read directly", False))
        elif answer.state == "no_directory":
            said.append((f"the project directory {self.key.working_dir} does not exist on "
                         f"{self.host.name}", True))
        elif answer.state == "unreadable":
            said.append((f"{name} config gave output that is not a config", False))
        said += [(f"variable {variable} is not set (Compose uses an empty string)", False)
                 for variable in sorted(answer.unset)]
        return answer, hashes, said
