"""SecretService and the classifier, against fake hosts and a fake Docker daemon.

The fakes serve env files from a dict and containers/volumes shaped like the low-level
docker API (``api.containers``, ``api.inspect_container``, ``api.volumes``). Every test that
feeds values checks that none of them ends up in what the service keeps or says.
"""

from __future__ import annotations

import hashlib
import secrets as random_secrets
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from console.config import SecretsConfig, ServerConfig
from console.engine.actions import read_secret_places
from console.engine.contracts import Change
from console.engine.host_api import HostUnavailable
from console.engine.secrets import (
    CONFIG_FILES_LABEL,
    Fingerprinter,
    SecretService,
    ServerSecrets,
    classify_value,
    compose_volume_names,
    container_place,
    looks_secret,
    needs_length,
    secret_status_json,
    split_drift,
    weakness,
)
from console.models import ConnState
from tests.support.docker import FakeDaemon, fake_clients
from tests.support.hosts import FakeHost
from tests.support.secrets import STRONG, STRONG2, World, config_of
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(30)

NOW = datetime(2026, 11, 24, 8, 0, 0, tzinfo=UTC)


def status_of(snapshot: dict[str, ServerSecrets], server: str, name: str, place: str):
    for status in snapshot[server].statuses:
        if status.name == name and status.place == place:
            return status
    raise AssertionError(f"no status for {server} {name} {place}: "
                         f"{[(s.name, s.place) for s in snapshot[server].statuses]}")


def everything_said(snapshot: dict[str, ServerSecrets]) -> str:
    """Every string the service exposes: reprs of all results, statuses, problems, volumes."""
    parts = [repr(snapshot)]
    for result in snapshot.values():
        parts += [repr(s) for s in result.statuses]
        parts += [s.detail for s in result.statuses]
        parts += [p.message for p in result.problems]
        parts += [v.detail for v in result.volumes]
        parts.append(result.error)
    return "\n".join(parts)


# =========================================================================== classifier


@pytest.mark.parametrize("value", [
    "changeme", "CHANGEME", "secret", "password", "password123", "Secret1", "dev-jwt-secret",
    "dev-jwt-secret-change-in-production", "your-secret-here", "your_api_key_here",
    "<your-secret>", "${JWT_SECRET}", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "a" * 64, "1234567890", "qwertyuiop", "abcabcabcabcabcabcabcabcabcabcabcabc",
    "django-insecure-0123456789abcdefghijklmnopqrstuvwxyz0123456789",
    "this-is-an-example-secret-value-for-the-docs-only",
    "replace_me_with_a_long_random_string_please_ok", "keyboard cat", "your-256-bit-secret",
    "supersecretkey", "********",
])
def test_known_placeholders_and_defaults_are_weak(value: str) -> None:
    assert weakness("JWT_SECRET", value) is not None


@pytest.mark.parametrize("name", ["JWT_SECRET", "SERVICE_SECRET", "ADMIN_PRIVATE_KEY",
                                  "API_KEY", "GITHUB_TOKEN", "SECRET_KEY", "JWT_SECRET_KEY"])
def test_short_values_are_weak_for_secret_key_token_names(name: str) -> None:
    assert weakness(name, "k5Qe7vJm2TzR9wLx8cNa") == "shorter than 32 characters"
    assert weakness(name, STRONG) is None


def test_length_rule_spares_settings_and_identifiers() -> None:
    for name in ("ACCESS_TOKEN_EXPIRE_MINUTES", "AWS_ACCESS_KEY_ID", "JWT_SECRET_ALGORITHM",
                 "OAUTH_CLIENT_ID", "SSL_KEY_PATH", "GPG_KEY", "STRIPE_PUBLIC_KEY"):
        assert not needs_length(name), name
    assert weakness("ACCESS_TOKEN_EXPIRE_MINUTES", "30") is None
    assert weakness("DATABASE_URL", f"postgres://app:{STRONG}@db.example.com/app") is None


def test_the_incident_003_production_key_is_fine_and_its_fallback_is_weak() -> None:
    real = "-rUfSl9c9aA5O68VilnovBevtNEP7SjXtKKSF7WW4aj1U9y6yhsc2QC9Nnb5dau7WGufvgP1vgiZtrBTPJditw"
    assert weakness("ADMIN_PRIVATE_KEY", real) is None
    assert weakness("ADMIN_PRIVATE_KEY", "dev-jwt-secret-change-in-production") is not None


