"""Health probes: every failure class, the SSH-tunnel transport, the service, discovery.

Network classes are produced by small asyncio servers on 127.0.0.1 (a real refused port, a
real accept-and-never-answer, a real self-signed TLS server); status/body classes also run
through ``httpx.MockTransport`` so the classification rules are pinned down cheaply. The
tunnel tests use a fake Host whose ``open_tcp`` opens a local connection, which exercises
the httpcore backend and the memory-BIO TLS layer exactly as an SSH channel would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import asyncssh
import httpx
import pytest

from console.config import Config, ConsoleSettings, HealthCheck, ServerConfig
from console.engine.health import (
    BODY_PREVIEW_BYTES,
    Answer,
    HealthService,
    PublishedPort,
    classify_response,
    discover_checks,
    parse_published_ports,
    probe,
    result_json,
)
from console.engine.host_api import Host, HostUnavailable
from console.engine.http_transport import (
    ClientPool,
    make_console_client,
    make_tunnel_client,
)
from console.models import HealthResult
from tests.support.hosts import TunnelHost
from tests.support.http import (
    CertFactory,
    fixed,
    free_port,
    http_response,
    never,
    serve,
    unaccepting_port,
)


async def refreshed(svc: HealthService) -> list[HealthResult]:
    """One ``refresh()`` round, then every endpoint's result from the read model."""
    await svc.refresh()
    return list(svc.snapshot().results)


def check(url: str, **kwargs: object) -> HealthCheck:
    kwargs.setdefault("timeout", 2.0)
    return HealthCheck(name=kwargs.pop("name", "api"), url=url, **kwargs)  # type: ignore[arg-type]


def config_with(*servers: ServerConfig) -> Config:
    return Config(console=ConsoleSettings(), servers=servers, source=Path("test.toml"))


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFactory:
    return CertFactory(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_console_client() as c:
        yield c


def mock_client(status: int, body: bytes | str = b"", headers: dict[str, str] | None = None,
                ) -> httpx.AsyncClient:
    content = body.encode() if isinstance(body, str) else body

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=headers or {})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


# --------------------------------------------------------------------------- status / body

HEALTHY = json.dumps({"status": "ok", "db": "connected", "schema_version": 3})


async def test_ok_json_200_through_a_real_socket(client: httpx.AsyncClient) -> None:
    async with serve(http_response(200, HEALTHY, {"Server": "BaseHTTP/0.6"})) as srv:
        result = await probe(client, "local", check(
            srv.url(), expect_json={"status": "ok", "db": "connected"}))
    assert (result.ok, result.klass, result.status) == (True, "ok", 200)
    assert result.reason.startswith("200 OK in ")
    assert result.latency_ms is not None and 0 < result.latency_ms < 2000
    assert ("server", "BaseHTTP/0.6") in result.headers
    assert result.body_preview == HEALTHY.encode()
    assert result.cert_days_left is None


async def test_body_mismatch_names_the_key_and_not_the_whole_body() -> None:
    body = json.dumps({"status": "ok", "db": "disconnected", "blob": "X" * 5000})
    async with mock_client(200, body) as c:
        result = await probe(c, "s", check("http://h/health",
                                           expect_json={"status": "ok", "db": "connected"}))
    assert (result.ok, result.klass) == (False, "body_mismatch")
    assert "'db'" in result.reason and '"disconnected"' in result.reason
    assert '"connected"' in result.reason and "XXXX" not in result.reason
    assert len(result.body_preview) == BODY_PREVIEW_BYTES


@pytest.mark.parametrize(("body", "expect", "needle"), [
    ('{"status": "ok"}', {"db": "connected"}, "no key 'db'"),
    ('{"checks": {"db": "down"}}', {"checks": {"db": "up"}}, "'checks.db' is \"down\""),
    ('{"ready": 1}', {"ready": True}, "'ready' is 1, expected true"),
    ('["ok"]', {"status": "ok"}, "body is a list"),
    ("<html>oops</html>", {"status": "ok"}, "body is not JSON (text/html"),
    ('{"a": 1, "b": 2}', {"a": 0, "b": 0}, "(and 1 more)"),
])
async def test_body_mismatch_reasons(body: str, expect: dict[str, object], needle: str) -> None:
    async with mock_client(200, body, {"content-type": "text/html"}) as c:
        result = await probe(c, "s", check("http://h/health", expect_json=expect))
    assert result.klass == "body_mismatch"
    assert needle in result.reason


