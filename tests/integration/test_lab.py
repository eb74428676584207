"""The lab is real: healthy containers, working logins, real SSH, scenarios that do what
they say. Other integration tests trust all of this, so it is checked here first-hand
(Docker API, HTTP, asyncssh), not through the console's own engine.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import uuid

import asyncssh
import httpx
import jwt
import pytest

from tests.lab import control, crm_compose, stack

pytestmark = pytest.mark.lab

CONTAINERS = {"crm-backend-1": ("crm", "backend"), "crm-nginx-1": ("crm", "nginx"),
              "crm2-backend-1": ("crm2", "backend")}


def container_env(lab, name: str) -> dict[str, str]:
    env = lab.docker().containers.get(name).attrs["Config"]["Env"]
    return dict(item.split("=", 1) for item in env)


def login(url: str, password: str = "lab-admin-pass", email: str = "admin@example.com"):
    return httpx.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password},
                      timeout=10)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- baseline


def test_containers_are_healthy_and_compose_labelled(lab):
    client = lab.docker()
    for name, (project, service) in CONTAINERS.items():
        container = client.containers.get(name)
        attrs = container.attrs
        assert attrs["State"]["Status"] == "running", name
        assert attrs["State"]["Health"]["Status"] == "healthy", name
        labels = attrs["Config"]["Labels"]
        assert labels["com.docker.compose.project"] == project
        assert labels["com.docker.compose.service"] == service
        assert labels["com.docker.compose.container-number"] == "1"
        assert labels["com.docker.compose.project.working_dir"] == str(lab.root / project)
        assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"
        assert f"{project}_default" in attrs["NetworkSettings"]["Networks"]
    mounts = {m.get("Name") for m in client.containers.get("crm-backend-1").attrs["Mounts"]}
    assert "crm_dbdata" in mounts
    volume = client.volumes.get("crm2_dbdata")
    assert volume.attrs["Labels"]["com.docker.compose.project"] == "crm2"


def test_generated_config_loads_with_the_console_parser(lab):
    config = lab.load_config()
    alpha, bravo = config.server("alpha"), config.server("bravo")
    assert (alpha.port, bravo.port) == (lab.ports["alpha"], lab.ports["bravo"])
    assert alpha.compose_project == "crm" and bravo.compose_project == "crm2"
    assert bravo.protected and not alpha.protected
    assert alpha.identity_file == str(lab.ssh_key)
    assert alpha.secrets.env_files == (str(lab.env_files["alpha"]),)
    assert alpha.migrate.container == "crm-backend-1"
    assert {h.name for h in alpha.health} == {"backend", "login via nginx"}


def test_login_through_nginx_issues_a_jwt_signed_with_the_env_secret(lab):
    response = login(lab.nginx_url)
    assert response.status_code == 200
    token = response.json()["access_token"]
    claims = jwt.decode(token, lab.env("alpha")["JWT_SECRET"], algorithms=["HS256"])
    assert claims["email"] == lab.login_user
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "x" * 48, algorithms=["HS256"])
    me = httpx.get(f"{lab.nginx_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["email"] == lab.login_user


def test_auth_failures_are_logged_like_the_incidents(lab):
    client = lab.docker()
    since = int(time.time()) - 1
    stranger = f"nobody-{uuid.uuid4().hex[:6]}@example.com"
    assert login(lab.nginx_url, password="wrong").status_code == 401
    assert login(lab.nginx_url, email=stranger).status_code == 401
    secret = lab.env("alpha")["JWT_SECRET"]
    expired = jwt.encode({"sub": "1", "exp": int(time.time()) - 60}, secret, algorithm="HS256")
    forged = jwt.encode({"sub": "1", "exp": int(time.time()) + 60}, "f" * 48, algorithm="HS256")
    for token in (expired, forged):
        response = httpx.get(f"{lab.backend_url}/api/v1/me",
                             headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
    logs = client.containers.get("crm-backend-1").logs(since=since).decode()
    assert "[AUTH] Login failed: invalid password for admin@example.com" in logs
    assert f"[AUTH] Login failed: user not found: {stranger}" in logs
    assert "[AUTH] JWT expired" in logs
    assert "[AUTH] Invalid token signature" in logs
    assert re.search(r'"POST /api/v1/auth/login HTTP/1\.[01]" 401', logs)


def test_health_reports_status_db_and_schema_version(lab):
    for url in (lab.backend_url, lab.backend2_url, lab.nginx_url):
        body = httpx.get(f"{url}/health", timeout=5).json()
        assert body["status"] == "ok" and body["db"] == "connected"
        assert isinstance(body["schema_version"], int)


def test_second_up_is_a_quick_no_op(lab):
    client = lab.docker()
    before = {name: client.containers.get(name).id for name in CONTAINERS}
    pids = {name: lab.sshd_pid(name) for name in lab.ports}
    started = time.monotonic()
    control.up(lab.layout)
    assert time.monotonic() - started < 10
    assert {name: client.containers.get(name).id for name in CONTAINERS} == before
    assert {name: lab.sshd_pid(name) for name in lab.ports} == pids
    assert control.status(lab.layout)["ok"]


# --------------------------------------------------------------------------- ssh


async def test_ssh_to_both_servers_with_the_lab_known_hosts(lab):
    for name, port in lab.ports.items():
        async with asyncssh.connect("127.0.0.1", port=port, username="root",
                                    client_keys=[str(lab.ssh_key)],
                                    known_hosts=str(lab.known_hosts)) as conn:
            result = await conn.run("id -u; test -S /var/run/docker.sock && echo sock",
                                    check=True)
            assert result.stdout.split() == ["0", "sock"], name


async def test_each_server_has_its_own_host_key(lab, tmp_path):
    only_alpha = tmp_path / "known_hosts"
    only_alpha.write_text(next(line for line in lab.known_hosts.read_text().splitlines()
                               if line.startswith(f"[127.0.0.1]:{lab.ports['alpha']}")) + "\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect("127.0.0.1", port=lab.ports["bravo"], username="root",
                               client_keys=[str(lab.ssh_key)], known_hosts=str(only_alpha))


async def test_stop_sshd_drops_open_sessions_and_start_brings_it_back(lab):
    port = lab.ports["bravo"]
    conn = await asyncssh.connect("127.0.0.1", port=port, username="root",
                                  client_keys=[str(lab.ssh_key)],
                                  known_hosts=str(lab.known_hosts))
    try:
        with lab.sshd_stopped("bravo"):
            assert not port_open(port)
            with pytest.raises((asyncssh.Error, OSError)):
                await conn.run("true", check=True, timeout=5)
        assert port_open(port)
    finally:
        conn.close()
    async with asyncssh.connect("127.0.0.1", port=port, username="root",
                                client_keys=[str(lab.ssh_key)],
                                known_hosts=str(lab.known_hosts)) as again:
        assert (await again.run("echo back", check=True)).stdout.strip() == "back"


def test_start_sshd_ignores_a_stale_or_foreign_pid_file(lab):
    pid_file = lab.layout.sshd_pid("bravo")
    dead = subprocess.Popen(["true"])
    dead.wait()
    with lab.sshd_stopped("bravo"):
        pid_file.write_text(f"{dead.pid}\n")  # a process that is gone
    new_pid = lab.sshd_pid("bravo")
    assert new_pid not in (None, dead.pid) and port_open(lab.ports["bravo"])
    with lab.sshd_stopped("bravo"):
        pid_file.write_text(f"{os.getpid()}\n")  # alive, but not an sshd
    assert lab.sshd_pid("bravo") not in (None, os.getpid())
    assert port_open(lab.ports["bravo"])


# --------------------------------------------------------------------------- scenarios


def test_backend_down_gives_502_then_reset_recovers(lab_clean):
    lab = lab_clean
    lab.scenario("backend-down")
    state = lab.docker().containers.get("crm-backend-1").attrs["State"]
    assert state["Status"] == "exited"
    assert httpx.get(f"{lab.nginx_url}/health").status_code == 502
    assert login(lab.nginx_url).status_code == 502
    assert httpx.get(f"{lab.nginx_url}/").status_code == 200  # the page itself still loads
    nginx_logs = lab.docker().containers.get("crm-nginx-1").logs(tail=20).decode()
    assert "could not be resolved" in nginx_logs and '" 502 ' in nginx_logs
    lab.reset()
    assert login(lab.nginx_url).status_code == 200


def test_secret_missing_removes_it_from_file_and_container(lab_clean):
    lab = lab_clean
    lab.scenario("secret-missing")
    assert "SERVICE_SECRET" not in lab.env("alpha")
    assert "SERVICE_SECRET" not in container_env(lab, "crm-backend-1")
    assert "JWT_SECRET" in container_env(lab, "crm-backend-1")
    assert httpx.get(f"{lab.backend_url}/health").json()["status"] == "ok"
    assert "SERVICE_SECRET is not set" in lab.docker().containers.get(
        "crm-backend-1").logs().decode()


def test_jwt_missing_backend_refuses_to_start(lab_clean):
    lab = lab_clean
    result = lab.scenario("jwt-missing")
    container = lab.docker().containers.get("crm-backend-1")
    assert result["exit_code"] == 1 and container.attrs["State"]["ExitCode"] == 1
    assert "RuntimeError: JWT_SECRET not configured" in container.logs().decode()
    assert httpx.get(f"{lab.nginx_url}/health").status_code == 502


def test_jwt_drift_makes_bravo_sign_with_another_secret(lab_clean):
    lab = lab_clean
    assert lab.env("alpha")["JWT_SECRET"] == lab.env("bravo")["JWT_SECRET"]
    lab.scenario("jwt-drift")
    alpha_secret, bravo_secret = lab.env("alpha")["JWT_SECRET"], lab.env("bravo")["JWT_SECRET"]
    assert alpha_secret != bravo_secret
    assert container_env(lab, "crm2-backend-1")["JWT_SECRET"] == bravo_secret
    token = login(lab.backend2_url).json()["access_token"]
    jwt.decode(token, bravo_secret, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, alpha_secret, algorithms=["HS256"])


def test_env_drift_and_weak_secret(lab_clean):
    lab = lab_clean
    lab.scenario("env-drift")
    assert lab.env("alpha")["JWT_SECRET"] != container_env(lab, "crm-backend-1")["JWT_SECRET"]
    lab.reset()
    assert lab.env("alpha")["JWT_SECRET"] == container_env(lab, "crm-backend-1")["JWT_SECRET"]
    lab.scenario("weak-secret")
    assert container_env(lab, "crm-backend-1")["SERVICE_SECRET"] == "changeme"


def test_migration_bumps_schema_and_can_be_made_to_fail(lab_clean):
    lab = lab_clean
    container = lab.docker().containers.get("crm-backend-1")
    before = httpx.get(f"{lab.backend_url}/health").json()["schema_version"]
    code, output = container.exec_run(["python3", "/app/backend.py", "migrate"])
    assert code == 0, output
    assert httpx.get(f"{lab.backend_url}/health").json()["schema_version"] == before + 1
    lab.scenario("migration-fail")
    code, (out, err) = container.exec_run(["python3", "/app/backend.py", "migrate"],
                                          demux=True)
    assert code != 0
    assert b"ERROR: migration" in err and b"[MIGRATE]" in out
    assert httpx.get(f"{lab.backend_url}/health").json()["schema_version"] == before + 1


def test_log_flood_writes_every_numbered_line_to_docker_logs(lab):
    result = lab.scenario("log-flood", lines=3000)
    assert result["done"] and result["lines"] == 3000
    logs = lab.docker().containers.get("crm-backend-1").logs(tail=3100).decode()
    numbers = [int(m.group(1)) for m in re.finditer(
        rf"flood line (\d{{6}})/003000 tag={result['tag']} ", logs)]
    assert numbers == list(range(1, 3001))


def test_status_reports_scenarios_as_not_baseline(lab_clean):
    lab = lab_clean
    assert control.status(lab.layout)["ok"]
    lab.scenario("env-drift")
    report = control.status(lab.layout)
    assert not report["ok"] and not report["env_baseline"]
    assert stack.read_env(lab.layout, "crm") == lab.env("alpha")


# --------------------------------------------------------------------------- compose


def compose_hashes(lab, project: str) -> dict[str, str]:
    """Compose's own config hash per service, as ``docker-compose config --hash=*`` says."""
    output = crm_compose.run(lab.layout, project, "config", "--hash=*")
    return dict(line.split() for line in output.splitlines() if len(line.split()) == 2)


