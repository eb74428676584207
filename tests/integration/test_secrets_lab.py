"""SecretService against the real lab, through real SSH: every finding an operator needs.

Each test puts the lab in an incident state (a lab scenario, or an env file written and a
container recreated here), runs one refresh of the service over the lab's two sshd, and
checks the statuses against what the test itself did to the lab. ``lab_clean`` resets the
lab before and after, so no test inherits another's damage.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets as random_secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from console.config import Config, SecretsConfig
from console.engine.actions import read_secret_places
from console.engine.dockerapi import DockerClients
from console.engine.hosts import make_host
from console.engine.secrets import (
    CONFIG_FILES_LABEL,
    PROJECT_LABEL,
    WORKING_DIR_LABEL,
    SecretService,
    ServerSecrets,
)
from console.models import SecretStatus

pytestmark = [pytest.mark.lab, pytest.mark.timeout(240)]

REQUIRED = ("JWT_SECRET", "DATABASE_URL", "SERVICE_SECRET")


@contextlib.asynccontextmanager
async def service_for(config: Config) -> AsyncIterator[SecretService]:
    """A SecretService over real hosts (SSH to the lab) with its own docker clients."""
    hosts = {server.name: make_host(server) for server in config.servers}
    for host in hosts.values():
        await host.start()
    clients = DockerClients()
    service = SecretService(config, hosts, clients=clients)
    try:
        yield service
    finally:
        clients.close()
        for host in hosts.values():
            await host.close()


async def check(config: Config) -> dict[str, ServerSecrets]:
    async with service_for(config) as service:
        await service.refresh()
        return dict(service.snapshot().servers)


def status(snapshot: dict[str, ServerSecrets], server: str, name: str,
           place: str) -> SecretStatus:
    for item in snapshot[server].statuses:
        if item.name == name and item.place == place:
            return item
    raise AssertionError(f"no {name} at {server} {place}: {snapshot[server]}")


@contextlib.asynccontextmanager
async def exclusive(lab: Any, baseline: bool = True) -> AsyncIterator[None]:
    """Hold the lab's lock for the test body.

    The lab is one per machine and other test sessions reset it whenever they like; holding
    the lock from "put the lab in state X" to "checked" means nobody undoes X in between.
    Inside, lab changes go through ``scenario``/``rewrite`` below (the lab's own
    ``lab.scenario`` takes the same lock and would wait for us forever).
    """
    from tests.lab import stack
    from tests.lab.system import locked

    guard = locked(lab.layout.lock)
    await asyncio.to_thread(guard.__enter__)
    try:
        if baseline:
            await asyncio.to_thread(_with_client, lab, lambda c: stack.converge(c, lab.layout))
        yield
    finally:
        guard.__exit__(None, None, None)


def _with_client(lab: Any, action: Any) -> Any:
    client = lab.docker()
    try:
        return action(client)
    finally:
        client.close()


async def scenario(lab: Any, name: str) -> None:
    """A lab scenario, run while we hold the lock (see ``exclusive``)."""
    from tests.lab import scenarios

    await asyncio.to_thread(_with_client, lab,
                            lambda c: scenarios.SCENARIOS[name](c, lab.layout))


def places(lab: Any, server: str) -> tuple[str, str]:
    container = "crm-backend-1" if server == "alpha" else "crm2-backend-1"
    return str(lab.env_files[server]), f"container:{container}"


def rewrite(lab: Any, server: str, changes: dict[str, str | None], recreate: bool) -> None:
    """Edit a project's .env like an operator would; recreate its backend like `up -d`."""
    from tests.lab import stack

    project = lab.projects[server]
    env = stack.read_env(lab.layout, project)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    stack.write_env(lab.layout, project, env)
    if recreate:
        _with_client(lab, lambda c: stack.recreate(c, lab.layout, f"{project}-backend-1"))


def assert_no_value(snapshot: dict[str, ServerSecrets], values: list[str]) -> None:
    said = repr(snapshot)
    for value in values:
        assert value and value not in said


# --------------------------------------------------------------------------- baseline