async def test_unexpected_status_is_body_mismatch_with_both_codes() -> None:
    async with mock_client(404, "nope") as c:
        result = await probe(c, "s", check("http://h/health"))
    assert result.klass == "body_mismatch"
    assert result.reason == "expected status 200, got 404 Not Found"


async def test_a_redirect_is_shown_with_its_target_and_not_followed() -> None:
    async with mock_client(302, "", {"location": "https://sso.example/login"}) as c:
        result = await probe(c, "s", check("http://h/health"))
    assert result.klass == "body_mismatch"
    assert result.reason == ("expected status 200, got 302 Found (to https://sso.example/login;"
                             " redirects are not followed)")


async def test_expect_status_other_than_200() -> None:
    async with mock_client(204) as c:
        result = await probe(c, "s", check("http://h/health", expect_status=204))
    assert result.ok and result.klass == "ok"


async def test_latency_limit_is_a_body_mismatch(client: httpx.AsyncClient) -> None:
    async with serve(fixed(http_response(200, "{}"), delay=0.15)) as srv:
        result = await probe(client, "s", check(srv.url(), max_latency_ms=50))
    assert result.klass == "body_mismatch"
    assert "over the 50 ms limit" in result.reason


@pytest.mark.parametrize(("status", "headers", "body", "klass", "reason"), [
    (502, {"server": "nginx/1.22.1"}, "<html>bad</html>", "proxy_bad_gateway",
     "nginx answered 502: proxy up, backend down"),
    (503, {"server": "nginx"}, "", "proxy_unavailable",
     "nginx answered 503: proxy up, no backend available"),
    (504, {"server": "haproxy"}, "", "proxy_gateway_timeout",
     "haproxy answered 504: proxy up, backend too slow (the proxy gave up waiting)"),
    (502, {}, "", "proxy_bad_gateway", "a proxy (no Server header) answered 502"),
    (502, {}, "<hr><center>nginx</center>", "proxy_bad_gateway", "nginx answered 502"),
    (503, {"via": "1.1 varnish"}, "", "proxy_unavailable", "a proxy (Via: 1.1 varnish)"),
    (503, {}, '{"detail": "database is down"}', "app_5xx",
     "the app answered 503 Service Unavailable: database is down"),
    (502, {"server": "uvicorn"}, "", "app_5xx", "the app answered 502 Bad Gateway"),
    (500, {"server": "gunicorn"}, '{"error": "JWT_SECRET not configured"}', "app_5xx",
     "the app answered 500 Internal Server Error: JWT_SECRET not configured"),
    (401, {"www-authenticate": "Bearer"}, "", "unauthorized",
     "401 Unauthorized: the endpoint wants credentials (Bearer)"),
    (403, {}, "", "forbidden", "403 Forbidden"),
])
async def test_status_classes(status: int, headers: dict[str, str], body: str, klass: str,
                              reason: str) -> None:
    async with mock_client(status, body, headers) as c:
        result = await probe(c, "s", check("http://h/health"))
    assert (result.ok, result.klass, result.status) == (False, klass, status)
    assert reason in result.reason


async def test_proxy_502_through_a_real_socket(client: httpx.AsyncClient) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>[bold]x</body></html>"
    answer = http_response(502, page, {"Server": "nginx/1.25.3"}, content_type="text/html")
    async with serve(answer) as srv:
        result = await probe(client, "s", check(srv.url()))
    assert result.klass == "proxy_bad_gateway"
    assert result.reason == "nginx answered 502: proxy up, backend down"
    assert result.body_preview == page.encode()


async def test_cookies_are_hidden_in_headers() -> None:
    async with mock_client(200, "{}", {"set-cookie": "session=abcdef123; Path=/"}) as c:
        result = await probe(c, "s", check("http://h/health"))
    shown = dict(result.headers)["set-cookie"]
    assert "abcdef123" not in shown and shown.startswith("session=<")


async def test_secrets_in_a_body_or_header_never_leave_the_engine() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVl"
    body = json.dumps({"status": "degraded", "db": "postgres://app:hunter2@db:5432/crm",
                       "token": jwt})
    async with mock_client(200, body, {"x-debug": f"Bearer {jwt}"}) as c:
        result = await probe(c, "s", check("http://h/health", expect_json={"token": "x"}))
    everything = result.reason + result.body_preview.decode() + repr(result.headers)
    assert "hunter2" not in everything and jwt not in everything
    assert result.klass == "body_mismatch" and "'token'" in result.reason
    assert b'"status": "degraded"' in result.body_preview  # the rest is kept literally