def test_random_tokens_are_not_weak() -> None:
    for _ in range(200):
        assert weakness("JWT_SECRET", random_secrets.token_urlsafe(48)) is None
        assert weakness("SERVICE_SECRET", random_secrets.token_hex(32)) is None


def test_database_url_with_a_default_password_is_weak() -> None:
    assert weakness("DATABASE_URL", "postgres://app:postgres@db:5432/app") is not None
    assert weakness("DATABASE_URL", "postgres://app:changeme@db/app") is not None
    assert weakness("DATABASE_URL", f"postgres://app:{STRONG}@db/app") is None
    assert weakness("DATABASE_URL", "sqlite:////data/app.db") is None


def test_weakness_reasons_never_contain_the_value() -> None:
    for value in ("changeme", "dev-xyz-123", "aaaa", "t1ny-v4l", "your-key-here", "1234567"):
        reason = weakness("JWT_SECRET", value)
        assert reason and value not in reason


def test_inference_heuristic_picks_secret_names_only() -> None:
    for name in ("JWT_SECRET", "SECRET_KEY", "SERVICE_SECRET", "DATABASE_URL", "API_KEY",
                 "POSTGRES_PASSWORD", "GITHUB_TOKEN", "GOOGLE_OAUTH_CLIENT_ID_STAGING",
                 "GOOGLE_OAUTH_CLIENT_SECRET", "SERVICE_ID", "DB_PASS", "SENTRY_DSN",
                 "ADMIN_PRIVATE_KEY", "REDIS_URL"):
        assert looks_secret(name), name
    for name in ("PATH", "HOME", "NGINX_VERSION", "GPG_KEY", "PYTHON_VERSION", "LANG",
                 "ACCESS_TOKEN_EXPIRE_MINUTES", "LOG_LEVEL", "HOSTNAME", "NGINX_GPGKEYS"):
        assert not looks_secret(name), name


def test_fingerprints_are_keyed_per_run_never_a_plain_hash() -> None:
    one, two = Fingerprinter(), Fingerprinter()
    assert one("JWT_SECRET", STRONG) == one("JWT_SECRET", STRONG)
    assert one("JWT_SECRET", STRONG) != one("JWT_SECRET", STRONG2)
    assert one("JWT_SECRET", STRONG) != two("JWT_SECRET", STRONG)  # a fresh key per run
    plain = {hashlib.sha256(STRONG.encode()).hexdigest(),
             hashlib.sha256(f"JWT_SECRET\0{STRONG}".encode()).hexdigest(),
             hashlib.md5(STRONG.encode()).hexdigest()}
    assert not any(p.startswith(one("JWT_SECRET", STRONG)) for p in plain)
    assert "key" in repr(one) and STRONG not in repr(one)


def test_classify_value_states() -> None:
    fp = Fingerprinter(b"k" * 32)
    assert classify_value("JWT_SECRET", None, fp).state == "bare"
    assert classify_value("JWT_SECRET", "", fp).state == "empty"
    assert classify_value("JWT_SECRET", "   ", fp).state == "empty"
    obs = classify_value("JWT_SECRET", STRONG, fp)
    assert (obs.state, obs.weak, obs.fingerprint) == ("value", None, fp("JWT_SECRET", STRONG))
    assert STRONG not in repr(obs)


def test_compose_volume_names() -> None:
    text = b"""
services:
  db:
    image: postgres
volumes:
  pgdata:
  cache: {}
  shared:
    external: true
  named:
    name: custom_volume_name
"""
    assert compose_volume_names(text, "crm") == [
        "crm_pgdata", "crm_cache", "shared", "custom_volume_name"]
    assert compose_volume_names(b"volumes: [", "crm") == []
    assert compose_volume_names(b"just text", "crm") == []


# =========================================================================== service


async def test_healthy_lab_like_setup_is_all_present_without_drift() -> None:
    world = World()
    service = world.service()
    await service.refresh()
    snap = service.snapshot().servers
    assert snap["alpha"].state == "ok" and snap["bravo"].state == "ok"
    assert snap["alpha"].places == ("/srv/crm/.env", "container:crm-backend-1")
    for result in snap.values():
        assert [s.status for s in result.statuses] == ["present"] * 6, result.statuses
        assert all(s.ok and not s.drift for s in result.statuses)
    assert snap["alpha"].ok and snap["bravo"].ok


