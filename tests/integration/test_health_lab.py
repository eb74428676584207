"""Health probes against the real lab: every failure class, through a real SSH tunnel.

The lab's sshd listen on loopback, so "from the server" (alpha, through its SSH connection
and a direct-tcpip channel) reaches both the lab's containers and the small local servers
these tests start (a server that never answers, self-signed and soon-expiring HTTPS). Each
class is asserted from the server (the path that needs the tunnel) and, where it adds
something, from the console too.

Classification is checked against what the lab really does: nginx's own 502 page when the
backend container is stopped, sshd's channel-open failure for a refused port or an
unresolvable name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import Any

import pytest

from console.config import HealthCheck, ServerConfig
from console.engine.health import HealthService
from console.engine.hosts import make_host
from console.models import HealthResult
from tests.support.http import (
    CertFactory,
    free_port,
    http_response,
    never,
    serve,
)

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]

HEALTHY = {"status": "ok", "db": "connected"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("lab-certs"))


@contextlib.asynccontextmanager
async def lab_service(lab: Any, checks: Sequence[HealthCheck], *, server: str = "alpha",
                      ssl_context: ssl.SSLContext | None = None,
                      **changes: Any) -> AsyncIterator[HealthService]:
    """A HealthService over one real lab server (real SSHHost), with these checks only."""
    config = lab.load_config()
    server_config: ServerConfig = replace(config.server(server), health=tuple(checks),
                                          **changes)
    host = make_host(server_config)
    await host.start()
    try:
        assert await host.wait_up(20), host.status.detail
        svc = HealthService(replace(config, servers=(server_config,)), {server: host},
                            ssl_context=ssl_context)
        try:
            yield svc
        finally:
            await svc.stop()
    finally:
        await host.close()


def hc(name: str, url: str, *, from_: str = "server", **kwargs: Any) -> HealthCheck:
    kwargs.setdefault("timeout", 10.0)  # generous: the lab is shared by parallel test runs
    return HealthCheck(name=name, url=url, from_=from_, **kwargs)


async def refreshed(svc: HealthService) -> list[HealthResult]:
    """One ``refresh()`` round, then every endpoint's result from the read model."""
    await svc.refresh()
    return list(svc.snapshot().results)


def by_name(results: Sequence[HealthResult]) -> dict[str, HealthResult]:
    return {r.name: r for r in results}


async def until_all_ok(svc: HealthService, timeout: float) -> dict[str, HealthResult]:
    """Probe rounds until every endpoint is ok again (the lab restarting its containers, or
    another test bouncing sshd, takes a few seconds); returns the last round."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        results = by_name(await refreshed(svc))
        if all(r.ok for r in results.values()) or loop.time() > deadline:
            return results
        await asyncio.sleep(0.5)


async def test_ok_from_the_server_through_ssh_and_from_the_console(lab: Any) -> None:
    checks = [hc("tunnel", f"{lab.backend_url}/health", expect_json=HEALTHY),
              hc("console", f"{lab.nginx_url}/health", from_="console", expect_json=HEALTHY)]
    async with lab_service(lab, checks) as svc:
        results = by_name(await refreshed(svc))
        again = by_name(await refreshed(svc))  # second round reuses the tunnel's connection
    for name in ("tunnel", "console"):
        assert (results[name].ok, results[name].klass, results[name].status) == \
            (True, "ok", 200), results[name].reason
        assert again[name].klass == "ok"
    assert b'"schema_version"' in results["tunnel"].body_preview


async def test_body_mismatch_names_the_key(lab: Any) -> None:
    checks = [hc("backend", f"{lab.backend_url}/health",
                 expect_json={"status": "ok", "schema_version": 999})]
    async with lab_service(lab, checks) as svc:
        [result] = await refreshed(svc)
    assert result.klass == "body_mismatch" and result.status == 200
    assert "'schema_version'" in result.reason and "expected 999" in result.reason


async def test_the_backends_own_503_through_nginx_is_the_apps_answer(lab_clean: Any) -> None:
    """The backend answers 503 "degraded" itself (its database file is gone) and nginx only
    passes that on, with its own Server header: the app's 5xx, not "no backend available"."""
    from tests.lab import stack

    lab = lab_clean
    checks = [hc("via nginx", f"{lab.nginx_url}/health", expect_json=HEALTHY)]
    backend = stack.docker_client().containers.get("crm-backend-1")
    async with lab_service(lab, checks) as svc:
        await asyncio.to_thread(backend.exec_run, ["mv", "/data/crm.db", "/data/crm.db.held"])
        try:
            [result] = await refreshed(svc)
        finally:
            await asyncio.to_thread(backend.exec_run,
                                    ["mv", "-f", "/data/crm.db.held", "/data/crm.db"])
            lab.reset()
    assert (result.klass, result.status) == ("app_5xx", 503), result.reason
    assert result.reason == ("the app answered 503 Service Unavailable through nginx: "
                             "degraded (db: disconnected)")
    assert any(k.lower() == "server" and v.startswith("nginx") for k, v in result.headers)