# --------------------------------------------------------------------------- network errors


async def test_connection_refused(client: httpx.AsyncClient) -> None:
    port = free_port()
    result = await probe(client, "s", check(f"http://127.0.0.1:{port}/health"))
    assert (result.ok, result.klass) == (False, "refused")
    assert f"127.0.0.1:{port}" in result.reason and result.status is None


async def test_read_timeout_when_the_server_accepts_and_never_answers(
        client: httpx.AsyncClient) -> None:
    async with serve(never) as srv:
        started = time.perf_counter()
        result = await probe(client, "s", check(srv.url(), timeout=0.4))
        elapsed = time.perf_counter() - started
    assert result.klass == "read_timeout"
    assert "no answer within 0.4 s" in result.reason
    assert 0.35 < elapsed < 1.5


async def test_connect_timeout_when_no_tcp_connection_can_be_made(
        client: httpx.AsyncClient) -> None:
    with unaccepting_port() as port:
        result = await probe(client, "s", check(f"http://127.0.0.1:{port}/", timeout=0.4))
    assert result.klass == "connect_timeout"
    assert "no TCP connection" in result.reason


async def test_dns_failure(client: httpx.AsyncClient) -> None:
    result = await probe(client, "s", check("http://no-such-host.invalid/health"))
    assert result.klass == "dns"
    assert "no-such-host.invalid" in result.reason


async def close_now(_head: bytes) -> None:
    return None


async def test_server_that_speaks_no_http_is_a_protocol_error(
        client: httpx.AsyncClient) -> None:
    # sshd on an HTTP URL: its banner, then it hangs up on "GET / HTTP/1.1"
    async with serve(close_now, greeting=b"SSH-2.0-OpenSSH_9.6\r\n") as srv:
        result = await probe(client, "s", check(srv.url()))
    assert result.klass == "protocol"


async def test_connection_closed_without_answer(client: httpx.AsyncClient) -> None:
    async with serve(close_now) as srv:
        result = await probe(client, "s", check(srv.url()))
    assert result.klass == "protocol"
    assert "without a valid HTTP answer" in result.reason


# --------------------------------------------------------------------------- TLS


async def test_self_signed_certificate_is_a_tls_error(certs: CertFactory,
                                                      client: httpx.AsyncClient) -> None:
    files = certs.leaf("localhost", self_signed=True)
    async with serve(http_response(200, "{}"), ssl_context=files.server_context(),
                     host="127.0.0.1") as srv:
        result = await probe(client, "s", check(f"https://localhost:{srv.port}/health"))
    assert (result.ok, result.klass) == (False, "tls")
    assert "self-signed" in result.reason or "self signed" in result.reason


async def test_hostname_mismatch_is_a_tls_error(certs: CertFactory) -> None:
    files = certs.leaf("other.example")
    async with make_console_client(ssl_context=certs.client_context()) as c, \
            serve(http_response(200, "{}"), ssl_context=files.server_context()) as srv:
        result = await probe(c, "s", check(f"https://localhost:{srv.port}/health"))
    assert result.klass == "tls"
    assert "localhost" in result.reason.lower() or "hostname" in result.reason.lower()


async def test_https_url_against_plain_http_port(client: httpx.AsyncClient) -> None:
    # a plain HTTP server answers a TLS ClientHello with a 400 page, as nginx does
    async with serve(never, greeting=http_response(400, "bad request")) as srv:
        result = await probe(client, "s", check(f"https://127.0.0.1:{srv.port}/health"))
    assert result.klass == "tls"


async def test_certificate_expiring_in_three_days(certs: CertFactory) -> None:
    files = certs.leaf("localhost", days=3)
    async with make_console_client(ssl_context=certs.client_context()) as c, \
            serve(http_response(200, HEALTHY), ssl_context=files.server_context()) as srv:
        result = await probe(c, "s", check(f"https://localhost:{srv.port}/health",
                                           expect_json={"status": "ok"}))
    assert (result.ok, result.klass, result.status) == (False, "cert_expiring", 200)
    assert result.cert_days_left == 3
    assert "expires in 3 days" in result.reason


