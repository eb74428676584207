"""Asking a server's own Compose: which one it has, the resolved config, the config hashes.

Everything runs through the ``Host`` (over the server's one SSH connection, or locally), in
the project's working directory, with the project name, config files and env files read
from the containers' labels, so Compose resolves exactly what it resolved when it created
them. Each command has ``COMPOSE_TIMEOUT`` seconds.

Compose's output holds secret values: ``ComposeAnswer`` keeps them only until the caller
has classified them (``discard()``), and shows counts in its ``repr``. Compose's error text
quotes the compose file, so it is never passed on: failures are described in fixed words,
and the unset-variable warnings are reduced to the variables' names.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from console.engine.compose.labels import ProjectKey
from console.engine.compose.model import ComposeTool
from console.engine.host_api import Host

__all__ = [
    "COMPOSE_TIMEOUT",
    "ComposeAnswer",
    "compose_command",
    "config_hashes",
    "detect",
    "likely_tool",
    "parse_config_output",
    "resolve_config",
    "unset_variables",
]

COMPOSE_TIMEOUT = 5.0
_CANDIDATES: tuple[tuple[str, ...], ...] = (("docker", "compose"), ("docker-compose",))
_VERSION = re.compile(rb"version v?(\d+)\.(\d+)(?:\.(\d+))?")
_UNSET = re.compile(r"The \\?\"?([A-Za-z_][A-Za-z0-9_]*)\\?\"? variable is not set")
_IN_DIR = 'cd -- "$1" || exit 125; shift; exec "$@"'
# The console only reads with these (``version``, ``config``): at a lower priority where
# the server has ``nice``, so a Compose v1 run (most of a CPU-second) yields the CPU to the
# server's own work, and to the console's other commands on the way to the first screen.
_NICELY = 'command -v nice >/dev/null 2>&1 && exec nice -n 10 "$@"; exec "$@"'
_IN_DIR_NICELY = 'cd -- "$1" || exit 125; shift; ' + _NICELY
NO_DIRECTORY = 125


async def detect(host: Host, timeout: float = COMPOSE_TIMEOUT) -> ComposeTool | None:
    """The v2 plugin (``docker compose``) if the server has it, else ``docker-compose``.

    Both are asked at once: ``docker-compose`` v1 is a Python program that takes most of a
    second to say its version, which the secrets pane's first round would wait for twice.
    """
    answers = await asyncio.gather(*(_version(host, argv, timeout) for argv in _CANDIDATES))
    return next((tool for tool in answers if tool is not None), None)


async def _version(host: Host, argv: tuple[str, ...], timeout: float) -> ComposeTool | None:
    try:
        result = await host.run(["sh", "-c", _NICELY, "ops-console", *argv, "version"],
                                timeout=timeout)
    except TimeoutError:
        return None
    if not result.ok:
        return None
    found = _VERSION.search(result.stdout)
    if found is None:
        return None
    major, minor, patch = (int(g) if g else 0 for g in found.groups())
    return ComposeTool(argv, f"{major}.{minor}.{patch}", major)


def likely_tool(created_by: str | None) -> ComposeTool | None:
    """The Compose that ``detect`` most likely finds, judged from the version that created
    a container (its ``com.docker.compose.version`` label): v1 is ``docker-compose``, v2
    most often the plugin, with the label's version. Only a guess, to ask ``config``
    before detection has answered."""
    found = re.match(r"v?((\d+)\.[0-9A-Za-z.+-]*)", (created_by or "").strip())
    major = int(found.group(2)) if found else 0
    if found is None or major < 1:
        return None
    return ComposeTool(_CANDIDATES[1] if major == 1 else _CANDIDATES[0], found.group(1), major)


def compose_command(tool: ComposeTool, key: ProjectKey, *args: str,
                    nicely: bool = False) -> list[str]:
    """argv running ``tool`` for the project in its working directory (exit 125: no dir);
    ``nicely`` (a read) at a lower priority where the server has ``nice``."""
    argv = ["sh", "-c", _IN_DIR_NICELY if nicely else _IN_DIR, "ops-console",
            key.working_dir, *tool.argv, "-p", key.project]
    for path in key.config_files:
        argv += ["-f", path]
    argv += ["--project-directory", key.working_dir]
    default_env = (key.working_dir.rstrip("/") + "/.env",)
    if key.env_files and key.env_files != default_env:
        env_files = key.env_files if tool.major >= 2 else key.env_files[:1]
        for path in env_files:
            argv += ["--env-file", path]
    return argv + list(args)


@dataclass(slots=True)
class ComposeAnswer:
    """``config`` as Compose answered it. ``values`` holds secrets until ``discard()``.

    ``state``: ``ok``, ``failed`` (Compose refused the project: ``exit_status``),
    ``timeout``, ``no_directory`` or ``unreadable`` (output that is not a config).
    """

    state: str
    values: dict[str, dict[str, str | None]] = field(default_factory=dict)
    unset: frozenset[str] = frozenset()
    exit_status: int | None = None

    def __repr__(self) -> str:
        return f"ComposeAnswer({self.state!r}, {len(self.values)} services)"

    def discard(self) -> None:
        for env in self.values.values():
            env.clear()
        self.values.clear()


async def resolve_config(host: Host, tool: ComposeTool, key: ProjectKey,
                         timeout: float = COMPOSE_TIMEOUT) -> ComposeAnswer:
    """``config`` (as JSON where v2 offers it) in the project's directory."""
    as_json = tool.major >= 2
    args = ("config", "--format", "json") if as_json else ("config",)
    try:
        result = await host.run(compose_command(tool, key, *args, nicely=True),
                                timeout=timeout)
        if as_json and not result.ok and b"--format" in result.stderr:
            as_json = False
            result = await host.run(compose_command(tool, key, "config", nicely=True),
                                    timeout=timeout)
    except TimeoutError:
        return ComposeAnswer("timeout")
    unset = unset_variables(result.stderr)
    if result.exit_status == NO_DIRECTORY:
        return ComposeAnswer("no_directory", exit_status=result.exit_status)
    if not result.ok:
        return ComposeAnswer("failed", unset=unset, exit_status=result.exit_status)
    try:
        values = parse_config_output(result.stdout, as_json)
    except ValueError:
        return ComposeAnswer("unreadable", unset=unset, exit_status=result.exit_status)
    return ComposeAnswer("ok", values, unset, result.exit_status)


