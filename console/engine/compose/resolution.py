"""One resolution of one Compose project on one server: its files read over the host,
Compose's own ``config`` asked beside them, the model built, every value cleared.

``ComposeProjects`` (projects.py) owns the per-server cache, the detected Compose and the
background asks; a ``Resolution`` is made for each project it has to learn again.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

from console.engine.compose.files import ComposeFiles, load_compose
from console.engine.compose.labels import ProjectKey
from console.engine.compose.model import ComposeTool, ProjectModel, ProjectProblem, relative_to
from console.engine.compose.service_env import build_services
from console.engine.compose.tool import (
    ComposeAnswer,
    config_hashes,
    likely_tool,
    resolve_config,
)
from console.engine.envfile import EnvFile, parse_env
from console.engine.host_api import Host, HostUnavailable

if TYPE_CHECKING:
    from console.engine.compose.projects import ComposeProjects

__all__ = ["COMPOSE_FILE_MAX_BYTES", "ENV_FILE_MAX_BYTES", "Resolution", "base_files"]

COMPOSE_FILE_MAX_BYTES = 512 * 1024
ENV_FILE_MAX_BYTES = 1024 * 1024
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


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


def _unreadable(exc: OSError) -> str:
    """Why a file cannot be read, in fixed words (an OS message names more than needed)."""
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(exc, IsADirectoryError):
        return "cannot be read: it is a directory"
    return f"cannot be read ({type(exc).__name__})"


async def _environ(host: Host, wanted: set[str], timeout: float) -> dict[str, str]:
    """The ``wanted`` names' values in the environment Compose runs in on that server
    (``env -0``); no other value is kept. Nothing on a timeout."""
    try:
        result = await host.run(["env", "-0"], timeout=timeout)
    except TimeoutError:
        return {}
    raw = result.stdout
    found: dict[str, str] = {}
    try:
        for item in raw.split(b"\0"):
            name, sep, value = item.partition(b"=")
            text = name.decode("utf-8", "surrogateescape")
            if sep and text in wanted:
                found[text] = value.decode("utf-8", "surrogateescape")
    finally:
        del raw, result
    return found


def base_files(key: ProjectKey) -> tuple[str, ...]:
    """The files a project's labels name: its compose files, then its env files."""
    return tuple(dict.fromkeys((*key.config_files, *key.env_files)))


class Resolution:
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

    async def run(self, early: Callable[[ProjectModel], None] | None = None
                  ) -> ProjectModel:
        """The project's model. ``early(model)``, when given, is handed the model of the
        files alone if they are read before Compose answers (``_files_model``)."""
        files: ComposeFiles | None = None
        env_files: dict[str, EnvFile | None] = {}
        answer: ComposeAnswer | None = None
        try:
            hashes: dict[str, str] = {}
            (files, env_files), (tool, asked) = await self._read_and_ask(early)
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
            return ProjectModel(key=self.key, server=self.host.name, source=source,
                                services=MappingProxyType(services),
                                problems=tuple(self.problems),
                                watched=self._watched(files, env_files))
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

    def _watched(self, files: ComposeFiles, env_files: dict[str, EnvFile | None]
                 ) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*base_files(self.key), *files.consulted, *env_files)))

    def _files_model(self, files: ComposeFiles, env_files: dict[str, EnvFile | None]
                     ) -> ProjectModel | None:
        """The model of the files alone, to show while Compose is still working the project
        out (v1, a Python program, takes a second or more a run). Only a plain project gets
        one: nothing said of its files, no ``include:`` or ``extends:``, no variable unset
        or left to the shell, which is where this reader and Compose could part. Compose's
        answer replaces it."""
        if self.problems or self.shaky or files.missing or files.consulted:
            return None
        services, problems = build_services(
            files, env_files, self.owner._fingerprint, self.dotenv_source, self.lookup,
            keep=True)
        if problems:
            return None
        return ProjectModel(key=self.key, server=self.host.name, source="compose files",
                            services=MappingProxyType(services),
                            watched=self._watched(files, env_files))

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

    async def _read_and_ask(self, early: Callable[[ProjectModel], None] | None) -> tuple[
            tuple[ComposeFiles, dict[str, EnvFile | None]],
            tuple[ComposeTool | None, _Asked | None]]:
        """``_read_files`` and Compose's ``config`` side by side: the files come over SFTP
        while Compose (v1 is a Python program: a second or so) works out the same project.
        If either fails, the other is ended and what it holds is cleared."""
        asking = asyncio.ensure_future(self._ask_compose())
        try:
            read = await self._read_files()
            if early is not None and not asking.done():
                model = self._files_model(*read)
                if model is not None:
                    early(model)
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
        except OSError as exc:
            self.problem(f"{self.short(path)} {_unreadable(exc)}")
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
        except OSError as exc:
            return _unreadable(exc)

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
        self.environ.update(await _environ(self.host, wanted, self.owner._timeout))

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
