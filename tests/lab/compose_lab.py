"""A project the lab brings up with real Compose: ``shop`` (an api and a worker).

Shaped like the report in the Compose issue: ``api`` reads the project's ``.env`` through
``env_file:``, ``worker`` only interpolates ``JWT_SECRET=${JWT_SECRET}`` from it. Created by
Debian's ``docker-compose`` (v1; the v2 plugin where it is installed), so every label, name
(``shop_api_1`` with v1, ``shop-api-1`` with v2), network and volume is Compose's own.
Tests bring it up and take it down themselves (under the lab's lock): the lab's other
projects, and the tests written against them, are not touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.lab.layout import BUSYBOX_IMAGE, LAB_LABEL, Layout
from tests.lab.system import DOCKER_SOCKET, LabError

PROJECT = "shop"
COMPOSE_FILE = f"""\
# tests/lab/compose_lab.py: brought up with docker-compose by the tests that use it.
services:
  api:
    image: {BUSYBOX_IMAGE}
    command: ["sleep", "86400"]
    env_file: .env
    labels: {{"{LAB_LABEL}": "1"}}
    restart: "no"
    stop_signal: SIGKILL
  worker:
    image: {BUSYBOX_IMAGE}
    command: ["sleep", "86400"]
    environment:
      - JWT_SECRET=${{JWT_SECRET}}
      - MODE=batch
    labels: {{"{LAB_LABEL}": "1"}}
    restart: "no"
    stop_signal: SIGKILL
"""


def directory(layout: Layout) -> Path:
    return layout.project_dir(PROJECT)


def compose_argv() -> list[str]:
    """The v2 plugin if this machine has it, else Debian's docker-compose (v1)."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True,
                               check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise LabError("no docker compose / docker-compose on this machine")


def baseline_env() -> dict[str, str]:
    return {"JWT_SECRET": secrets.token_urlsafe(36),
            "DATABASE_URL": f"postgres://shop:{secrets.token_urlsafe(18)}@db:5432/shop",
            "SESSION_SECRET": secrets.token_urlsafe(36)}


def write_env(layout: Layout, env: Mapping[str, str]) -> None:
    path = directory(layout) / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    path.chmod(0o600)


def compose(layout: Layout, *args: str, timeout: float = 120.0) -> str:
    """Run Compose for the project in its directory; its output, or LabError."""
    work = directory(layout)
    argv = [*compose_argv(), "-p", PROJECT, "-f", str(work / "docker-compose.yml"),
            "--project-directory", str(work), *args]
    env = dict(os.environ, DOCKER_HOST=f"unix://{DOCKER_SOCKET}")
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(argv[:2])} {' '.join(args)} failed "
                       f"({done.returncode}): {done.stderr.strip()[-400:]}")
    return done.stdout + done.stderr


def up(layout: Layout, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Write the files and ``up -d`` (recreating everything); returns the .env written."""
    work = directory(layout)
    work.mkdir(parents=True, exist_ok=True)
    (work / "docker-compose.yml").write_text(COMPOSE_FILE)
    values = dict(env or baseline_env())
    write_env(layout, values)
    compose(layout, "up", "-d", "--force-recreate", "--remove-orphans")
    return values


def down(layout: Layout) -> None:
    if (directory(layout) / "docker-compose.yml").exists():
        compose(layout, "down", "--remove-orphans", "-t", "0")


def container_name(client: object, service: str) -> str:
    """The name Compose gave the service's container (v1: shop_api_1, v2: shop-api-1)."""
    found = client.containers.list(all=True, filters={  # type: ignore[attr-defined]
        "label": [f"com.docker.compose.project={PROJECT}",
                  f"com.docker.compose.service={service}"]})
    if len(found) != 1:
        raise LabError(f"expected one {PROJECT} {service} container, found {len(found)}")
    return str(found[0].name)