async def config_hashes(host: Host, tool: ComposeTool, key: ProjectKey,
                        timeout: float = COMPOSE_TIMEOUT) -> dict[str, str]:
    """Compose's own config hash per service (``config --hash=*``); {} when unavailable."""
    try:
        result = await host.run(compose_command(tool, key, "config", "--hash=*",
                                                nicely=True), timeout=timeout)
    except TimeoutError:
        return {}
    if not result.ok:
        return {}
    hashes: dict[str, str] = {}
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{16,128}", parts[1]):
            hashes[parts[0]] = parts[1]
    return hashes


def unset_variables(stderr: bytes) -> frozenset[str]:
    """The names in Compose's "The X variable is not set" warnings (v1 and v2 wording)."""
    return frozenset(_UNSET.findall(stderr.decode("utf-8", "replace")))


def parse_config_output(stdout: bytes, as_json: bool) -> dict[str, dict[str, str | None]]:
    """service -> name -> value (None: listed without one). Compose writes a literal ``$``
    as ``$$`` in its output (so that it can be read back): that is undone here.

    Raises ValueError with a fixed message (the parser's own would quote the output).
    """
    try:
        doc: Any = json.loads(stdout) if as_json else yaml.load(
            stdout, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except Exception:  # noqa: BLE001 - the parser's message quotes the output
        raise ValueError("compose config output is not a config") from None
    try:
        services = doc.get("services") if isinstance(doc, dict) else None
        if not isinstance(services, dict):
            raise ValueError("compose config output has no services")
        result: dict[str, dict[str, str | None]] = {}
        for name, spec in services.items():
            environment = spec.get("environment") if isinstance(spec, dict) else None
            result[str(name)] = _environment(environment)
        return result
    finally:
        doc = None


def _environment(environment: Any) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    if isinstance(environment, Mapping):
        for name, value in environment.items():
            values[str(name)] = None if value is None else _unescape(str(value))
    elif isinstance(environment, Sequence) and not isinstance(environment, str):
        for item in environment:
            name, sep, value = str(item).partition("=")
            values[name] = _unescape(value) if sep else None
    return values


def _unescape(value: str) -> str:
    return value.replace("$$", "$")
