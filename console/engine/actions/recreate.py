"""``R``: recreate a container's Compose service, and ``x``: a shell in a container.

Recreate runs ``docker compose up -d --no-deps --force-recreate SERVICE`` (or v1's
``docker-compose``) in the project's working directory on the container's server, with the
project name, config files and env files its labels record, so Compose rebuilds exactly
that service from the files as they are now: the fix for a container whose ``.env``
changed after it was created (a restart keeps the old environment). It reuses the
migration's run: output streamed line by line, the TERM/KILL cancel, the time limit.

The shell is prepared here (refusal, audit, the argv) and run by the UI while the TUI is
suspended; what the operator types is never seen, so never audited.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from console.engine import dockerapi
from console.engine.actions.migrate import MigrationPlan
from console.engine.compose.labels import ComposeLabels
from console.engine.compose.model import ComposeTool
from console.engine.compose.tool import compose_command, detect
from console.engine.host_api import Host

__all__ = [
    "RECREATE_TIMEOUT",
    "SHELL_SCRIPT",
    "InspectClient",
    "RecreatePlan",
    "ShellPlan",
    "compose_labels_of",
    "recreate_plan",
    "shell_argv",
]

RECREATE_TIMEOUT = 300.0
"""Seconds a recreate may take (pulling nothing: ``--no-deps``, the image is local)."""

SHELL_SCRIPT = "if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh"
"""Run inside the container: bash where it has one, else sh."""


class _InspectAPI(Protocol):
    def inspect_container(self, container: str) -> Mapping[str, Any]: ...


class InspectClient(Protocol):
    @property
    def api(self) -> _InspectAPI: ...


@dataclass(frozen=True, slots=True)
class RecreatePlan(MigrationPlan):
    """What ``R`` will run, and where; a ``MigrationPlan`` so the run and its screen are the
    migration's (``container`` is None: it runs on the server itself)."""

    project: str = ""
    service: str = ""
    working_dir: str = ""
    replaces: str = ""
    compose: str = ""
    compose_argv: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        return self.replaces

    @property
    def where(self) -> str:
        return f"in {self.working_dir} on {self.server} (project {self.project})"

    @property
    def command_text(self) -> str:
        return " ".join(shlex.quote(part) for part in self.compose_argv)


@dataclass(frozen=True, slots=True)
class ShellPlan:
    """What ``x`` will run: ``docker exec -it`` on the container's server."""

    server: str
    container: str
    argv: tuple[str, ...]
    local: bool

    @property
    def command_text(self) -> str:
        return " ".join(shlex.quote(part) for part in self.argv)


async def compose_labels_of(host: Host, client: InspectClient, container: str
                            ) -> tuple[str, ComposeLabels | None]:
    """The container's name and its Compose labels (None: not created by Compose)."""
    doc = await dockerapi.run_blocking(client.api.inspect_container, container)
    name = str(doc.get("Name") or container).lstrip("/")
    labels = (doc.get("Config") or {}).get("Labels") or {}
    return name, ComposeLabels.parse(labels)


def recreate_plan(server: str, protected: bool, name: str, labels: ComposeLabels | None,
                  tool: ComposeTool | None) -> RecreatePlan | str:
    """The plan, or the sentence saying why there is none."""
    if labels is None:
        return (f"{name} was not created by Compose: there is no service to recreate "
                "(r restarts it)")
    key = labels.key()
    if key is None:
        return (f"{name} has no working-directory label: Compose's project directory is "
                "unknown, so it cannot be recreated from here")
    if tool is None:
        return f"{server} has no Compose (neither docker compose nor docker-compose)"
    up = ("up", "-d", "--no-deps", "--force-recreate", labels.service)
    argv = compose_command(tool, key, *up)
    return RecreatePlan(server=server, command=tuple(argv), container=None,
                        timeout=RECREATE_TIMEOUT, protected=protected,
                        project=labels.project, service=labels.service,
                        working_dir=key.working_dir, replaces=name,
                        compose=" ".join(tool.argv), compose_argv=tuple(argv[5:]))


async def detect_compose(host: Host) -> ComposeTool | None:
    return await detect(host)


def shell_argv(container: str, docker_socket: str) -> list[str]:
    """``docker exec -it CONTAINER sh -c '<bash, else sh>'`` against the server's socket."""
    argv = ["docker"]
    if docker_socket and docker_socket != "/var/run/docker.sock":
        argv += ["-H", f"unix://{docker_socket}"]
    return argv + ["exec", "-it", container, "sh", "-c", SHELL_SCRIPT]
