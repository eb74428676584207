"""Stale containers: a running environment against what its service would get now."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from console.engine.compose import ComposeProjects, ProjectModel, stale_findings
from console.engine.secrets import Fingerprinter, Observation, classify_value
from tests.support.compose import KEY, WrappedHost, labels_for, parsed, write_project

FILES = {
    "docker-compose.yml": """
        services:
          api:
            image: busybox
            env_file: .env
          worker:
            image: busybox
            environment:
              - JWT_SECRET=${JWT_SECRET}
              - MODE=worker
    """,
    ".env": """
        JWT_SECRET=old-jwt-secret-0123456789abcdef0123
        DATABASE_URL=postgres://crm:Zq8v3nW1xR7t@db:5432/crm
    """,
}
OLD = {"JWT_SECRET": "old-jwt-secret-0123456789abcdef0123",
       "DATABASE_URL": "postgres://crm:Zq8v3nW1xR7t@db:5432/crm", "MODE": "worker"}


def observe(fp: Fingerprinter, env: dict[str, str], names: set[str]
            ) -> dict[str, Observation]:
    """What the secret service keeps of a container's Config.Env (the values dropped)."""
    return {n: classify_value(n, env[n], fp) for n in names if n in env}


async def setup(tmp_path: Path) -> tuple[Fingerprinter, ComposeProjects, WrappedHost, Path]:
    directory = write_project(tmp_path, "crm", FILES)
    return Fingerprinter(KEY), ComposeProjects(Fingerprinter(KEY)), \
        WrappedHost(compose=False), directory


async def model_of(projects: ComposeProjects, host: WrappedHost, directory: Path
                   ) -> ProjectModel:
    model = await projects.project(host, parsed(labels_for(directory, "crm", "api")))
    assert model is not None
    return model


async def test_a_fresh_project_has_no_stale_container(tmp_path: Path) -> None:
    fp, projects, host, directory = await setup(tmp_path)
    model = await model_of(projects, host, directory)
    api = parsed(labels_for(directory, "crm", "api"))
    worker = parsed(labels_for(directory, "crm", "worker"))
    assert stale_findings(model, api, "crm-api-1",
                          observe(fp, OLD, {"JWT_SECRET", "DATABASE_URL"})) == []
    # the worker never had DATABASE_URL and never needed it
    assert stale_findings(model, worker, "crm-worker-1",
                          observe(fp, OLD, {"JWT_SECRET", "MODE"})) == []


async def test_editing_env_flags_exactly_the_services_that_read_that_key(tmp_path: Path
                                                                         ) -> None:
    fp, projects, host, directory = await setup(tmp_path)
    await model_of(projects, host, directory)
    (directory / ".env").write_text(
        "JWT_SECRET=old-jwt-secret-0123456789abcdef0123\n"
        "DATABASE_URL=postgres://crm:NEWpassword99@db:5432/crm\n")
    model = await model_of(projects, host, directory)
    api = parsed(labels_for(directory, "crm", "api"))
    worker = parsed(labels_for(directory, "crm", "worker"))
    found = stale_findings(model, api, "crm-api-1",
                           observe(fp, OLD, {"JWT_SECRET", "DATABASE_URL"}))
    assert [f.reason for f in found] == [
        "DATABASE_URL: .env changed since crm-api-1 was created (a restart keeps the old "
        "value): recreate"]
    assert found[0].kind == "env" and found[0].name == "DATABASE_URL"
    assert stale_findings(model, worker, "crm-worker-1",
                          observe(fp, OLD, {"JWT_SECRET", "MODE"})) == []

    (directory / ".env").write_text("JWT_SECRET=new-jwt-secret-0123456789abcdef0123\n"
                                    "DATABASE_URL=postgres://crm:Zq8v3nW1xR7t@db:5432/crm\n")
    model = await model_of(projects, host, directory)
    for labels, name, names in ((api, "crm-api-1", {"JWT_SECRET", "DATABASE_URL"}),
                                (worker, "crm-worker-1", {"JWT_SECRET", "MODE"})):
        reasons = [f.reason for f in stale_findings(model, labels, name,
                                                    observe(fp, OLD, names))]
        assert reasons == [f"JWT_SECRET: .env changed since {name} was created (a restart "
                           "keeps the old value): recreate"]


