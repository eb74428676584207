"""Scenarios: each puts the lab into the state one incident describes, and says so.

Every scenario returns once the state is real (the backend is stopped *and* nginx answers
502; the recreated container is healthy or has exited), so a test can assert at once.
``reset`` (in control.py) undoes any of them. Scenarios do not stack cleverly: run ``reset``
between two unless you mean to combine them.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

from tests.lab import stack
from tests.lab.layout import BACKEND2_PORT, BACKEND_PORT, NGINX_PORT, SPEC_LABEL, Layout
from tests.lab.system import LabError

Result = dict[str, Any]
FAIL_FLAG = "/data/MIGRATION_FAIL"


def http_status(url: str, method: str = "GET", timeout: float = 5.0) -> int | None:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_status(url: str, want: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = http_status(url, timeout=3.0)
        if got == want:
            return
        time.sleep(0.2)
    raise LabError(f"{url} answered {got}, expected {want} within {timeout:.0f}s")


def _edit_env(layout: Layout, project: str, change: Callable[[dict[str, str]], None]) -> None:
    env = stack.read_env(layout, project)
    change(env)
    stack.write_env(layout, project, env)


def backend_down(client: docker.DockerClient, layout: Layout, **_: Any) -> Result:
    """crm-backend-1 stopped (restart policy "no" keeps it down); nginx answers 502."""
    container = stack.get_container(client, "crm-backend-1")
    if container is not None and container.status == "running":
        container.stop(timeout=5)
    wait_status(f"http://127.0.0.1:{NGINX_PORT}/health", 502)
    return {"stopped": ["crm-backend-1"], "nginx": 502}


def secret_missing(client: docker.DockerClient, layout: Layout, **_: Any) -> Result:
    """SERVICE_SECRET gone from crm's .env and from crm-backend-1's env (it still starts)."""
    _edit_env(layout, "crm", lambda env: env.pop("SERVICE_SECRET", None))
    stack.recreate(client, layout, "crm-backend-1")
    stack.wait_healthy(client, ["crm-backend-1"])
    return {"removed": "SERVICE_SECRET", "env_file": str(layout.env_file("crm")),
            "container": "crm-backend-1"}


def jwt_missing(client: docker.DockerClient, layout: Layout, **_: Any) -> Result:
    """JWT_SECRET gone: the backend refuses to start (RuntimeError, exit 1); nginx 502."""
    _edit_env(layout, "crm", lambda env: env.pop("JWT_SECRET", None))
    stack.recreate(client, layout, "crm-backend-1")
    code = stack.wait_exited(client, "crm-backend-1")
    wait_status(f"http://127.0.0.1:{NGINX_PORT}/health", 502)
    return {"removed": "JWT_SECRET", "container": "crm-backend-1", "exit_code": code}


def jwt_drift(client: docker.DockerClient, layout: Layout, **_: Any) -> Result:
    """crm2's JWT_SECRET differs from crm's, in its .env and its container (both healthy)."""
    _edit_env(layout, "crm2", lambda env: env.update(JWT_SECRET=secrets.token_urlsafe(36)))
    stack.recreate(client, layout, "crm2-backend-1")
    stack.wait_healthy(client, ["crm2-backend-1"])
    return {"changed": "JWT_SECRET", "env_file": str(layout.env_file("crm2")),
            "container": "crm2-backend-1"}


def env_drift(client: docker.DockerClient, layout: Layout, **_: Any) -> Result:
    """crm's .env JWT_SECRET edited but the container not recreated: file and env differ."""
    _edit_env(layout, "crm", lambda env: env.update(JWT_SECRET=secrets.token_urlsafe(36)))
    return {"changed": "JWT_SECRET", "env_file": str(layout.env_file("crm")),
            "container_unchanged": "crm-backend-1"}


def weak_secret(client: docker.DockerClient, layout: Layout, **_: Any) -> Result:
    """crm's SERVICE_SECRET set to a default-looking value ("changeme"), container recreated."""
    _edit_env(layout, "crm", lambda env: env.update(SERVICE_SECRET="changeme"))
    stack.recreate(client, layout, "crm-backend-1")
    stack.wait_healthy(client, ["crm-backend-1"])
    return {"weakened": "SERVICE_SECRET", "container": "crm-backend-1"}