async def test_missing_empty_and_weak_secrets() -> None:
    world = World()
    del world.alpha_env["SERVICE_SECRET"]
    world.alpha_env["DATABASE_URL"] = ""
    world.alpha_env["JWT_SECRET"] = "dev-jwt-secret-change-in-production"
    world.bravo_env["JWT_SECRET"] = "dev-jwt-secret-change-in-production"
    world.sync()
    service = world.service()
    await service.refresh()
    snap = service.snapshot().servers
    for place in ("/srv/crm/.env", "container:crm-backend-1"):
        assert status_of(snap, "alpha", "SERVICE_SECRET", place).status == "missing"
        assert status_of(snap, "alpha", "DATABASE_URL", place).status == "empty"
        weak = status_of(snap, "alpha", "JWT_SECRET", place)
        assert (weak.status, weak.ok) == ("weak", False)
        assert weak.detail == "a known placeholder or default value"
    assert not snap["alpha"].ok
    assert "dev-jwt-secret" not in everything_said(snap)


async def test_set_in_file_but_not_in_container_needs_a_recreate() -> None:
    world = World()
    container = dict(world.alpha_env)
    del container["SERVICE_SECRET"]
    world.sync(container_alpha=container)
    service = world.service()
    await service.refresh()
    status = status_of(service.snapshot().servers, "alpha", "SERVICE_SECRET",
                       "container:crm-backend-1")
    assert status.status == "not_in_container"
    assert "recreate" in status.detail and "/srv/crm/.env" in status.detail
    # the file itself is fine
    assert status_of(service.snapshot().servers, "alpha", "SERVICE_SECRET", "/srv/crm/.env").ok


async def test_file_and_container_disagree() -> None:
    world = World(consistent=())
    container = dict(world.alpha_env, SERVICE_SECRET=STRONG[::-1])
    world.sync(container_alpha=container)
    service = world.service()
    await service.refresh()
    snap = service.snapshot().servers
    status = status_of(snap, "alpha", "SERVICE_SECRET", "container:crm-backend-1")
    assert status.status == "differs_from_file" and not status.ok
    assert STRONG[::-1] not in everything_said(snap) and STRONG not in everything_said(snap)


async def test_empty_in_container_while_the_file_has_a_value_is_a_difference() -> None:
    world = World(consistent=())
    world.sync(container_alpha=dict(world.alpha_env, SERVICE_SECRET=""))
    service = world.service()
    await service.refresh()
    status = status_of(service.snapshot().servers, "alpha", "SERVICE_SECRET",
                       "container:crm-backend-1")
    assert status.status == "differs_from_file" and "empty in the container" in status.detail


async def test_jwt_secret_drift_between_servers_names_the_places() -> None:
    world = World()
    world.bravo_env["JWT_SECRET"] = STRONG2 + "x"
    world.sync()
    changes: list[Change] = []
    service = world.service()
    service.subscribe(changes.append)
    await service.refresh()
    snap = service.snapshot().servers
    rows = [s for r in snap.values() for s in r.statuses if s.name == "JWT_SECRET"]
    assert len(rows) == 4 and all(s.drift and not s.ok for s in rows)
    alpha_file = status_of(snap, "alpha", "JWT_SECRET", "/srv/crm/.env")
    summary = ("2 different values where one is required: "
               "A = alpha /srv/crm/.env, alpha crm-backend-1; "
               "B = bravo /srv/crm2/.env, bravo crm2-backend-1")
    assert alpha_file.detail == f"drift: value A here; {summary}"
    assert split_drift(alpha_file.detail) == ("", f"value A here; {summary}")
    bravo_file = status_of(snap, "bravo", "JWT_SECRET", "/srv/crm2/.env")
    assert split_drift(bravo_file.detail) == ("", f"value B here; {summary}")
    assert service.snapshot().drift == {"JWT_SECRET": summary}
    # not-consistent names may differ between servers without drift
    assert not any(s.drift for r in snap.values() for s in r.statuses if s.name != "JWT_SECRET")
    assert {c.server for c in changes} == {"alpha", "bravo"}
    assert {c.service for c in changes} == {"secrets"}
    assert STRONG not in everything_said(snap) and STRONG2 not in everything_said(snap)


async def test_drift_clears_when_values_agree_again() -> None:
    world = World()
    world.bravo_env["JWT_SECRET"] = STRONG2
    world.sync()
    service = world.service()
    await service.refresh()
    assert any(s.drift for s in service.snapshot().statuses)
    world.bravo_env["JWT_SECRET"] = STRONG
    world.sync()
    await service.refresh()
    assert not any(s.drift for s in service.snapshot().statuses)
    assert service.snapshot().drift == {}


