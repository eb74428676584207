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

With ``files_first`` (the live console too), a plain project learnt anew whose files are
read before Compose answers (v1 takes a second or more) gets the model of its files at
once; Compose's answer replaces it in the cache, and ``on_update(server)`` says so. A
project the reader could misjudge (an ``include:``, an ``extends:``, a variable unset or
left to the shell, anything said of its files) waits for Compose as before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from console.engine.compose.labels import ComposeLabels, ProjectKey
from console.engine.compose.model import ComposeTool, ProjectModel, ProjectProblem
from console.engine.compose.resolution import Resolution, base_files
from console.engine.compose.tool import (
    COMPOSE_TIMEOUT,
    config_hashes,
    detect,
    likely_tool,
)
from console.engine.host_api import Host, HostUnavailable
from console.engine.secrets.observe import Fingerprinter

__all__ = ["ComposeProjects", "FileSignature"]

log = logging.getLogger(__name__)

DETECT_TTL = 300.0
CONCURRENT_RESOLVES = 2

_NANOSECONDS = "%s:%i:%.9Y:%.9Z"
_SECONDS = "%s:%i:%Y:%Z"
_PRECISE = re.compile(r"\d+:\d+:\d+\.\d+:\d+\.\d+")

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


class ComposeProjects:
    """Project models per server, refreshed when a watched file's size, inode or mtime moves.

    ``fingerprint`` must be the secret service's own Fingerprinter: the fingerprints in the
    models are compared with the ones it takes of the running containers.
    """

    def __init__(self, fingerprint: Fingerprinter, *, timeout: float = COMPOSE_TIMEOUT,
                 detect_timeout: float = COMPOSE_TIMEOUT, detect_ttl: float = DETECT_TTL,
                 clock: Callable[[], float] = time.monotonic,
                 hashes_later: bool = False, files_first: bool = False,
                 on_update: Callable[[str], None] | None = None) -> None:
        self._fingerprint = fingerprint
        self.hashes_later = hashes_later
        self.files_first = files_first
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
        # The detection is listed first, so it holds the detection lock before any project
        # asks: the projects then wait for its answer instead of asking again. Projects
        # whose labels name their Compose ask it at once, and detection waits until they
        # have their answers (see Resolution._ask_compose).
        guessed = all(likely_tool(keys[k].compose_version) for k in first_sight)
        warm = [self._detect_first(host)] if first_sight and not guessed else []
        models = await asyncio.gather(*warm, *(self._guarded(host, keys[k]) for k in keys))
        models = models[len(warm):]
        return {k: m for k, m in zip(keys, models, strict=True) if m is not None}

    async def _detect_first(self, host: Host) -> None:
        """A project seen for the first time will want the server's Compose: it is asked
        at once, beside the projects' own first reads, rather than after them."""
        try:
            await self.tool(host)
        except (HostUnavailable, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - the projects ask again and say why
            log.debug("compose detection on %s: %s", host.name, type(exc).__name__)

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
                watched=base_files(key))

    async def project(self, host: Host, labels: ComposeLabels) -> ProjectModel | None:
        """The project's model, from the cache while its files are unchanged; None when the
        labels do not say where the project lives. With ``files_first``, a project learnt
        anew may get the model of its files alone while Compose is still answering."""
        key = labels.key()
        if key is None:
            return None
        state = self._state(host)
        lock = state.locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = state.entries.get(key)
            watched = entry.model.watched if entry else base_files(key)
            signature = await self._signature(host, watched)
            if entry is not None and entry.signature == signature:
                return entry.model
            early: asyncio.Future[ProjectModel] = asyncio.get_running_loop().create_future()
            resolving = asyncio.ensure_future(self._resolve_gated(
                host, key, labels.compose_version,
                (lambda m: None if early.done() else early.set_result(m))
                if self.files_first else None))
            try:
                await asyncio.wait((resolving, early), return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                resolving.cancel()
                raise
            if not resolving.done():
                first = await self._store(host, key, early.result(), watched, signature)
                self._in_background(self._complete(host, key, resolving, first),
                                    f"compose-config:{host.name}:{key.project}")
                return first.model
            model, answered_by = resolving.result()
            await self._store(host, key, model, watched, signature)
            if self.hashes_later and answered_by is not None:
                self._hash_later(host, key, answered_by)
            return model

    async def _resolve_gated(self, host: Host, key: ProjectKey, created_by: str | None,
                             early: Callable[[ProjectModel], None] | None
                             ) -> tuple[ProjectModel, ComposeTool | None]:
        async with self._gate:
            return await self._resolve(host, key, created_by, early)

    async def _store(self, host: Host, key: ProjectKey, model: ProjectModel,
                     watched: tuple[str, ...], signature: FileSignature) -> _Entry:
        """Cache ``model`` under the signature taken before it was read (its watched files
        stated again if the resolution found more of them)."""
        if model.watched != watched:
            signature = await self._signature(host, model.watched)
        entry = self._state(host).entries[key] = _Entry(model, signature)
        return entry

    async def _complete(self, host: Host, key: ProjectKey,
                        resolving: asyncio.Future[tuple[ProjectModel, ComposeTool | None]],
                        first: _Entry) -> None:
        """Compose's answer in place of the files' model it followed, and ``on_update``.
        If the resolution fails, the files' model is dropped: the next round resolves
        again rather than keep a model Compose never confirmed."""
        state = self._state(host)
        try:
            model, answered_by = await resolving
        except BaseException:
            if state.entries.get(key) is first:
                del state.entries[key]
            raise
        if state.entries.get(key) is not first:
            return  # the files changed meanwhile and were learnt again
        if model.services != first.model.services:
            log.info("compose project %s on %s: Compose's config differs from the files "
                     "as read", key.project, host.name)
        await self._store(host, key, model, first.model.watched, first.signature)
        if self.hashes_later and answered_by is not None:
            self._hash_later(host, key, answered_by)
        if self._on_update is not None:
            self._on_update(host.name)

    def _hash_later(self, host: Host, key: ProjectKey, tool: ComposeTool) -> None:
        self._in_background(self._fill_hashes(host, key, tool),
                            f"compose-hashes:{host.name}:{key.project}")

    def _in_background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` beside the rounds; ``close`` ends it. A failure is logged only:
        what it would have added is asked again on the next resolution or detection."""
        async def quietly() -> None:
            try:
                await work
            except (HostUnavailable, asyncio.CancelledError):
                return
            except Exception as exc:  # noqa: BLE001 - a background ask never breaks a round
                log.debug("%s: %s", name, type(exc).__name__)

        task = asyncio.create_task(quietly(), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _fill_hashes(self, host: Host, key: ProjectKey, tool: ComposeTool) -> None:
        """Compose's config hashes into the cached model they belong to (unless the
        project's files changed meanwhile: the next resolution asks again)."""
        state = self._state(host)
        before = state.entries.get(key)
        hashes = await config_hashes(host, tool, key, self._timeout)
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
        if not self.detected(host):
            self._in_background(self._detect(host), f"compose-detect:{host.name}")

    async def _detect(self, host: Host) -> None:
        await self.tool(host)

    async def close(self) -> None:
        """End the detections and hash asks still running (the console is stopping)."""
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _signature(self, host: Host, paths: tuple[str, ...]) -> FileSignature:
        """One ``stat`` over the host for every watched file, with nanosecond times where
        the server's ``stat`` gives them (GNU's does; BusyBox's may not). The server's first
        ``stat`` asks for them and learns from the answer whether they came, asking again
        in whole seconds if not: a separate probe was one more round trip on the way to
        the first model."""
        state = self._state(host)
        precise = state.precise_stat
        seen = await self._stat(host, paths, _SECONDS if precise is False else _NANOSECONDS)
        if seen is not None and precise is None:
            if seen and all(_PRECISE.fullmatch(data) for data in seen.values()):
                state.precise_stat = True
            else:
                seen = await self._stat(host, paths, _SECONDS)
                if seen:
                    state.precise_stat = False
        if seen is None:
            return tuple((p, "unknown") for p in paths)
        return tuple((p, seen.get(p, "absent")) for p in paths)

    async def _stat(self, host: Host, paths: tuple[str, ...], spec: str
                    ) -> dict[str, str] | None:
        """path -> ``spec``'s answer for each file that exists; None on a timeout."""
        try:
            result = await host.run(["stat", "-L", "-c", f"%n\t{spec}", "--", *paths],
                                    timeout=self._timeout)
        except TimeoutError:
            return None
        seen: dict[str, str] = {}
        for line in result.stdout.decode("utf-8", "surrogateescape").splitlines():
            path, sep, data = line.rpartition("\t")
            if sep:
                seen[path] = data
        return seen

    def detected(self, host: Host) -> bool:
        """Whether the server's Compose is known and fresh (``tool`` answers at once)."""
        state = self._servers.get(host.name)
        return state is not None and state.detected_at is not None \
            and self._clock() - state.detected_at < self._detect_ttl

    async def _resolve(self, host: Host, key: ProjectKey, created_by: str | None = None,
                       early: Callable[[ProjectModel], None] | None = None,
                       ) -> tuple[ProjectModel, ComposeTool | None]:
        """Learn the project now; every value is classified and dropped before returning.
        ``created_by``: the Compose version on the containers' labels, a hint of the tool.
        Also returns the Compose whose ``config`` the model was built from, if any."""
        resolution = Resolution(self, host, key, created_by)
        try:
            return await resolution.run(early), resolution.answered_by
        except (HostUnavailable, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - a message here could quote a value
            log.debug("compose project %s on %s: %s", key.project, host.name,
                      type(exc).__name__)
            return ProjectModel(key=key, server=host.name, source="none", problems=(
                ProjectProblem(key.project, f"could not be read ({type(exc).__name__})"),),
                watched=base_files(key)), None