async def test_valid_certificate_reports_days_left(certs: CertFactory) -> None:
    files = certs.leaf("localhost", days=90)
    async with make_console_client(ssl_context=certs.client_context()) as c, \
            serve(http_response(200, "{}"), ssl_context=files.server_context()) as srv:
        result = await probe(c, "s", check(f"https://localhost:{srv.port}/health"))
    assert (result.klass, result.cert_days_left) == ("ok", 90)


def test_expiring_cert_does_not_hide_a_502() -> None:
    answer = Answer(status=502, headers=httpx.Headers({"server": "nginx"}), body=b"",
                     truncated=False, latency_ms=3.0, cert_expires_at=time.time() + 86400 * 2)
    klass, _reason, days = classify_response(check("https://h/"), answer)
    assert (klass, days) == ("proxy_bad_gateway", 2)


# --------------------------------------------------------------------------- the SSH tunnel


async def test_probe_through_the_tunnel_opens_tcp_from_the_host() -> None:
    host = TunnelHost()
    async with make_tunnel_client(host) as c, \
            serve(http_response(200, HEALTHY)) as srv:
        first = await probe(c, "alpha", check(srv.url(), expect_json={"db": "connected"}),
                            via="alpha")
        second = await probe(c, "alpha", check(srv.url()), via="alpha")
    assert first.klass == "ok" and second.klass == "ok"
    assert host.opened == [("127.0.0.1", srv.port)]  # one channel, reused (keep-alive)
    assert srv.accepted == 1 and srv.requests == 2


async def test_tls_through_the_tunnel_with_certificate_expiry(certs: CertFactory) -> None:
    host = TunnelHost()
    files = certs.leaf("localhost", days=10)
    async with make_tunnel_client(host, ssl_context=certs.client_context()) as c, \
            serve(http_response(200, HEALTHY), ssl_context=files.server_context()) as srv:
        result = await probe(c, "alpha", check(f"https://localhost:{srv.port}/health"),
                             via="alpha")
        again = await probe(c, "alpha", check(f"https://localhost:{srv.port}/health"),
                            via="alpha")
    assert (result.klass, result.status, result.cert_days_left) == ("cert_expiring", 200, 10)
    assert again.klass == "cert_expiring" and srv.accepted == 1


async def test_tls_error_through_the_tunnel(certs: CertFactory) -> None:
    host = TunnelHost()
    files = certs.leaf("localhost", self_signed=True)
    async with make_tunnel_client(host, ssl_context=certs.client_context()) as c, \
            serve(http_response(200, "{}"), ssl_context=files.server_context()) as srv:
        result = await probe(c, "alpha", check(f"https://localhost:{srv.port}/"), via="alpha")
    assert result.klass == "tls"
    assert "self-signed" in result.reason or "self signed" in result.reason


def failing_open(exc: BaseException) -> Callable[[str, int], Awaitable[tuple[object, object]]]:
    async def open_tcp(host: str, port: int) -> tuple[object, object]:
        raise exc
    return open_tcp


async def hanging_open(host: str, port: int) -> tuple[object, object]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@pytest.mark.parametrize(("opener", "klass", "needle"), [
    (failing_open(ConnectionRefusedError(111, "127.0.0.1:9 from server alpha: Connection "
                                              "refused")), "refused", "(from alpha)"),
    (failing_open(socket.gaierror(socket.EAI_NONAME, "db.invalid:80 from server alpha: "
                                                     "Name or service not known")),
     "dns", "failed (from alpha)"),
    (failing_open(PermissionError(13, "127.0.0.1:9 from server alpha: open failed "
                                      "(sshd forbids TCP forwarding)")),
     "connect_failed", "forbids TCP forwarding"),
    (failing_open(asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED,
                                            "Connection refused")), "refused", "refused"),
    (failing_open(HostUnavailable("alpha: connection lost 3s ago")), "unreachable",
     "connection lost"),
    (hanging_open, "connect_timeout", "no TCP connection"),
])
async def test_tunnel_connect_failures(opener: Callable[[str, int], Awaitable[tuple[object,
                                                                                    object]]],
                                       klass: str, needle: str) -> None:
    host = TunnelHost(open_tcp=opener)
    async with make_tunnel_client(host) as c:
        result = await probe(c, "alpha", check("http://127.0.0.1:9/health", timeout=0.3),
                             via="alpha")
    assert result.klass == klass
    assert needle in result.reason