async def test_a_new_name_in_the_env_file_is_missing_from_the_running_container(
        tmp_path: Path) -> None:
    fp, projects, host, directory = await setup(tmp_path)
    (directory / ".env").write_text((directory / ".env").read_text() +
                                    "SESSION_SECRET=Xk2p9Lm4Qw8r1Tz6Yb3n7Vc5Hd0Gf2Js\n")
    model = await model_of(projects, host, directory)
    api = parsed(labels_for(directory, "crm", "api"))
    found = stale_findings(model, api, "crm-api-1",
                           observe(fp, OLD, {"JWT_SECRET", "DATABASE_URL"}))
    assert [f.name for f in found] == ["SESSION_SECRET"]


async def test_a_literal_in_the_compose_file_blames_the_compose_file(tmp_path: Path) -> None:
    fp, projects, host, directory = await setup(tmp_path)
    model = await model_of(projects, host, directory)
    worker = parsed(labels_for(directory, "crm", "worker"))
    env = dict(OLD, MODE="old-mode")
    assert [f.reason for f in stale_findings(model, worker, "crm-worker-1",
                                             observe(fp, env, {"JWT_SECRET", "MODE"}))] == [
        "MODE: docker-compose.yml changed since crm-worker-1 was created (a restart keeps "
        "the old value): recreate"]


async def test_unresolved_values_and_one_off_containers_are_not_judged(tmp_path: Path) -> None:
    fp, projects, host, directory = await setup(tmp_path)
    model = await model_of(projects, host, directory)
    api = parsed(labels_for(directory, "crm", "api"))
    changed = observe(fp, dict(OLD, JWT_SECRET="something-else-entirely-0123456789"),
                      {"JWT_SECRET", "DATABASE_URL"})
    shaky = dict(changed, JWT_SECRET=replace(changed["JWT_SECRET"], unresolved=True))
    assert stale_findings(model, api, "crm-api-1", shaky) == []
    oneoff = parsed(labels_for(directory, "crm", "api",
                               **{"com.docker.compose.oneoff": "True"}))
    assert stale_findings(model, oneoff, "crm-api-run-1", changed) == []
    gone = parsed(labels_for(directory, "crm", "removed-service"))
    assert stale_findings(model, gone, "crm-removed-1", changed) == []


async def test_a_changed_config_hash_with_the_same_environment(tmp_path: Path) -> None:
    fp, projects, host, directory = await setup(tmp_path)
    model = await model_of(projects, host, directory)
    api_env = model.services["api"]
    hashed = replace(model, services={**model.services,
                                      "api": replace(api_env, config_hash="new-hash")})
    old = parsed(labels_for(directory, "crm", "api",
                            **{"com.docker.compose.config-hash": "old-hash"}))
    same = parsed(labels_for(directory, "crm", "api",
                             **{"com.docker.compose.config-hash": "new-hash"}))
    env = observe(fp, OLD, {"JWT_SECRET", "DATABASE_URL"})
    found = stale_findings(hashed, old, "crm-api-1", env)
    assert [(f.kind, f.reason) for f in found] == [(
        "config", "crm-api-1: its compose configuration (image, command, ports or other "
        "settings) changed since it was created: recreate")]
    assert stale_findings(hashed, same, "crm-api-1", env) == []
    # an environment difference is the finding; the hash moving with it says nothing more
    changed = observe(fp, dict(OLD, JWT_SECRET="x" * 40), {"JWT_SECRET", "DATABASE_URL"})
    assert [f.kind for f in stale_findings(hashed, old, "crm-api-1", changed)] == ["env"]