async def test_check_json_shape_has_no_value_and_no_fingerprint() -> None:
    world = World()
    service = world.service()
    await service.refresh()
    for status in service.snapshot().statuses:
        doc = secret_status_json(status)
        assert set(doc) == {"name", "place", "status", "ok", "detail", "drift",
                             "reason"}
        assert STRONG not in str(doc)
    assert all(v.as_json()["status"] == "present" for r in service.snapshot().servers.values()
               for v in r.volumes)


async def test_invalid_env_lines_are_reported_by_number_without_their_text() -> None:
    world = World()
    marker = "MARKER" + random_secrets.token_hex(8)
    world.hosts["alpha"].files["/srv/crm/.env"] = (
        f'JWT_SECRET={STRONG}\nSERVICE_SECRET="{marker}\n{marker} junk\nDATABASE_URL=x\n'
    ).encode()
    service = world.service()
    await service.refresh()
    snap = service.snapshot().servers
    messages = [p.message for p in snap["alpha"].problems]
    assert "line 2: unterminated double quote (line skipped)" in messages
    assert "line 3: expected NAME=value (line skipped)" in messages
    assert status_of(snap, "alpha", "SERVICE_SECRET", "/srv/crm/.env").status == "missing"
    assert marker not in everything_said(snap)


async def test_unreadable_and_absent_files_and_containers_are_said_in_words() -> None:
    world = World()
    world.hosts["alpha"].files["/srv/crm/.env"] = PermissionError(13, "Permission denied")
    del world.hosts["bravo"].files["/srv/crm2/.env"]
    world.daemons["bravo"].docs.clear()
    service = world.service()
    await service.refresh()
    snap = service.snapshot().servers
    alpha_problems = {(p.place, p.message, p.fatal) for p in snap["alpha"].problems}
    assert ("/srv/crm/.env", "cannot be read: permission denied", True) in alpha_problems
    assert not [s for s in snap["alpha"].statuses if s.place == "/srv/crm/.env"]
    assert "/srv/crm/.env" in snap["alpha"].places  # the column shows "unreadable"
    bravo = snap["bravo"]
    assert {(p.place, p.message) for p in bravo.problems} >= {
        ("/srv/crm2/.env", "file not found"), ("container:crm2-backend-1", "no such container")}
    missing = status_of(snap, "bravo", "JWT_SECRET", "/srv/crm2/.env")
    assert (missing.status, missing.detail) == ("missing", "the file does not exist")
    assert not snap["alpha"].ok and not bravo.ok


async def test_docker_down_still_checks_the_files() -> None:
    world = World()
    world.daemons["alpha"].broken = ConnectionRefusedError("connection refused")
    service = world.service()
    await service.refresh()
    result = service.snapshot().servers["alpha"]
    assert result.state == "ok"
    assert any(p.place == "docker" and "refused" in p.message for p in result.problems)
    assert status_of(service.snapshot().servers, "alpha", "JWT_SECRET", "/srv/crm/.env").ok


async def test_a_down_server_is_a_state_and_keeps_its_last_results_marked_stale() -> None:
    world = World()
    service = world.service()
    await service.refresh()
    world.hosts["bravo"].set_state(ConnState.LOST, "connection reset")
    await service.refresh()
    snap = service.snapshot().servers
    assert snap["alpha"].state == "ok"
    bravo = snap["bravo"]
    assert bravo.state == "unavailable" and bravo.stale and bravo.statuses
    assert "lost" in bravo.error
    assert not bravo.ok


async def test_live_mode_follows_host_loss_and_recovery() -> None:
    world = World()
    service = SecretService(world.config, world.hosts, clients=fake_clients(world.daemons),
                            interval=60)
    seen: list[Change] = []
    service.subscribe(seen.append)
    await service.start()
    try:
        await wait_until(lambda: all(r.state == "ok" for r in service.snapshot().servers.values()))
        world.hosts["alpha"].set_state(ConnState.LOST, "sshd went away")
        assert service.snapshot().servers["alpha"].state == "unavailable"
        assert "sshd went away" in service.snapshot().servers["alpha"].error
        del world.alpha_env["SERVICE_SECRET"]
        world.sync()
        world.hosts["alpha"].set_state(ConnState.UP)
        await wait_until(lambda: service.snapshot().servers["alpha"].state == "ok")
        assert status_of(service.snapshot().servers, "alpha", "SERVICE_SECRET",
                         "/srv/crm/.env").status == "missing"
        # request_refresh wakes the loop without waiting for the interval
        world.alpha_env["SERVICE_SECRET"] = STRONG2
        world.sync()
        service.request_refresh("alpha")
        await wait_until(lambda: status_of(service.snapshot().servers, "alpha", "SERVICE_SECRET",
                                      "/srv/crm/.env").ok)
        assert Change("secrets", "alpha") in seen
    finally:
        await service.stop()


