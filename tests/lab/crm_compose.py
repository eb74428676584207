"""The CRM projects (``crm``, ``crm2``) as compose files, brought up by real Compose.

Each project's ``docker-compose.yml`` is written into its working directory beside its
``.env`` and run there the way an operator would (``cd /srv/ops-lab/crm && docker-compose up
-d``), so every label (``config-hash``, ``config_files``, ``version``...), the network and the
volume are Compose's own. ``container_name:`` keeps the names the tests and docs use
(``crm-backend-1``; Compose v1 would say ``crm_backend_1``), and ``name:`` keeps the volumes'
(``crm_dbdata``, which is also what v1 would call ``dbdata`` in project ``crm``).

Every service carries an ``ops-lab.spec`` label: a digest of the compose file, the app code
(bind-mounted, so a change needs a recreate that Compose alone would not see) and the image
id. ``stack.converge`` compares it, the state and the environment with what runs, and only
calls Compose when something differs: a warm ``up`` stays well under a second.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.lab.compose_lab import compose_argv
from tests.lab.layout import (
    APP_DIR,
    APP_IMAGE,
    BACKEND2_PORT,
    BACKEND_PORT,
    LAB_LABEL,
    NGINX_PORT,
    SPEC_LABEL,
    Layout,
)
from tests.lab.system import DOCKER_SOCKET, LabError

COMPOSE_FILE = "docker-compose.yml"
COMPOSE_TIMEOUT = 180.0
HEALTH_SNIPPET = (
    "import socket,sys\n"
    "s=socket.create_connection(('127.0.0.1',{port}),2)\n"
    "s.sendall(b'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n')\n"
    "sys.exit(0 if s.makefile('rb').read().split(b' ')[1:2]==[b'200'] else 1)\n"
)
HEADER = ("# {project}: written by tests/lab (crm_compose.py) and brought up with docker-compose\n"
          "# in this directory; `python -m tests.lab reset` restores it.\n")
BACKEND_CMD = ["python3", "-u", "/app/backend.py", "serve"]


@dataclass(frozen=True)
class ServiceDef:
    """One service of a CRM project, and the container name it keeps."""

    project: str
    service: str
    command: tuple[str, ...]
    port: int  # inside the container
    host_port: int
    health_path: str
    working_dir: str
    env_file: bool = False
    volume: str | None = None  # the project's named volume, mounted at /data

    @property
    def name(self) -> str:
        return f"{self.project}-{self.service}-1"


SERVICES: tuple[ServiceDef, ...] = (
    ServiceDef("crm", "backend", tuple(BACKEND_CMD), 8000, BACKEND_PORT, "/health", "/app",
               env_file=True, volume="crm_dbdata"),
    ServiceDef("crm", "nginx", ("nginx", "-c", "/app/nginx.conf"), 80, NGINX_PORT,
               "/nginx-health", "/"),
    ServiceDef("crm2", "backend", tuple(BACKEND_CMD), 8000, BACKEND2_PORT, "/health", "/app",
               env_file=True, volume="crm2_dbdata"),
)
PROJECTS: tuple[str, ...] = ("crm", "crm2")


def services_of(project: str) -> list[ServiceDef]:
    return [s for s in SERVICES if s.project == project]


def service_named(name: str) -> ServiceDef:
    for service in SERVICES:
        if service.name == name:
            return service
    raise LabError(f"no lab container named {name!r}")


def app_code_digest() -> str:
    """Bind-mounted code only takes effect on a restart: a change must recreate."""
    digest = hashlib.sha256()
    for path in sorted(APP_DIR.iterdir()):
        if path.is_file() and path.suffix in (".py", ".conf"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def volume_key(volume: str) -> str:
    """The volume's key in the compose file: ``crm_dbdata`` is ``dbdata`` of ``crm``."""
    return volume.split("_", 1)[1]