async def test_baseline_everything_present_no_drift_volumes_present(lab_clean: Any) -> None:
    async with exclusive(lab_clean):
        snapshot = await check(lab_clean.load_config())
        env = lab_clean.env("alpha")
    for server in ("alpha", "bravo"):
        result = snapshot[server]
        assert result.state == "ok", result.error
        assert result.places == places(lab_clean, server)
        got = {(s.name, s.place): s.status for s in result.statuses}
        assert got == {(n, p): "present" for n in REQUIRED for p in places(lab_clean, server)}
        assert not any(s.drift for s in result.statuses)
        volumes = {(v.name, v.status) for v in result.volumes}
        assert (f"{lab_clean.projects[server]}_dbdata", "present") in volumes
        assert result.ok, result
    assert_no_value(snapshot, [env["JWT_SECRET"], env["SERVICE_SECRET"]])


# --------------------------------------------------------------------------- each finding


async def test_missing_secret(lab_clean: Any) -> None:
    async with exclusive(lab_clean):
        await scenario(lab_clean, "secret-missing")
        snapshot = await check(lab_clean.load_config())
    for place in places(lab_clean, "alpha"):
        missing = status(snapshot, "alpha", "SERVICE_SECRET", place)
        assert (missing.status, missing.ok) == ("missing", False)
    assert all(s.ok for s in snapshot["bravo"].statuses)
    assert not snapshot["alpha"].ok


async def test_jwt_missing_backend_refused_to_start(lab_clean: Any) -> None:
    """Incident 003's fallback-secret lockout: the name is gone from file and container."""
    async with exclusive(lab_clean):
        await scenario(lab_clean, "jwt-missing")
        snapshot = await check(lab_clean.load_config())
    for place in places(lab_clean, "alpha"):
        assert status(snapshot, "alpha", "JWT_SECRET", place).status == "missing"


async def test_empty_secret(lab_clean: Any) -> None:
    async with exclusive(lab_clean):
        await asyncio.to_thread(rewrite, lab_clean, "alpha", {"SERVICE_SECRET": ""}, True)
        snapshot = await check(lab_clean.load_config())
    for place in places(lab_clean, "alpha"):
        empty = status(snapshot, "alpha", "SERVICE_SECRET", place)
        assert (empty.status, empty.detail) == ("empty", "set to an empty value")


async def test_default_looking_secret(lab_clean: Any) -> None:
    async with exclusive(lab_clean):
        await scenario(lab_clean, "weak-secret")
        snapshot = await check(lab_clean.load_config())
    for place in places(lab_clean, "alpha"):
        weak = status(snapshot, "alpha", "SERVICE_SECRET", place)
        assert (weak.status, weak.ok) == ("weak", False)
        assert weak.detail == "a known placeholder or default value"
    assert_no_value(snapshot, ["changeme"])


async def test_short_secret_is_weak(lab_clean: Any) -> None:
    short = random_secrets.token_hex(8)  # 16 characters: random, but too short to sign with
    async with exclusive(lab_clean):
        await asyncio.to_thread(rewrite, lab_clean, "bravo", {"SERVICE_SECRET": short}, True)
        snapshot = await check(lab_clean.load_config())
    weak = status(snapshot, "bravo", "SERVICE_SECRET", places(lab_clean, "bravo")[1])
    assert (weak.status, weak.detail) == ("weak", "shorter than 32 characters")
    assert_no_value(snapshot, [short])


async def test_env_file_and_container_disagree(lab_clean: Any) -> None:
    """The .env was edited but the container not recreated: it runs the old value."""
    async with exclusive(lab_clean):
        await scenario(lab_clean, "env-drift")
        snapshot = await check(lab_clean.load_config())
        odd_one = lab_clean.env("alpha")["JWT_SECRET"]
    env_file, container = places(lab_clean, "alpha")
    differs = status(snapshot, "alpha", "JWT_SECRET", container)
    # Compose's own view: the backend's service reads .env, which changed after it was made
    assert differs.status == "stale"
    assert differs.detail.startswith(
        "JWT_SECRET: .env changed since crm-backend-1 was created (a restart keeps the old "
        "value): recreate")
    # JWT_SECRET must be one value everywhere: the alpha file is now the odd one out
    summary = next(iter(s.detail for s in snapshot["alpha"].statuses
                        if s.name == "JWT_SECRET" and s.place == env_file))
    assert status(snapshot, "alpha", "JWT_SECRET", env_file).drift
    assert f"A = alpha {env_file}; B = alpha crm-backend-1, bravo " in summary
    assert_no_value(snapshot, [odd_one])