async def test_tunnel_read_timeout() -> None:
    host = TunnelHost()
    async with make_tunnel_client(host) as c, serve(never) as srv:
        result = await probe(c, "alpha", check(srv.url(), timeout=0.3), via="alpha")
    assert result.klass == "read_timeout"


async def test_tunnel_drops_a_keepalive_connection_the_server_closed() -> None:
    host = TunnelHost()
    answer = http_response(200, "{}", {"Connection": "keep-alive"})
    async with make_tunnel_client(host) as c, serve(answer) as srv:
        assert (await probe(c, "alpha", check(srv.url()))).klass == "ok"
        for writer in list(srv._writers):
            writer.close()
        await asyncio.sleep(0.05)
        assert (await probe(c, "alpha", check(srv.url()))).klass == "ok"
    assert srv.accepted == 2


# --------------------------------------------------------------------------- the service


def service_for(checks: Sequence[HealthCheck], *, host: TunnelHost | None = None,
                **kwargs: object) -> HealthService:
    server = ServerConfig(name="alpha", host="alpha.example" if host else "local",
                          health=tuple(checks))
    hosts = {"alpha": host} if host else {}
    return HealthService(config_with(server), hosts, seed=1, **kwargs)  # type: ignore[arg-type]


async def test_refresh_probes_every_endpoint_and_keeps_history() -> None:
    state = {"body": HEALTHY}

    async def respond(_head: bytes) -> bytes:
        return http_response(200, state["body"])

    async with serve(respond) as srv:
        svc = service_for([check(srv.url(), name="a", expect_json={"db": "connected"}),
                           check(f"http://127.0.0.1:{free_port()}/", name="b")])
        seen: list[tuple[str, str]] = []
        unsubscribe = svc.subscribe(lambda c: seen.append((c.endpoint.name, c.endpoint.klass)))
        try:
            results = await refreshed(svc)
            assert sorted(r.klass for r in results) == ["ok", "refused"]
            first = {s.name: s for s in svc.snapshot().endpoints}
            await asyncio.sleep(0.02)
            await svc.refresh()
            same = {s.name: s for s in svc.snapshot().endpoints}
            assert same["a"].changed_at == first["a"].changed_at  # klass unchanged
            state["body"] = json.dumps({"db": "gone"})
            await asyncio.sleep(0.02)
            await svc.refresh()
            after = {s.name: s for s in svc.snapshot().endpoints}
        finally:
            unsubscribe()
            await svc.stop()
    assert after["a"].klass == "body_mismatch"
    assert after["a"].changed_at is not None and first["a"].changed_at is not None
    assert after["a"].changed_at > first["a"].changed_at
    assert after["a"].runs == 3 and len(after["a"].latencies) == 3
    assert all(v is not None for v in after["a"].latencies)
    assert after["b"].latencies == (None, None, None)  # no answer: a gap in the sparkline
    assert len(seen) == 6 and ("a", "body_mismatch") in seen
    assert [s.name for s in svc.snapshot().endpoints] == ["a", "b"]


async def test_history_is_capped() -> None:
    async with serve(http_response(200, "{}")) as srv:
        svc = service_for([check(srv.url())], history=4)
        try:
            for _ in range(6):
                await svc.refresh()
        finally:
            await svc.stop()
    state = svc.snapshot().endpoints[0]
    assert state.runs == 6 and len(state.latencies) == 4


async def test_a_down_server_is_unreachable_without_touching_the_network() -> None:
    host = TunnelHost(up=False)
    svc = service_for([check("http://127.0.0.1:8000/health")], host=host)
    try:
        [result] = await refreshed(svc)
    finally:
        await svc.stop()
    assert result.klass == "unreachable"
    assert "server alpha lost" in result.reason and "connection reset by peer" in result.reason
    assert host.opened == []


async def test_a_lost_link_drops_its_pooled_connections_and_recovers() -> None:
    host = TunnelHost()
    async with serve(http_response(200, "{}")) as srv:
        svc = service_for([check(srv.url())], host=host)
        try:
            assert [r.klass for r in await refreshed(svc)] == ["ok"]
            host.set_up(False)
            assert [r.klass for r in await refreshed(svc)] == ["unreachable"]
            host.set_up(True)
            assert [r.klass for r in await refreshed(svc)] == ["ok"]
        finally:
            await svc.stop()
    # a fresh channel after the reconnect, not the pooled one from before the loss
    assert host.opened == [("127.0.0.1", srv.port)] * 2 and srv.accepted == 2


