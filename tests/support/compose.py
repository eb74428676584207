"""Helpers for the compose tests: real projects in temp dirs, hosts that hide or fake Compose."""

from __future__ import annotations

import asyncio
import os
import stat
import textwrap
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from console.config import ServerConfig
from console.engine.compose import ComposeLabels, ProjectModel
from console.engine.host_api import Host, StatusListener
from console.engine.hosts import LocalHost
from console.models import CommandResult, ConnectionStatus

KEY = b"k" * 32


def write_project(root: Path, name: str, files: dict[str, str]) -> Path:
    """A project directory ``root/name`` holding ``files`` (dedented), returned."""
    directory = root / name
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return directory


def labels_for(directory: Path, project: str, service: str,
               config_files: Sequence[str] = ("docker-compose.yml",),
               **extra: str) -> dict[str, str]:
    labels = {
        "com.docker.compose.project": project,
        "com.docker.compose.service": service,
        "com.docker.compose.project.working_dir": str(directory),
        "com.docker.compose.project.config_files": ",".join(
            str(directory / f) for f in config_files),
        "com.docker.compose.oneoff": "False",
    }
    labels.update(extra)
    return labels


def parsed(labels: dict[str, str]) -> ComposeLabels:
    result = ComposeLabels.parse(labels)
    assert result is not None
    return result


def local_host() -> LocalHost:
    return LocalHost(ServerConfig(name="local"))


class WrappedHost(Host):
    """A LocalHost that can hide Compose, count commands and delay some of them."""

    def __init__(self, *, compose: bool = True,
                 delay: Callable[[Sequence[str]], float] | None = None) -> None:
        self.inner = local_host()
        self.name = self.inner.name
        self.compose = compose
        self.delay = delay
        self.commands: list[list[str]] = []

    @property
    def status(self) -> ConnectionStatus:
        return self.inner.status

    def add_status_listener(self, listener: StatusListener) -> Callable[[], None]:
        return self.inner.add_status_listener(listener)

    async def start(self) -> None:
        await self.inner.start()

    async def wait_up(self, timeout: float | None = None) -> bool:
        return await self.inner.wait_up(timeout)

    async def close(self) -> None:
        await self.inner.close()

    async def run(self, argv: Sequence[str], *, timeout: float | None = 30.0,
                  input: bytes | None = None) -> CommandResult:
        self.commands.append(list(argv))
        if not self.compose and any(a in ("docker", "docker-compose") for a in argv):
            return CommandResult(127, b"", b"command not found\n")
        if self.delay is not None and (seconds := self.delay(argv)):
            try:
                await asyncio.wait_for(asyncio.sleep(seconds), timeout)
            except TimeoutError:
                raise TimeoutError("killed") from None
        return await self.inner.run(argv, timeout=timeout, input=input)

    def stream(self, argv: Sequence[str]) -> AsyncIterator[bytes]:
        return self.inner.stream(argv)

    async def read_file(self, path: str, *, max_bytes: int = 4 * 1024 * 1024) -> bytes:
        return await self.inner.read_file(path, max_bytes=max_bytes)

    async def docker_base_url(self) -> str:
        return await self.inner.docker_base_url()

    async def open_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader,
                                                              asyncio.StreamWriter]:
        return await self.inner.open_tcp(host, port)


def fake_executable(directory: Path, name: str, script: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(script).lstrip("\n"))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def with_path_first(directory: Path) -> str:
    return f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"


def view(model: ProjectModel) -> dict[str, dict[str, tuple[str, str | None, bool]]]:
    """service -> name -> (state, fingerprint, unresolved): what two resolutions must share."""
    return {name: {k: (e.observation.state, e.observation.fingerprint,
                       e.observation.unresolved)
                   for k, e in service.expected.items()}
            for name, service in model.services.items()}