def migration_fail(client: docker.DockerClient, layout: Layout, server: str = "alpha",
                   **_: Any) -> Result:
    """The next `backend.py migrate` in that server's backend fails (flag file in /data)."""
    name = "crm-backend-1" if server == "alpha" else "crm2-backend-1"
    code, output = stack.exec_in(client, name, ["touch", FAIL_FLAG])
    if code != 0:
        raise LabError(f"could not set the migration flag in {name}: {output.strip()}")
    return {"container": name, "flag": FAIL_FLAG}


def log_flood(client: docker.DockerClient, layout: Layout, lines: int = 5000,
              rate: float = 0.0, tag: str | None = None, server: str = "alpha",
              wait: bool = True, **_: Any) -> Result:
    """The backend prints ``lines`` numbered lines on its stdout (seen by `docker logs`).

    Lines read ``flood line 000001/005000 tag=TAG [AUTH] Login failed: ...``; the tag (random
    unless given) tells this flood's lines from an earlier one's.
    """
    port = BACKEND_PORT if server == "alpha" else BACKEND2_PORT
    tag = tag or secrets.token_hex(4)
    url = (f"http://127.0.0.1:{port}/debug/flood?n={int(lines)}&rate={float(rate)}"
           f"&tag={tag}&wait={1 if wait else 0}")
    request = urllib.request.Request(url, method="POST", data=b"")
    timeout = 30.0 + (lines / rate if rate else lines / 2000)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read())
    except OSError as exc:
        raise LabError(f"flood request to {url} failed: {exc}") from exc
    container = "crm-backend-1" if server == "alpha" else "crm2-backend-1"
    return {"container": container, "lines": body["lines"], "tag": tag, "done": body["done"]}


def jwt_crash_loop(client: docker.DockerClient, layout: Layout, **_: Any) -> Result:
    """JWT_SECRET gone and crm-backend-1 recreated under a restart policy: a crash loop.

    What incident 002's deploy left: the service restarts itself, prints
    ``RuntimeError: JWT_SECRET not configured`` each time, and never serves; nginx answers
    502. Returns once Docker has restarted it at least twice.
    """
    _edit_env(layout, "crm", lambda env: env.pop("JWT_SECRET", None))
    stack.recreate(client, layout, "crm-backend-1")
    stack.wait_exited(client, "crm-backend-1")
    container = stack.get_container(client, "crm-backend-1")
    assert container is not None
    container.update(restart_policy={"Name": "always"})
    container.start()
    deadline = time.monotonic() + 30
    count = 0
    while time.monotonic() < deadline:
        container.reload()
        count = int(container.attrs.get("RestartCount") or 0)
        if count >= 2:
            break
        time.sleep(0.2)
    else:
        raise LabError(f"crm-backend-1 restarted only {count} times within 30s")
    wait_status(f"http://127.0.0.1:{NGINX_PORT}/health", 502)
    return {"removed": "JWT_SECRET", "container": "crm-backend-1", "restart_policy": "always",
            "restarts": count}


def lockout(client: docker.DockerClient, layout: Layout, **_: Any) -> Result:
    """Incident 003: a new JWT_SECRET in crm's .env that crm-backend-1 does not run with,
    and the database volume crm_dbdata deleted.

    The deploy of the incident removed the volume (``docker volume rm``) and brought the
    backend back on its old configuration: here crm-backend-1 is created again exactly as
    it was (its environment with the old secret, its labels, ports and network) but without
    the volume, which Docker will not delete while a container mounts it. The compose file
    still declares it.
    """
    old = stack.get_container(client, "crm-backend-1")
    if old is None:
        raise LabError("crm-backend-1 is not there")
    volume = "crm_dbdata"
    attrs = old.attrs
    _edit_env(layout, "crm", lambda env: env.update(JWT_SECRET=secrets.token_urlsafe(36)))
    old.remove(force=True)
    with contextlib.suppress(docker.errors.NotFound):
        client.volumes.get(volume).remove()
    _clone_without_volume(client, attrs, volume).start()
    stack.wait_healthy(client, ["crm-backend-1"])
    return {"changed": "JWT_SECRET", "env_file": str(layout.env_file("crm")),
            "container_unchanged_env": "crm-backend-1", "volume_removed": volume}