async def test_set_in_file_but_not_in_running_container(lab_clean: Any) -> None:
    fresh = random_secrets.token_urlsafe(36)
    async with exclusive(lab_clean):
        await scenario(lab_clean, "secret-missing")  # gone from file and container...
        await asyncio.to_thread(rewrite, lab_clean, "alpha", {"SERVICE_SECRET": fresh}, False)
        snapshot = await check(lab_clean.load_config())  # ...now back in the file only
    env_file, container = places(lab_clean, "alpha")
    assert status(snapshot, "alpha", "SERVICE_SECRET", env_file).status == "present"
    restart = status(snapshot, "alpha", "SERVICE_SECRET", container)
    assert restart.status == "stale" and restart.detail == (
        "SERVICE_SECRET: .env changed since crm-backend-1 was created (a restart keeps the "
        "old value): recreate")
    assert_no_value(snapshot, [fresh])


async def test_jwt_secret_differs_between_alpha_and_bravo(lab_clean: Any) -> None:
    async with exclusive(lab_clean):
        await scenario(lab_clean, "jwt-drift")
        snapshot = await check(lab_clean.load_config())
        values = [lab_clean.env("alpha")["JWT_SECRET"], lab_clean.env("bravo")["JWT_SECRET"]]
    jwt = [s for r in snapshot.values() for s in r.statuses if s.name == "JWT_SECRET"]
    assert len(jwt) == 4 and all(s.drift and not s.ok for s in jwt)
    assert all(s.status == "present" for s in jwt)  # each place is fine on its own
    alpha_file, alpha_container = places(lab_clean, "alpha")
    bravo_file, bravo_container = places(lab_clean, "bravo")
    expected = (f"A = alpha {alpha_file}, alpha crm-backend-1; "
                f"B = bravo {bravo_file}, bravo crm2-backend-1")
    assert all(expected in s.detail for s in jwt)
    assert "value B here" in status(snapshot, "bravo", "JWT_SECRET", bravo_container).detail
    assert not any(s.drift for r in snapshot.values() for s in r.statuses
                   if s.name != "JWT_SECRET")
    assert_no_value(snapshot, values)


async def test_the_verification_reader_reads_the_running_values(lab_clean: Any) -> None:
    """test-login's reader (``read_secret_places``) over real SSH: the values the lab set,
    at the places the secrets service reports, with the same labels."""
    config = lab_clean.load_config()
    async with exclusive(lab_clean), service_for(config) as service:
        for server in ("alpha", "bravo"):
            st = service.servers[server]
            assert await st.host.wait_up(30), st.host.status.describe()
            found = await read_secret_places(st.config, st.host, service.clients,
                                             "JWT_SECRET")
            assert {value for _, value in found} == {lab_clean.env(server)["JWT_SECRET"]}
        st = service.servers["alpha"]
        found = await read_secret_places(st.config, st.host, service.clients,
                                         "SERVICE_SECRET")
        assert [place for place, _ in found] == list(places(lab_clean, "alpha"))
        assert {value for _, value in found} == {lab_clean.env("alpha")["SERVICE_SECRET"]}


# --------------------------------------------------------------------------- unreadable


async def test_unreadable_env_file_is_reported_without_content(lab_clean: Any,
                                                                tmp_path: Path) -> None:
    marker = "zq" + random_secrets.token_hex(16)
    broken = tmp_path / "broken.env"
    broken.write_text(f"SERVICE_SECRET='{marker}'junk\n{marker} {marker}\n"
                      f'JWT_SECRET="{marker}\n')
    directory = tmp_path / "a-directory.env"
    directory.mkdir()
    config = lab_clean.load_config()
    alpha = config.servers[0]
    files = (*alpha.secrets.env_files, str(broken), str(directory), str(tmp_path / "nope.env"))
    alpha = dataclasses.replace(alpha, secrets=dataclasses.replace(alpha.secrets,
                                                                   env_files=files))
    async with exclusive(lab_clean):
        snapshot = await check(dataclasses.replace(config, servers=(alpha,
                                                                    *config.servers[1:])))
    problems = {(p.place, p.message) for p in snapshot["alpha"].problems}
    assert {m for p, m in problems if p == str(broken)} == {
        "line 1: unexpected text after the closing quote (line skipped)",
        "line 2: expected NAME=value (line skipped)",
        "line 3: unterminated double quote (line skipped)"}
    assert (str(directory), "cannot be read: it is a directory") in problems
    assert (str(tmp_path / "nope.env"), "file not found") in problems
    assert status(snapshot, "alpha", "JWT_SECRET", str(broken)).status == "missing"
    assert not [s for s in snapshot["alpha"].statuses if s.place == str(directory)]
    assert_no_value(snapshot, [marker])