def test_crm_projects_are_brought_up_by_compose_with_its_own_labels(lab):
    client = lab.docker()
    version = crm_compose.run(lab.layout, "crm", "version", "--short").strip()
    for project in ("crm", "crm2"):
        hashes = compose_hashes(lab, project)
        listed = set(crm_compose.run(lab.layout, project, "ps", "-q").split())
        for name, (owner, service) in CONTAINERS.items():
            if owner != project:
                continue
            container = client.containers.get(name)
            labels = container.labels
            assert labels["com.docker.compose.config-hash"] == hashes[service], name
            assert labels["com.docker.compose.version"] == version
            assert labels["com.docker.compose.project.config_files"] in (  # v1, v2
                "docker-compose.yml", str(lab.root / project / "docker-compose.yml"))
            assert container.id in listed
    text = (lab.root / "crm" / "docker-compose.yml").read_text()
    assert "container_name: crm-backend-1" in text and "env_file: .env" in text


def test_warm_up_does_not_run_compose(lab, monkeypatch):
    def no_compose(*args, **kwargs):
        raise AssertionError(f"Compose was run on a warm up: {args[1:]}")

    control.up(lab.layout)  # whatever an earlier test left, converged now
    monkeypatch.setattr(crm_compose, "run", no_compose)
    started = time.monotonic()
    control.up(lab.layout)
    assert time.monotonic() - started < 3