async def test_backend_stopped_behind_nginx_is_proxy_up_backend_down(lab_clean: Any) -> None:
    lab = lab_clean
    checks = [hc("via nginx (server)", f"{lab.nginx_url}/health", expect_json=HEALTHY),
              hc("via nginx (console)", f"{lab.nginx_url}/health", from_="console",
                 expect_json=HEALTHY),
              hc("backend direct", f"{lab.backend_url}/health")]
    async with lab_service(lab, checks) as svc:
        lab.scenario("backend-down")
        try:
            results = by_name(await refreshed(svc))
        finally:
            lab.reset()
        healed = await until_all_ok(svc, timeout=20.0)
    for name in ("via nginx (server)", "via nginx (console)"):
        result = results[name]
        assert (result.klass, result.status) == ("proxy_bad_gateway", 502), result.reason
        assert result.reason == "nginx answered 502: proxy up, backend down"
        assert any(k.lower() == "server" and v.startswith("nginx") for k, v in result.headers)
        assert b"502 Bad Gateway" in result.body_preview
    # the backend itself: its port is published by a container that is gone
    assert results["backend direct"].klass in ("refused", "protocol"), \
        results["backend direct"].reason
    assert all(r.klass == "ok" for r in healed.values()), \
        {n: r.reason for n, r in healed.items()}


async def test_connection_refused_from_the_server(lab: Any) -> None:
    port = free_port()
    checks = [hc("server", f"http://127.0.0.1:{port}/health"),
              hc("console", f"http://127.0.0.1:{port}/health", from_="console")]
    async with lab_service(lab, checks) as svc:
        results = by_name(await refreshed(svc))
    assert results["server"].klass == "refused", results["server"].reason
    assert "(from alpha)" in results["server"].reason
    assert results["console"].klass == "refused"


async def test_read_timeout_from_a_server_that_never_answers(lab: Any) -> None:
    async with serve(never) as srv:
        checks = [hc("server", srv.url(), timeout=1.0),
                  hc("console", srv.url(), from_="console", timeout=1.0)]
        async with lab_service(lab, checks) as svc:
            results = by_name(await refreshed(svc))
    for result in results.values():
        assert result.klass == "read_timeout", result.reason
        assert result.latency_ms is not None and 900 < result.latency_ms < 4000


async def test_dns_failure_resolved_on_the_server(lab: Any) -> None:
    checks = [hc("server", "http://no-such-backend.invalid/health"),
              hc("console", "http://no-such-backend.invalid/health", from_="console")]
    async with lab_service(lab, checks) as svc:
        results = by_name(await refreshed(svc))
    assert results["server"].klass == "dns", results["server"].reason
    assert "no-such-backend.invalid" in results["server"].reason
    assert results["console"].klass == "dns"


async def test_tls_error_against_a_self_signed_server(lab: Any, certs: CertFactory) -> None:
    files = certs.leaf("localhost", self_signed=True)
    async with serve(http_response(200, "{}"), ssl_context=files.server_context()) as srv:
        url = f"https://localhost:{srv.port}/health"
        checks = [hc("server", url), hc("console", url, from_="console")]
        async with lab_service(lab, checks) as svc:
            results = by_name(await refreshed(svc))
    for result in results.values():
        assert result.klass == "tls", result.reason
        assert "self-signed" in result.reason or "self signed" in result.reason


async def test_certificate_expiring_in_three_days(lab: Any, certs: CertFactory) -> None:
    files = certs.leaf("localhost", days=3)
    async with serve(http_response(200, '{"status": "ok"}'),
                     ssl_context=files.server_context()) as srv:
        url = f"https://localhost:{srv.port}/health"
        checks = [hc("server", url, expect_json={"status": "ok"}),
                  hc("console", url, from_="console")]
        async with lab_service(lab, checks, ssl_context=certs.client_context()) as svc:
            results = by_name(await refreshed(svc))
    for result in results.values():
        assert (result.klass, result.status, result.cert_days_left) == \
            ("cert_expiring", 200, 3), result.reason
        assert "expires in 3 days" in result.reason


async def refresh_until_found(svc: HealthService, names: set[str],
                              timeout: float = 20.0) -> dict[str, HealthResult]:
    """Refresh until discovery lists ``names`` (a lab container another test is restarting
    right now comes back within seconds; discovery retries ports that did not answer)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        results = by_name(await refreshed(svc))
        if names <= set(results) or loop.time() > deadline:
            return results
        await asyncio.sleep(0.5)


async def test_discovery_through_ssh_finds_the_projects_health_endpoints(lab: Any) -> None:
    async with lab_service(lab, [], discover_health=True) as svc:
        results = await refresh_until_found(
            svc, {"crm-backend-1:8000/health", "crm-nginx-1:8080/health"})
        notes = svc.snapshot().discovery_notes
    assert {"crm-backend-1:8000/health", "crm-nginx-1:8080/health"} <= set(results), notes
    assert not any(name.startswith("crm2-") for name in results)  # compose_project = crm
    backend = results["crm-backend-1:8000/health"]
    assert backend.klass == "ok", backend.reason
    assert "health endpoint" in notes["alpha"]


async def test_zero_config_local_discovery_with_the_real_docker(lab: Any) -> None:
    from console.config import zero_config

    config = zero_config()
    host = make_host(config.servers[0])
    await host.start()
    svc = HealthService(config, {"local": host})
    try:
        results = await refresh_until_found(svc, {
            "crm-backend-1:8000/health", "crm-nginx-1:8080/health",
            "crm2-backend-1:8001/health"})
    finally:
        await svc.stop()
        await host.close()
    assert {"crm-backend-1:8000/health", "crm-nginx-1:8080/health",
            "crm2-backend-1:8001/health"} <= set(results), svc.snapshot().discovery_notes
    assert results["crm2-backend-1:8001/health"].klass == "ok"
