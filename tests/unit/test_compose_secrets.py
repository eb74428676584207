"""The secret service with Compose's view: per-service expectations, stale containers in
words, no comparison across projects, project problems as one line, check --json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from console.config import Config, ConsoleSettings, SecretsConfig, ServerConfig
from console.engine.secrets import SecretService, container_place, secret_status_json
from console.engine.secrets.status import STATUSES
from tests.support.compose import WrappedHost, labels_for, write_project
from tests.support.docker import FakeDaemon, fake_clients

pytestmark = pytest.mark.timeout(60)

JWT = "9f6c1d0e8b7a4c3f2e1d0c9b8a7f6e5d4c3b2a19"
DB = "postgres://crm:Zq8v3nW1xR7t@db:5432/crm"
SESSION = "Xk2p9Lm4Qw8r1Tz6Yb3n7Vc5Hd0Gf2Js"
COMPOSE = """
    services:
      api:
        image: busybox
        env_file: .env
      worker:
        image: busybox
        environment:
          - JWT_SECRET=${JWT_SECRET}
"""


def env_text(**values: str) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


class Lab:
    """One local server with real project directories and a fake Docker daemon."""

    def __init__(self, root: Path, *, compose: bool = False,
                 secrets: SecretsConfig | None = None) -> None:
        self.root = root
        self.daemon = FakeDaemon()
        self.host = WrappedHost(compose=compose)
        server = ServerConfig(name="local", secrets=secrets or SecretsConfig(infer=True))
        self.config = Config(console=ConsoleSettings(audit_log=root / "audit.jsonl"),
                             servers=(server,), source=None if secrets is None else root)
        self.service = SecretService(self.config, {"local": self.host},
                                     clients=fake_clients({"docker": self.daemon}))

    def project(self, name: str, files: dict[str, str]) -> Path:
        return write_project(self.root, name, files)

    def container(self, directory: Path, project: str, service: str, env: dict[str, str],
                  **extra: str) -> str:
        name = f"{project}-{service}-1"
        labels = labels_for(directory, project, service, **extra)
        self.daemon.add(name, env, project=None, working_dir=None, extra_labels=labels)
        return name

    async def check(self) -> Any:
        await self.service.refresh()
        return self.service.snapshot().servers["local"]


def by(result: Any) -> dict[tuple[str, str], Any]:
    return {(s.name, s.place.removeprefix("container:")): s for s in result.statuses}


def crm(lab: Lab, **env: str) -> Path:
    values = {"JWT_SECRET": JWT, "DATABASE_URL": DB, "SESSION_SECRET": SESSION}
    values.update(env)
    return lab.project("crm", {"docker-compose.yml": COMPOSE, ".env": env_text(**values)})


def up(lab: Lab, directory: Path, **env: str) -> None:
    """What `compose up` gives each container from the .env written by ``crm``."""
    values = {"JWT_SECRET": JWT, "DATABASE_URL": DB, "SESSION_SECRET": SESSION}
    values.update(env)
    lab.daemon.docs.clear()
    lab.container(directory, "crm", "api", values)
    lab.container(directory, "crm", "worker", {"JWT_SECRET": values["JWT_SECRET"],
                                               "PATH": "/usr/bin"})


async def test_the_interpolating_worker_shows_no_false_findings(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    directory = crm(lab)
    up(lab, directory)
    result = await lab.check()
    assert result.ok, [(s.name, s.place, s.status, s.detail) for s in result.statuses]
    statuses = by(result)
    assert {n for n, p in statuses if p == "crm-worker-1"} == {"JWT_SECRET"}
    assert {n for n, p in statuses if p == "crm-api-1"} == {
        "JWT_SECRET", "DATABASE_URL", "SESSION_SECRET"}
    assert all(s.status == "present" for s in result.statuses)


async def test_editing_env_marks_exactly_the_containers_whose_service_reads_the_key(
        tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    directory = crm(lab)
    up(lab, directory)
    await lab.check()
    crm(lab, DATABASE_URL="postgres://crm:N3wPassw0rdX@db:5432/crm")
    statuses = by(await lab.check())
    stale = sorted((n, p) for (n, p), s in statuses.items() if s.status == "stale")
    assert stale == [("DATABASE_URL", "crm-api-1")]
    assert statuses[("DATABASE_URL", "crm-api-1")].detail == (
        "DATABASE_URL: .env changed since crm-api-1 was created (a restart keeps the old "
        "value): recreate")

    crm(lab, JWT_SECRET="0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3")
    statuses = by(await lab.check())
    stale = sorted((n, p) for (n, p), s in statuses.items() if s.status == "stale")
    assert stale == [("JWT_SECRET", "crm-api-1"), ("JWT_SECRET", "crm-worker-1")]
    assert statuses[("JWT_SECRET", "crm-worker-1")].detail == (
        "JWT_SECRET: .env changed since crm-worker-1 was created (a restart keeps the old "
        "value): recreate")
    # recreating with the new .env clears it by itself
    up(lab, directory, JWT_SECRET="0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3")
    assert (await lab.check()).ok


async def test_two_projects_with_different_values_show_no_drift(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    one = crm(lab)
    other_db = "postgres://shop:Vb7nM2qL9xK4@db:5432/shop"
    two = lab.project("shop", {"docker-compose.yml": COMPOSE,
                               ".env": env_text(JWT_SECRET=JWT, DATABASE_URL=other_db,
                                                SESSION_SECRET=SESSION)})
    up(lab, one)
    lab.container(two, "shop", "api", {"JWT_SECRET": JWT, "DATABASE_URL": other_db,
                                       "SESSION_SECRET": SESSION})
    # a container of some other project, without a working directory label
    lab.daemon.add("legacy-app-1", {"DATABASE_URL": "postgres://x:Qw9rT5yU1iO3@db/x"},
                   project="legacy", working_dir=None,
                   extra_labels={"com.docker.compose.service": "app"})
    result = await lab.check()
    assert result.ok, [(s.name, s.place, s.status, s.detail) for s in result.statuses]
    assert not any(s.drift for s in result.statuses)
    assert lab.service.snapshot().drift == {}


async def test_a_container_without_compose_is_judged_as_before(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    directory = crm(lab)
    up(lab, directory)
    lab.daemon.add("handmade-1", {"JWT_SECRET": "a-different-value-0123456789abcdef01"},
                   project=None, working_dir=str(directory))
    statuses = by(await lab.check())
    assert statuses[("JWT_SECRET", "handmade-1")].status == "differs_from_file"


async def test_a_broken_project_is_one_line_and_the_rest_keeps_working(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    directory = crm(lab)
    up(lab, directory)
    bad = lab.project("bad", {"docker-compose.yml": "services:\n  api:\n   image: x\n  y: [\n",
                              ".env": env_text(JWT_SECRET=JWT)})
    lab.container(bad, "bad", "api", {"JWT_SECRET": JWT})
    missing = lab.project("gone", {"docker-compose.yml": (
        "services:\n  api:\n    image: x\n    env_file: [secrets.env]\n")})
    lab.container(missing, "gone", "api", {})
    result = await lab.check()
    lines = sorted((p.place, p.message, p.fatal) for p in result.problems)
    assert lines == [
        ("compose:bad", "docker-compose.yml does not parse as YAML (line 5)", True),
        ("compose:gone", "env_file secrets.env of service api does not exist", True)]
    assert all(s.ok for s in result.statuses)
    assert {p for _, p in by(result)} >= {"crm-api-1", "crm-worker-1"}


async def test_explicit_required_names_still_win(tmp_path: Path) -> None:
    directory = tmp_path / "crm"
    secrets = SecretsConfig(env_files=(str(directory / ".env"),),
                            containers=("crm-api-1", "crm-worker-1"),
                            required=("JWT_SECRET", "DATABASE_URL"))
    lab = Lab(tmp_path, secrets=secrets)
    crm(lab)
    up(lab, directory)
    statuses = by(await lab.check())
    # configured as required in the worker: missing, but never "recreate" (its service
    # does not read .env, so recreating would not bring it)
    assert statuses[("DATABASE_URL", "crm-worker-1")].status == "missing"
    assert statuses[("DATABASE_URL", "crm-api-1")].status == "present"


async def test_a_changed_non_secret_and_a_changed_compose_file_are_problem_lines(
        tmp_path: Path) -> None:
    lab = Lab(tmp_path, compose=shutil.which("docker-compose") is not None)
    directory = lab.project("crm", {
        "docker-compose.yml": COMPOSE.replace(
            "          - JWT_SECRET=${JWT_SECRET}",
            "          - JWT_SECRET=${JWT_SECRET}\n          - MODE=fast"),
        ".env": env_text(JWT_SECRET=JWT)})
    lab.container(directory, "crm", "worker", {"JWT_SECRET": JWT, "MODE": "slow"},
                  **{"com.docker.compose.config-hash": "0" * 64})
    result = await lab.check()
    messages = [(p.place, p.message) for p in result.problems]
    assert (container_place("crm-worker-1"),
            "MODE: docker-compose.yml changed since crm-worker-1 was created (a restart "
            "keeps the old value): recreate") in messages
    model = next(iter(lab.service.compose.cached("local").values()))
    if model.services["api"].config_hash is None:
        pytest.skip("no Compose (or no Docker daemon for its hash) here")
    lab.container(directory, "crm", "api", {"JWT_SECRET": JWT},
                  **{"com.docker.compose.config-hash": "0" * 64})
    lab.container(directory, "crm", "api2", {"JWT_SECRET": JWT}, **{
        "com.docker.compose.service": "api",
        "com.docker.compose.config-hash": model.services["api"].config_hash})
    messages = [(p.place, p.message) for p in (await lab.check()).problems]
    assert (container_place("crm-api-1"),
            "crm-api-1: its compose configuration (image, command, ports or other settings) "
            "changed since it was created: recreate") in messages
    assert not [m for place, m in messages if place == container_place("crm-api2-1")]


async def test_check_json_carries_stale_with_its_reason(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    directory = crm(lab)
    up(lab, directory)
    crm(lab, SESSION_SECRET="Qm3nB8vC1xZ6lK4jH9gF2dS7aP0oI5uY")
    result = await lab.check()
    docs = [secret_status_json(s) for s in result.statuses]
    stale = [d for d in docs if d["status"] == "stale"]
    assert stale == [{
        "name": "SESSION_SECRET", "place": "container:crm-api-1", "status": "stale",
        "ok": False, "drift": False,
        "detail": "SESSION_SECRET: .env changed since crm-api-1 was created (a restart keeps "
                  "the old value): recreate",
        "reason": "SESSION_SECRET: .env changed since crm-api-1 was created (a restart keeps "
                  "the old value): recreate"}]
    schema = json.loads((Path(__file__).parents[2] / "console/schema/check-v1.json")
                        .read_text())
    secret_schema = dict(schema["$defs"]["secret"], **{"$defs": schema["$defs"]})
    for doc in docs:
        jsonschema.validate(doc, secret_schema)
    assert set(schema["$defs"]["secret"]["properties"]["status"]["enum"]) == set(STATUSES)
    text = json.dumps(docs) + repr(result)
    for value in (JWT, DB, SESSION, "Qm3nB8vC1xZ6lK4jH9gF2dS7aP0oI5uY"):
        assert value not in text