async def test_from_console_skips_the_tunnel() -> None:
    host = TunnelHost()
    async with serve(http_response(200, "{}")) as srv:
        svc = service_for([check(srv.url(), from_="console")], host=host)
        try:
            [result] = await refreshed(svc)
        finally:
            await svc.stop()
    assert result.klass == "ok" and host.opened == []


async def test_from_server_goes_through_the_host() -> None:
    host = TunnelHost()
    async with serve(http_response(200, "{}")) as srv:
        svc = service_for([check(srv.url())], host=host)
        try:
            [result] = await refreshed(svc)
        finally:
            await svc.stop()
    assert result.klass == "ok" and host.opened == [("127.0.0.1", srv.port)]


async def test_a_broken_listener_does_not_stop_probing() -> None:
    async with serve(http_response(200, "{}")) as srv:
        svc = service_for([check(srv.url())])

        def boom(_state: object) -> None:
            raise RuntimeError("listener bug")

        svc.subscribe(boom)
        try:
            [result] = await refreshed(svc)
        finally:
            await svc.stop()
    assert result.klass == "ok" and svc.snapshot().endpoints[0].runs == 1


async def test_twenty_probes_one_hanging_the_rest_finish_on_time() -> None:
    """One endpoint accepts and never answers; the other 19 must not wait for it."""
    async with serve(fixed(http_response(200, "{}"), delay=0.05)) as good, \
            serve(never) as bad:
        checks = [check(good.url(f"/h{i}"), name=f"ok-{i}", timeout=3.0) for i in range(19)]
        checks.insert(7, check(bad.url(), name="hangs", timeout=3.0))
        svc = service_for(checks)
        arrived: dict[str, float] = {}
        started = time.perf_counter()
        svc.subscribe(lambda c: arrived.setdefault(c.endpoint.name,
                                                  time.perf_counter() - started))
        try:
            refresh = asyncio.create_task(svc.refresh())
            await asyncio.sleep(1.0)
            # while the hanging probe is still out, every other result is in
            assert not refresh.done()
            assert len(arrived) == 19 and "hangs" not in arrived
            assert max(arrived.values()) < 1.0
            await refresh
            results = list(svc.snapshot().results)
        finally:
            await svc.stop()
    by_name = {r.name: r for r in results}
    assert by_name["hangs"].klass == "read_timeout"
    assert 2.9 < arrived["hangs"] < 4.0
    assert all(by_name[f"ok-{i}"].klass == "ok" for i in range(19))


async def test_live_mode_probes_on_their_own_intervals_and_stops_cleanly() -> None:
    async with serve(fixed(http_response(200, "{}"))) as fast, serve(never) as hang:
        svc = service_for([check(fast.url(), name="fast", interval=0.1),
                           check(hang.url(), name="hang", interval=0.1, timeout=5.0)],
                          jitter=0.1)
        await svc.start()
        try:
            await asyncio.sleep(0.8)
            states = {s.name: s for s in svc.snapshot().endpoints}
        finally:
            await svc.stop()
    assert states["fast"].runs >= 4  # kept going while "hang" was stuck
    assert states["hang"].runs == 0 and states["hang"].klass == "pending"


def test_result_json_has_the_spec_keys() -> None:
    data = result_json(HealthResult(server="s", name="api", url="http://x/", ok=False,
                                    klass="proxy_bad_gateway", reason="r", status=502,
                                    latency_ms=3.14159))
    assert {"name", "url", "ok", "status", "class", "reason", "latency_ms"} <= set(data)
    assert data["class"] == "proxy_bad_gateway" and data["latency_ms"] == 3.1
    json.dumps(data)


async def test_client_pool_shares_one_client_per_server_and_from() -> None:
    pool = ClientPool()
    alpha, bravo = TunnelHost("alpha"), TunnelHost("bravo")
    try:
        assert pool.client(alpha, via_server=True) is pool.client(alpha, via_server=True)
        assert pool.client(alpha, via_server=True) is not pool.client(bravo, via_server=True)
        assert pool.client(alpha, via_server=False) is pool.client(None, via_server=True)
    finally:
        await pool.aclose()


# --------------------------------------------------------------------------- discovery


