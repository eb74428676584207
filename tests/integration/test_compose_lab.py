"""The Compose issue's acceptance, on real Compose: a project the lab brings up with
docker-compose (``tests/lab/compose_lab.py``), watched over the lab's SSH server alpha.

- the worker that only interpolates shows no false finding;
- editing ``.env`` without recreating says "recreate" for exactly the containers whose
  service reads that key; ``R`` (the actions service's recreate) fixes it, and the finding
  clears by itself;
- two projects with different ``DATABASE_URL`` show no drift in zero-config mode;
- Compose's config hash matches the containers it created, and moves with the compose file;
- no value of the project's ``.env`` in anything said, recreate output or the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets as random_secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from console.config import Config, ConsoleSettings, SecretsConfig, ServerConfig
from console.engine.actions import ActionService
from console.engine.audit import AuditLog
from console.engine.dockerapi import DockerClients
from console.engine.hosts import make_host
from console.engine.secrets import SecretService, ServerSecrets, container_place
from tests.lab import compose_lab

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]


@pytest.fixture
def shop(lab: Any) -> Iterator[dict[str, str]]:
    """The shop project up (fresh .env, new containers) while the test holds the lab lock."""
    from tests.lab.system import locked

    with locked(lab.layout.lock):
        try:
            yield compose_lab.up(lab.layout)
        finally:
            with contextlib.suppress(Exception):
                compose_lab.down(lab.layout)


def alpha_config(lab: Any, audit: Path, *, project: str | None = compose_lab.PROJECT
                 ) -> Config:
    """alpha (SSH to the lab) in zero-config secrets mode, watching one project or all."""
    config = lab.load_config()
    alpha = dataclasses.replace(config.servers[0], compose_project=project,
                                secrets=SecretsConfig(infer=True), protected=False)
    return dataclasses.replace(config, servers=(alpha,),
                               console=ConsoleSettings(audit_log=audit))


@contextlib.asynccontextmanager
async def services(config: Config) -> AsyncIterator[tuple[SecretService, ActionService]]:
    hosts = {server.name: make_host(server) for server in config.servers}
    clients = DockerClients()
    try:
        for host in hosts.values():
            await host.start()
            assert await host.wait_up(30), host.status.describe()
        yield (SecretService(config, hosts, clients=clients),
               ActionService(config, hosts, clients=clients,
                             audit=AuditLog(config.console.audit_log)))
    finally:
        clients.close()
        for host in hosts.values():
            await host.close()


async def round_of(secrets: SecretService) -> ServerSecrets:
    await secrets.refresh()
    return secrets.snapshot().servers["alpha"]


def names(lab: Any) -> tuple[str, str]:
    client = lab.docker()
    try:
        return (compose_lab.container_name(client, "api"),
                compose_lab.container_name(client, "worker"))
    finally:
        client.close()


def stale(result: ServerSecrets) -> list[tuple[str, str]]:
    return sorted((s.name, s.place.removeprefix("container:")) for s in result.statuses
                  if s.status == "stale")


def said(result: ServerSecrets) -> str:
    return repr(result) + "".join(f"{s.detail}{s.fingerprint}" for s in result.statuses)


async def test_the_interpolating_worker_shows_no_false_findings(lab: Any, shop: dict[str, str],
                                                                tmp_path: Path) -> None:
    api, worker = names(lab)
    async with services(alpha_config(lab, tmp_path / "audit.jsonl")) as (secrets, _):
        result = await round_of(secrets)
        models = secrets.compose.cached("alpha")
    assert result.state == "ok" and result.ok, [(s.name, s.place, s.status, s.detail)
                                                for s in result.statuses] + [
        (p.place, p.message) for p in result.problems]
    by_place: dict[str, set[str]] = {}
    for status in result.statuses:
        by_place.setdefault(status.place, set()).add(status.name)
    assert by_place[container_place(worker)] == {"JWT_SECRET"}
    assert by_place[container_place(api)] == {"JWT_SECRET", "DATABASE_URL", "SESSION_SECRET"}
    (model,) = models.values()
    assert model.source.startswith(("docker-compose 1.", "docker compose 2."))
    assert model.source.endswith(" config")
    for value in shop.values():
        assert value not in said(result)


async def test_env_edit_says_recreate_for_exactly_its_readers_and_R_clears_it(
        lab: Any, shop: dict[str, str], tmp_path: Path) -> None:
    api, worker = names(lab)
    audit = tmp_path / "audit.jsonl"
    new_db = f"postgres://shop:{random_secrets.token_urlsafe(18)}@db:5432/shop"
    new_jwt = random_secrets.token_urlsafe(36)
    async with services(alpha_config(lab, audit)) as (secrets, actions):
        assert (await round_of(secrets)).ok
        compose_lab.write_env(lab.layout, dict(shop, DATABASE_URL=new_db))
        result = await round_of(secrets)
        assert stale(result) == [("DATABASE_URL", api)]
        reason = next(s.detail for s in result.statuses if s.status == "stale")
        assert reason == (f"DATABASE_URL: .env changed since {api} was created (a restart "
                          "keeps the old value): recreate")

        compose_lab.write_env(lab.layout, dict(shop, DATABASE_URL=new_db, JWT_SECRET=new_jwt))
        result = await round_of(secrets)
        assert stale(result) == [("DATABASE_URL", api), ("JWT_SECRET", api),
                                 ("JWT_SECRET", worker)]

        lines: list[str] = []
        for container in (api, worker):
            outcome = await actions.recreate("alpha", container,
                                             lambda line: lines.append(line.text))
            assert outcome.ok, (outcome.detail, lines)
        api2, worker2 = await asyncio.to_thread(names, lab)
        result = await round_of(secrets)
        assert result.ok and stale(result) == [], [(s.name, s.place, s.detail)
                                                   for s in result.statuses if not s.ok]
        assert {s.place for s in result.statuses} >= {container_place(api2),
                                                      container_place(worker2)}
    everything = audit.read_text() + "\n".join(lines) + said(result)
    assert '"action": "recreate"' in everything or '"action":"recreate"' in everything
    for value in (*shop.values(), new_db, new_jwt):
        assert value not in everything


async def test_two_projects_with_different_database_urls_show_no_drift(
        lab: Any, shop: dict[str, str], tmp_path: Path) -> None:
    config = alpha_config(lab, tmp_path / "audit.jsonl", project=None)
    async with services(config) as (secrets, _):
        result = await round_of(secrets)
        drift = secrets.snapshot().drift
    assert drift == {} and not any(s.drift for s in result.statuses)
    api, worker = names(lab)
    mine = [s for s in result.statuses
            if s.place in (container_place(api), container_place(worker))]
    assert mine and all(s.ok for s in mine), [(s.name, s.place, s.detail) for s in mine]
    assert not [s for s in result.statuses if s.status in ("differs_from_file", "stale")
                and s.place in (container_place(api), container_place(worker))]


async def test_compose_config_hash_against_the_containers_it_created(
        lab: Any, shop: dict[str, str], tmp_path: Path) -> None:
    _, worker = names(lab)
    async with services(alpha_config(lab, tmp_path / "audit.jsonl")) as (secrets, _):
        result = await round_of(secrets)
        assert not [p for p in result.problems if p.place.startswith("container:")]
        compose_file = compose_lab.directory(lab.layout) / "docker-compose.yml"
        compose_file.write_text(compose_file.read_text().replace(
            'command: ["sleep", "86400"]\n    environment:',
            'command: ["sleep", "86401"]\n    environment:'))
        result = await round_of(secrets)
    lines = [(p.place, p.message) for p in result.problems]
    assert (container_place(worker),
            f"{worker}: its compose configuration (image, command, ports or other settings) "
            "changed since it was created: recreate") in lines


async def test_recreate_is_refused_for_a_container_compose_did_not_create(
        lab: Any, tmp_path: Path) -> None:
    from console.engine.actions import ActionRefused

    server = ServerConfig(name="local")
    config = Config(ConsoleSettings(audit_log=tmp_path / "audit.jsonl"), (server,))
    hosts = {"local": make_host(server)}
    clients = DockerClients()
    client = lab.docker()
    container = client.containers.create("ops-lab-busybox:1", ["true"],
                                         name=f"plain-{random_secrets.token_hex(3)}")
    try:
        actions = ActionService(config, hosts, clients=clients,
                                audit=AuditLog(config.console.audit_log))
        with pytest.raises(ActionRefused) as caught:
            await actions.recreate("local", container.name)
        assert "was not created by Compose" in str(caught.value)
    finally:
        container.remove(force=True)
        client.close()
        clients.close()