def test_a_changed_spec_recreates_through_compose(lab_clean, monkeypatch):
    lab = lab_clean
    client = lab.docker()
    before = {name: client.containers.get(name).id for name in CONTAINERS}
    monkeypatch.setattr(crm_compose, "app_code_digest", lambda: "edited-app-code")
    lab.reset()
    after = {name: client.containers.get(name) for name in CONTAINERS}
    assert all(after[name].id != before[name] for name in CONTAINERS)
    for project in ("crm", "crm2"):
        hashes = compose_hashes(lab, project)
        for name, (owner, service) in CONTAINERS.items():
            if owner == project:
                assert after[name].labels["com.docker.compose.config-hash"] == hashes[service]
    assert control.status(lab.layout)["ok"]


def test_scenario_recreate_goes_through_compose(lab_clean):
    lab = lab_clean
    before = lab.docker().containers.get("crm-nginx-1").id
    lab.scenario("jwt-drift")
    backend = lab.docker().containers.get("crm2-backend-1")
    assert backend.labels["com.docker.compose.config-hash"] == \
        compose_hashes(lab, "crm2")["backend"]
    lab.scenario("secret-missing")  # --no-deps: only the backend is recreated
    assert lab.docker().containers.get("crm-nginx-1").id == before
    assert lab.docker().containers.get("crm-backend-1").labels[
        "com.docker.compose.config-hash"] == compose_hashes(lab, "crm")["backend"]