def _clone_without_volume(client: docker.DockerClient, attrs: dict[str, Any], volume: str):
    """A container like the inspected one (``attrs``) with ``volume`` left unmounted.

    Copied from what Docker reports, not from how it was created, so it holds for a
    container the lab made and for one Compose made alike.
    """
    config, host = attrs["Config"], attrs["HostConfig"]
    api = client.api
    binds = [b for b in host.get("Binds") or [] if not b.startswith(f"{volume}:")]
    mounts = [m for m in host.get("Mounts") or [] if m.get("Source") != volume]
    ports = {key: (b[0].get("HostIp") or "", int(b[0]["HostPort"]))
             for key, b in (host.get("PortBindings") or {}).items() if b}
    host_config = api.create_host_config(
        port_bindings=ports, binds=binds, restart_policy=host.get("RestartPolicy"),
        log_config=host.get("LogConfig"), init=host.get("Init"))
    if mounts:
        host_config["Mounts"] = mounts
    networks = attrs["NetworkSettings"]["Networks"]
    net_name, net = next(iter(networks.items()))
    aliases = [a for a in net.get("Aliases") or [] if len(a) != 12]  # not the old short id
    networking = api.create_networking_config(
        {net_name: api.create_endpoint_config(aliases=aliases)})
    # Not what its configuration says any more: reset (or Compose) must recreate it.
    labels = dict(config.get("Labels") or {})
    for key in (SPEC_LABEL, "com.docker.compose.config-hash"):
        if key in labels:
            labels[key] = "lockout-without-" + volume
    created = api.create_container(
        config["Image"], command=config.get("Cmd"), name=attrs["Name"].lstrip("/"),
        environment=config.get("Env"), labels=labels,
        ports=[int(key.split("/")[0]) for key in config.get("ExposedPorts") or {}],
        host_config=host_config, networking_config=networking,
        healthcheck=config.get("Healthcheck"), working_dir=config.get("WorkingDir"),
        stop_signal=config.get("StopSignal"), entrypoint=config.get("Entrypoint"))
    return client.containers.get(created["Id"])


AUTH_URL_BAD = "http://127.0.0.1:8100/internal/auth"
AUTH_URL_GOOD = "http://127.0.0.1:8000/internal/auth"


def auth_refused(client: docker.DockerClient, layout: Layout, **_: Any) -> Result:
    """Incident 004: crm-backend-1 delegates logins to an auth service at an address where
    nothing listens (``AUTH_SERVICE_URL`` in crm's .env): every login answers 500, /health
    503 ``{"auth": "unreachable"}``. ``AUTH_URL_GOOD`` (the backend's own auth endpoint) is
    the address that works."""
    _edit_env(layout, "crm", lambda env: env.update(AUTH_SERVICE_URL=AUTH_URL_BAD))
    stack.recreate(client, layout, "crm-backend-1")
    wait_status(f"http://127.0.0.1:{BACKEND_PORT}/health", 503, timeout=30)
    login = http_status(f"http://127.0.0.1:{NGINX_PORT}/api/v1/auth/login", method="POST")
    return {"set": {"AUTH_SERVICE_URL": AUTH_URL_BAD}, "container": "crm-backend-1",
            "login_via_nginx": login}


SCENARIOS: dict[str, Callable[..., Result]] = {
    "backend-down": backend_down,
    "secret-missing": secret_missing,
    "jwt-missing": jwt_missing,
    "jwt-drift": jwt_drift,
    "env-drift": env_drift,
    "weak-secret": weak_secret,
    "migration-fail": migration_fail,
    "log-flood": log_flood,
    "jwt-crash-loop": jwt_crash_loop,
    "lockout": lockout,
    "auth-refused": auth_refused,
}