class FakeContainers:
    """Stands in for the fleet's ContainerService: only ``subscribe`` is used."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[str], None]] = []

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)


async def test_a_container_change_is_rechecked_without_waiting_for_the_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import console.engine.secrets.service as module

    monkeypatch.setattr(module, "CONTAINER_CHANGE_DELAY", 0.05)
    world = World()
    containers = FakeContainers()
    service = SecretService(world.config, world.hosts, clients=fake_clients(world.daemons),
                            containers=containers, interval=600)
    await service.start()
    try:
        await wait_until(lambda: all(r.state == "ok" for r in service.snapshot().servers.values()))
        container = dict(world.alpha_env)
        del container["SERVICE_SECRET"]
        world.sync(container_alpha=container)  # recreated with a different env
        for callback in list(containers.callbacks):
            for _ in range(5):  # a burst of events: one re-check
                callback("alpha")
        await wait_until(lambda: status_of(service.snapshot().servers, "alpha", "SERVICE_SECRET",
                                      "container:crm-backend-1").status == "not_in_container")
    finally:
        await service.stop()
    assert containers.callbacks == []


async def test_the_verification_reader_reads_every_place_fresh_with_the_panes_labels(
        ) -> None:
    """test-login's signature check reads the secret through ``read_secret_places``: the
    env files, then the containers, labelled as the secrets pane labels them."""
    world = World()
    world.sync(container_alpha=dict(world.alpha_env, JWT_SECRET=STRONG2))
    cfg, host = world.config.server("alpha"), world.hosts["alpha"]
    clients = fake_clients(world.daemons)
    places = await read_secret_places(cfg, host, clients, "JWT_SECRET")
    assert places == [("/srv/crm/.env", STRONG), ("container:crm-backend-1", STRONG2)]
    assert [p for p, _ in places] == list(world.service().servers["alpha"].config
                                          .secrets.env_files) + [container_place(
                                              "crm-backend-1")]
    world.daemons["alpha"].docs.clear()
    assert await read_secret_places(cfg, host, clients, "JWT_SECRET") == [
        ("/srv/crm/.env", STRONG), ("container:crm-backend-1", None)]
    assert await read_secret_places(cfg, host, clients, "NOPE") == [
        ("/srv/crm/.env", None), ("container:crm-backend-1", None)]
    world.hosts["alpha"].set_state(ConnState.LOST)
    with pytest.raises(HostUnavailable):
        await read_secret_places(cfg, host, clients, "JWT_SECRET")
    assert STRONG not in repr(world.service())


# =========================================================================== zero-config


async def test_zero_config_infers_names_and_places_from_compose_labels() -> None:
    host = FakeHost("local", files={"/srv/crm/.env": (
        f"JWT_SECRET={STRONG}\nPOSTGRES_PASSWORD=postgres\nLOG_LEVEL=info\n"
        f"ACCESS_TOKEN_EXPIRE_MINUTES=30\nAPI_KEY=\n").encode()})
    daemon = FakeDaemon()
    daemon.add("crm-backend-1", {"JWT_SECRET": STRONG, "POSTGRES_PASSWORD": "postgres",
                                 "LOG_LEVEL": "info", "PATH": "/usr/bin"},
               mounts=["crm_dbdata"])
    daemon.add("crm-nginx-1", {"NGINX_VERSION": "1.22", "PATH": "/usr/bin"})
    daemon.add("lonely", {"REDIS_PASSWORD": STRONG2}, project=None, working_dir=None)
    daemon.volume("crm_dbdata", "crm")
    daemon.volume("crm_unused", "crm")
    config = config_of(ServerConfig(name="local", secrets=SecretsConfig(infer=True)))
    service = SecretService(config, {"local": host}, clients=fake_clients({"local": daemon}))
    await service.refresh()
    result = service.snapshot().servers["local"]
    assert result.inferred
    assert result.names == ("API_KEY", "JWT_SECRET", "POSTGRES_PASSWORD", "REDIS_PASSWORD")
    assert result.places == ("/srv/crm/.env", "container:crm-backend-1", "container:lonely")
    got = {(s.name, s.place): s.status for s in result.statuses}
    assert got == {
        ("API_KEY", "/srv/crm/.env"): "empty",
        ("JWT_SECRET", "/srv/crm/.env"): "present",
        ("JWT_SECRET", "container:crm-backend-1"): "present",
        ("POSTGRES_PASSWORD", "/srv/crm/.env"): "weak",
        ("POSTGRES_PASSWORD", "container:crm-backend-1"): "weak",
        ("REDIS_PASSWORD", "container:lonely"): "present",
    }
    volumes = {(v.name, v.status, v.detail) for v in result.volumes}
    assert volumes == {("crm_dbdata", "present", "used by crm-backend-1"),
                       ("crm_unused", "present", "not used by any container")}


async def test_zero_config_project_without_env_file_is_not_a_problem() -> None:
    host = FakeHost("local")
    daemon = FakeDaemon()
    daemon.add("crm-backend-1", {"JWT_SECRET": STRONG})
    config = config_of(ServerConfig(name="local", secrets=SecretsConfig(infer=True)))
    service = SecretService(config, {"local": host}, clients=fake_clients({"local": daemon}))
    await service.refresh()
    result = service.snapshot().servers["local"]
    assert result.problems == () and result.places == ("container:crm-backend-1",)
    assert host.reads == ["/srv/crm/.env"]


# =========================================================================== volumes


async def test_a_deleted_volume_is_reported_missing() -> None:
    world = World()
    service = world.service()
    await service.refresh()
    assert {(v.name, v.status) for v in service.snapshot().servers["alpha"].volumes} == {
        ("crm_dbdata", "present")}
    # `docker compose down -v` of the backend: container and volume gone
    daemon = world.daemons["alpha"]
    del daemon.docs["id-crm-backend-1"]
    del daemon.volumes["crm_dbdata"]
    await service.refresh()
    (volume,) = service.snapshot().servers["alpha"].volumes
    assert (volume.name, volume.status, volume.ok) == ("crm_dbdata", "missing", False)
    assert "gone now" in volume.detail
    assert not service.snapshot().servers["alpha"].ok


async def test_a_relative_config_files_label_is_read_from_the_working_dir() -> None:
    """docker-compose v1, run in the project's directory, labels ``config_files`` with the
    bare file name: the declared volumes come from ``<working_dir>/<file>``."""
    world = World()
    world.hosts["alpha"].files["/srv/crm/docker-compose.yml"] = (
        b"services: {}\nvolumes:\n  uploads:\n")
    nginx = world.daemons["alpha"].docs["id-crm-nginx-1"]["Config"]["Labels"]
    nginx[CONFIG_FILES_LABEL] = "docker-compose.yml"
    nginx["com.docker.compose.project.working_dir"] = "/srv/crm"
    service = world.service()
    await service.refresh()
    volumes = {v.name: v for v in service.snapshot().servers["alpha"].volumes}
    assert volumes["crm_uploads"].status == "missing"
    assert volumes["crm_uploads"].detail.startswith(
        "declared in /srv/crm/docker-compose.yml")


async def test_volumes_declared_in_the_compose_file_or_mounted_but_absent_are_missing() -> None:
    world = World()
    world.hosts["alpha"].files["/srv/crm/compose.yaml"] = (
        b"services: {}\nvolumes:\n  dbdata:\n  uploads:\n")
    daemon = world.daemons["alpha"]
    nginx = daemon.docs["id-crm-nginx-1"]
    nginx["Config"]["Labels"][CONFIG_FILES_LABEL] = "/srv/crm/compose.yaml"
    nginx["Mounts"].append(
        {"Type": "volume", "Name": "crm_static", "Destination": "/static"})
    nginx["Mounts"].append(
        {"Type": "volume", "Name": "f" * 64, "Destination": "/anon"})
    service = world.service()
    await service.refresh()
    volumes = {v.name: v for v in service.snapshot().servers["alpha"].volumes}
    assert set(volumes) == {"crm_dbdata", "crm_uploads", "crm_static"}
    assert volumes["crm_dbdata"].ok
    assert volumes["crm_uploads"].status == "missing"
    assert volumes["crm_uploads"].detail.startswith("declared in /srv/crm/compose.yaml")
    assert volumes["crm_static"].status == "missing"
    assert "used by crm-nginx-1" in volumes["crm_static"].detail