def test_parse_published_ports() -> None:
    rows = [
        {"Names": ["/crm-backend-1"], "Labels": {"com.docker.compose.project": "crm"},
         "Ports": [{"IP": "127.0.0.1", "PrivatePort": 8000, "PublicPort": 8000, "Type": "tcp"},
                   {"PrivatePort": 9000, "Type": "tcp"}]},
        {"Names": ["/web"], "Labels": {},
         "Ports": [{"IP": "0.0.0.0", "PrivatePort": 443, "PublicPort": 8443, "Type": "tcp"},
                   {"IP": "::", "PrivatePort": 443, "PublicPort": 8443, "Type": "tcp"},
                   {"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 53, "Type": "udp"}]},
    ]
    ports = parse_published_ports(rows)
    assert ports == [PublishedPort("crm-backend-1", "127.0.0.1", 8000, 8000),
                     PublishedPort("web", "127.0.0.1", 8443, 443)]
    assert ports[1].url("/health") == "https://127.0.0.1:8443/health"
    assert parse_published_ports(rows, project="crm") == ports[:1]


async def test_discover_checks_finds_health_endpoints(client: httpx.AsyncClient) -> None:
    async def healthz_only(head: bytes) -> bytes:
        if head.startswith(b"GET /healthz "):
            return http_response(200, '{"status": "ok"}')
        return http_response(404, "")

    async def spa(_head: bytes) -> bytes:
        return http_response(200, "<html>app</html>", content_type="text/html")

    async def proxy_down(_head: bytes) -> bytes:
        return http_response(502, "bad", {"Server": "nginx"}, content_type="text/html")

    async with serve(healthz_only) as a, serve(spa) as b, serve(proxy_down) as c:
        closed = free_port()
        ports = [PublishedPort("api", "127.0.0.1", a.port, 80),
                 PublishedPort("frontend", "127.0.0.1", b.port, 80),
                 PublishedPort("nginx", "127.0.0.1", c.port, 80),
                 PublishedPort("starting", "127.0.0.1", closed, 80)]
        found = await discover_checks(client, ports, timeout=1.0)
    answered = {port.container: chk for port, chk in found}
    assert set(answered) == {"api", "frontend", "nginx"}  # "starting": retried later
    assert answered["frontend"] is None
    api = answered["api"]
    assert api is not None and api.url == f"http://127.0.0.1:{a.port}/healthz"
    assert api.name == f"api:{a.port}/healthz" and api.expect_json == {"status": "ok"}
    nginx = answered["nginx"]
    assert nginx is not None and nginx.url.endswith("/health") and nginx.expect_json is None


async def test_zero_config_service_discovers_and_probes() -> None:
    async with serve(http_response(200, '{"status": "ok"}')) as srv:
        late = free_port()
        listed: list[list[PublishedPort]] = [
            [PublishedPort("crm-backend-1", "127.0.0.1", srv.port, 8000),
             PublishedPort("late", "127.0.0.1", late, 80)],
        ]

        async def lister(_host: Host, _project: str | None) -> list[PublishedPort]:
            return listed[0]

        server = ServerConfig(name="local", discover_health=True)
        svc = HealthService(config_with(server), {"local": TunnelHost("local")},
                            port_lister=lister)
        try:
            assert svc.snapshot().discovery_notes == {"local": "looking for /health endpoints"}
            results = await refreshed(svc)
            assert [(r.name, r.klass) for r in results] == [
                (f"crm-backend-1:{srv.port}/health", "ok")]
            assert svc.snapshot().endpoints[0].discovered
            assert svc.snapshot().discovery_notes["local"] == \
                "1 health endpoint found on 2 published ports"
            async with serve(http_response(200, "{}"), host="127.0.0.1") as later:
                listed[0] = [PublishedPort("late", "127.0.0.1", later.port, 80)]
                results = await refreshed(svc)
            assert len(results) == 2  # the first one is kept; the late starter is added
        finally:
            await svc.stop()


async def test_discovery_failure_is_a_note_not_a_crash() -> None:
    async def lister(_host: Host, _project: str | None) -> list[PublishedPort]:
        raise FileNotFoundError("no such file /var/run/docker.sock")

    svc = HealthService(config_with(ServerConfig(name="local", discover_health=True)),
                        {"local": TunnelHost("local")}, port_lister=lister)
    try:
        assert await refreshed(svc) == []
    finally:
        await svc.stop()
    assert "Docker socket not found" in svc.snapshot().discovery_notes["local"]
