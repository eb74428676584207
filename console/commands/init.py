"""``ops-console init``: a commented starter config from what this machine runs.

It reads the local Docker engine (compose labels, published ports, each project's working
directory) and writes a config the operator can read and trim. Secret *names* may be listed
from the project's .env file; values are never read into the output.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.engine.envfile import parse_env
from console.engine.shared import COMPOSE_PROJECT_LABEL, COMPOSE_WORKING_DIR_LABEL

__all__ = ["Discovery", "discover", "render_config", "run_init"]

SECRET_HINTS = ("SECRET", "KEY", "TOKEN", "PASSWORD", "DATABASE_URL", "DSN")
HEALTH_PATHS = ("/health", "/healthz", "/api/health")


@dataclass
class ProjectFound:
    name: str
    working_dir: str | None = None
    containers: list[str] = field(default_factory=list)
    ports: list[tuple[str, int]] = field(default_factory=list)  # (container, host port)
    env_file: str | None = None
    secret_names: list[str] = field(default_factory=list)


@dataclass
class Discovery:
    socket: str
    projects: list[ProjectFound] = field(default_factory=list)
    loose: list[str] = field(default_factory=list)  # containers outside any compose project
    error: str | None = None


def discover(socket: str = "/var/run/docker.sock") -> Discovery:
    """Ask the local engine what runs here; an unreachable engine is reported, not raised."""
    found = Discovery(socket=socket)
    try:
        import docker

        client = docker.DockerClient(base_url=f"unix://{socket}", timeout=10)
        containers = client.api.containers(all=True)
    except Exception as exc:  # docker raises many types; all mean "no engine here"
        found.error = f"Docker engine at {socket} did not answer ({type(exc).__name__})"
        return found
    projects: dict[str, ProjectFound] = {}
    for raw in containers:
        _add_container(raw, projects, found)
    found.projects = sorted(projects.values(), key=lambda p: p.name)
    for project in found.projects:
        _read_env_names(project)
    return found


def _add_container(raw: dict[str, Any], projects: dict[str, ProjectFound],
                   found: Discovery) -> None:
    labels = raw.get("Labels") or {}
    name = (raw.get("Names") or ["?"])[0].lstrip("/")
    project_name = labels.get(COMPOSE_PROJECT_LABEL)
    if not project_name:
        found.loose.append(name)
        return
    project = projects.setdefault(project_name, ProjectFound(name=project_name))
    project.working_dir = project.working_dir or labels.get(
        COMPOSE_WORKING_DIR_LABEL)
    project.containers.append(name)
    for port in raw.get("Ports") or []:
        if port.get("PublicPort") and port.get("Type") == "tcp":
            entry = (name, int(port["PublicPort"]))
            if entry not in project.ports:
                project.ports.append(entry)


def _read_env_names(project: ProjectFound) -> None:
    if not project.working_dir:
        return
    env_path = Path(project.working_dir) / ".env"
    try:
        data = env_path.read_bytes()
    except OSError:
        return
    project.env_file = str(env_path)
    names = list(parse_env(data, str(env_path)))  # names only; the values go out of scope
    project.secret_names = [n for n in names if any(h in n.upper() for h in SECRET_HINTS)]


def _q(value: str) -> str:
    """A TOML basic string (names come from the machine: quote them properly)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def render_config(found: Discovery) -> str:
    lines = [
        "# ops-console starter config, written by `ops-console init`.",
        "# Read it, trim it, and add your remote servers. Reference: the SPEC's config section.",
        "",
        "[console]",
        "read_only = false              # true: restart/migrate refused everywhere",
        '# theme = "ops-dark"',
        "",
    ]
    if found.error:
        lines += [f"# NOTE: {found.error}; nothing was discovered.", ""]
    if not found.projects:
        lines += _server_block("local", None, found.socket)
        lines += ["# No compose project found; every container on this machine is shown.", ""]
    for project in found.projects:
        lines += _project_block(project, found.socket, len(found.projects) > 1)
    if found.loose:
        lines += ["# Containers outside any compose project (shown when compose_project is",
                  f"# not set): {', '.join(found.loose[:20])}", ""]
    lines += [
        "# A remote server, reached over one SSH connection:",
        "# [[servers]]",
        '# name = "prod"',
        '# host = "203.0.113.10"',
        '# user = "deploy"',
        '# identity_file = "~/.ssh/id_ed25519"',
        "# protected = true               # restart/migrate ask for the server name",
        "",
    ]
    return "\n".join(lines)


def _server_block(name: str, project: str | None, socket: str) -> list[str]:
    lines = ["[[servers]]", f"name = {_q(name)}", 'host = "local"',
             f"docker_socket = {_q(socket)}"]
    if project:
        lines.append(f"compose_project = {_q(project)}")
    return lines


def _project_block(project: ProjectFound, socket: str, several: bool) -> list[str]:
    name = f"local-{project.name}" if several else "local"
    lines = _server_block(name, project.name, socket) + [""]
    for container, port in project.ports:
        lines += [
            "[[servers.health]]",
            f"name = {_q(f'{container} :{port}')}",
            f"url = {_q(f'http://127.0.0.1:{port}/health')}   # check the path",
            'from = "server"',
            "expect_status = 200",
            "",
        ]
    lines += ["[servers.secrets]"]
    lines.append(f"env_files = {_list([project.env_file] if project.env_file else [])}")
    lines.append(f"containers = {_list(project.containers)}")
    lines.append(f"required = {_list(project.secret_names)}")
    jwt_like = [n for n in project.secret_names if "JWT" in n.upper()]
    lines.append(f"consistent = {_list(jwt_like)}")
    lines += ["", "[servers.logs]", f"containers = {_list(project.containers)}", ""]
    return lines


def default_output() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "ops-console" / "config.toml"


def run_init(args: argparse.Namespace) -> int:
    output = Path(args.output).expanduser() if args.output else default_output()
    if output.exists() and not args.force:
        print(f"ops-console: {output} exists; use --force to overwrite it", file=sys.stderr)
        return 2
    text = render_config(discover())
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"ops-console: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {output}")
    return 0