def _service_doc(service: ServiceDef) -> dict[str, Any]:
    snippet = HEALTH_SNIPPET.format(port=service.port, path=service.health_path)
    doc: dict[str, Any] = {
        "image": APP_IMAGE,
        "container_name": service.name,
        "command": list(service.command),
        "working_dir": service.working_dir,
    }
    if service.env_file:
        doc["env_file"] = ".env"
    doc.update({
        "ports": [f"127.0.0.1:{service.host_port}:{service.port}"],
        "volumes": ([f"{volume_key(service.volume)}:/data"] if service.volume else [])
        + [f"{APP_DIR}:/app:ro"],
        "restart": "no",
        "init": False,
        "stop_signal": "SIGTERM",
        "stop_grace_period": "10s",
        "healthcheck": {"test": ["CMD", "python3", "-I", "-S", "-c", snippet],
                        "interval": "2s", "timeout": "3s", "retries": 3,
                        "start_period": "0s"},
        "logging": {"driver": "json-file", "options": {"max-size": "50m", "max-file": "3"}},
        "labels": {LAB_LABEL: "1"},
    })
    return doc


def _project_doc(project: str) -> dict[str, Any]:
    services = services_of(project)
    doc: dict[str, Any] = {"services": {s.service: _service_doc(s) for s in services}}
    doc["networks"] = {"default": {"labels": {LAB_LABEL: "1"}}}
    volumes = {volume_key(s.volume): s.volume for s in services if s.volume}
    doc["volumes"] = {key: {"name": name, "labels": {LAB_LABEL: "1"}}
                      for key, name in volumes.items()}
    return doc


def spec_digest(project: str, image_id: str) -> str:
    """What, changed, needs a recreate: the compose file, the app code, the image."""
    material = yaml.safe_dump(_project_doc(project), sort_keys=True)
    material += f"\ncode={app_code_digest()}\nimage={image_id}\nv=2\n"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def render(project: str, image_id: str) -> str:
    """The project's compose file, every service labelled with the spec digest."""
    doc = _project_doc(project)
    digest = spec_digest(project, image_id)
    for service in doc["services"].values():
        service["labels"][SPEC_LABEL] = digest
    return HEADER.format(project=project) + yaml.safe_dump(doc, sort_keys=False, width=1000)


def compose_path(layout: Layout, project: str) -> Path:
    return layout.project_dir(project) / COMPOSE_FILE


def write(layout: Layout, project: str, image_id: str) -> bool:
    """Write the compose file if it differs; True when it was (re)written."""
    path = compose_path(layout, project)
    text = render(project, image_id)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{COMPOSE_FILE}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    tmp.replace(path)
    return True


def run(layout: Layout, project: str, *args: str,
        timeout: float = COMPOSE_TIMEOUT) -> str:
    """Compose in the project's directory, as an operator runs it; its output, or LabError.

    Compose's output is not passed on in the error: it can quote the environment.
    """
    work = layout.project_dir(project)
    argv = [*compose_argv(), "-p", project, *args]
    env = dict(os.environ, DOCKER_HOST=f"unix://{DOCKER_SOCKET}")
    try:
        done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)} in {work} took more than {timeout:.0f}s") from None
    if done.returncode != 0:
        last = [line for line in done.stderr.splitlines() if "=" not in line][-5:]
        raise LabError(f"{' '.join(argv)} in {work} failed ({done.returncode}): "
                       + " | ".join(last))
    return done.stdout + done.stderr


def up(layout: Layout, project: str) -> str:
    """``up -d``: Compose recreates what its config hash says changed, starts what is stopped."""
    return run(layout, project, "up", "-d", "--remove-orphans")


def force_recreate(layout: Layout, service: ServiceDef) -> str:
    """``up -d --no-deps --force-recreate SERVICE``, as the console's R key does."""
    return run(layout, service.project, "up", "-d", "--no-deps", "--force-recreate",
               service.service)


def expected_env(image_env: Mapping[str, str], env_file: Mapping[str, str] | None
                 ) -> dict[str, str]:
    """What a service's container holds when created now: the image's env, then the .env."""
    return {**image_env, **(env_file or {})}