# --------------------------------------------------------------------------- volumes


def _probe_config(lab: Any, project: str) -> Config:
    """alpha alone, watching a throwaway compose project (others' tests never see it)."""
    config = lab.load_config()
    alpha = dataclasses.replace(config.servers[0], compose_project=project,
                                secrets=SecretsConfig(infer=True))
    return dataclasses.replace(config, servers=(alpha,))


def _probe_container(lab: Any, project: str, volume: str, compose_file: str | None) -> str:
    from tests.lab import BUSYBOX_IMAGE

    client = lab.docker()
    try:
        labels = {PROJECT_LABEL: project, WORKING_DIR_LABEL: f"/nonexistent/{project}",
                  "com.docker.compose.service": "probe"}
        if compose_file:
            labels[CONFIG_FILES_LABEL] = compose_file
        client.volumes.create(volume, labels={PROJECT_LABEL: project})
        container = client.containers.create(
            BUSYBOX_IMAGE, ["true"], name=f"{project}-probe-1", labels=labels,
            volumes={volume: {"bind": "/data", "mode": "rw"}})
        return container.id
    finally:
        client.close()


def _remove_probe(lab: Any, project: str, volume: str) -> None:
    import docker

    client = lab.docker()
    try:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(f"{project}-probe-1").remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(volume).remove(force=True)
    finally:
        client.close()


async def test_deleted_volume_is_missing(lab: Any) -> None:
    """Incident 003: `docker volume rm` of the DB volume during a deploy."""
    project = "s5probe" + random_secrets.token_hex(3)
    volume = f"{project}_dbdata"
    await asyncio.to_thread(_probe_container, lab, project, volume, None)
    try:
        async with service_for(_probe_config(lab, project)) as service:
            await service.refresh()
            (present,) = service.snapshot().servers["alpha"].volumes
            assert (present.name, present.status, present.used_by) == (
                volume, "present", (f"{project}-probe-1",))
            await asyncio.to_thread(_remove_probe, lab, project, volume)
            await service.refresh()
            (gone,) = service.snapshot().servers["alpha"].volumes
            assert (gone.name, gone.status, gone.ok) == (volume, "missing", False)
            assert "gone now" in gone.detail
    finally:
        await asyncio.to_thread(_remove_probe, lab, project, volume)


async def test_volume_declared_in_compose_file_but_absent_is_missing(lab: Any,
                                                                      tmp_path: Path) -> None:
    project = "s5probe" + random_secrets.token_hex(3)
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  probe:\n    image: x\nvolumes:\n  dbdata: {}\n"
                       "  uploads:\n")
    await asyncio.to_thread(_probe_container, lab, project, f"{project}_dbdata",
                            str(compose))
    try:
        snapshot = await check(_probe_config(lab, project))
        volumes = {v.name: v for v in snapshot["alpha"].volumes}
        assert volumes[f"{project}_dbdata"].status == "present"
        uploads = volumes[f"{project}_uploads"]
        assert (uploads.status, uploads.ok) == ("missing", False)
        assert uploads.detail == f"declared in {compose} but absent from docker volume ls"
    finally:
        await asyncio.to_thread(_remove_probe, lab, project, f"{project}_dbdata")


# --------------------------------------------------------------------------- zero-config


async def test_zero_config_infers_names_from_the_project_env_and_containers(lab: Any) -> None:
    config = lab.load_config()
    alpha = dataclasses.replace(config.servers[0], secrets=SecretsConfig(infer=True))
    async with exclusive(lab):
        snapshot = await check(dataclasses.replace(config, servers=(alpha,)))
    result = snapshot["alpha"]
    assert result.inferred and result.state == "ok"
    assert set(result.names) == set(REQUIRED)  # APP_ENV, PORT, JWT_TTL... are not secrets
    env_file, container = places(lab, "alpha")
    assert result.places == (env_file, container)  # nginx has none of them: no column
    assert all(s.status == "present" for s in result.statuses)
    assert {v.name for v in result.volumes} == {"crm_dbdata"}
