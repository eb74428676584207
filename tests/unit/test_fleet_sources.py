"""The fleet sources on answers recorded from the lab's real Prometheus, blackbox_exporter
and Alertmanager (tests/data/prometheus/), and on every fault the view must survive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest

from console.config import Config, ConsoleSettings, PrometheusConfig
from console.engine.fleet_sources import FleetSourceService, ProbeMetrics, classify_probe
from console.engine.fleet_sources.answers import MAX_ANSWER_BYTES
from console.engine.fleet_sources.prometheus import parse_duration
from console.models import Severity
from tests.support.prometheus import lab_handler, metrics_of, recorded_now

PROM = "http://prom.test:9090"
AM = "http://am.test:9093"


def config(**overrides: object) -> Config:
    block = {"name": "lab", "url": PROM, "alertmanager_url": AM, **overrides}
    return Config(console=ConsoleSettings(), servers=(),
                  prometheus=(PrometheusConfig(**block),))  # type: ignore[arg-type]


async def one_round(handler: Callable[[httpx.Request], object], cfg: Config | None = None
                    ) -> FleetSourceService:
    service = FleetSourceService(cfg or config(), transport=httpx.MockTransport(handler),
                                 clock=recorded_now)
    await service.refresh()
    await service.stop()
    return service


# --------------------------------------------------------------------------- the lab's classes


async def test_each_lab_probe_gets_its_class_in_words() -> None:
    snap = (await one_round(lab_handler)).snapshot()
    by_instance = {r.instance: r for r in snap.targets}
    expected = {
        "http://127.0.0.1:18090/ok": "ok",
        "http://127.0.0.1:18090/502": "proxy_bad_gateway",
        "http://127.0.0.1:18091/": "refused",
        "http://127.0.0.1:18090/hang": "read_timeout",
        "http://127.0.0.1:18090/degraded": "body_mismatch",
        "http://no-such-host.invalid/": "dns",
        "https://127.0.0.1:18443/ok": "cert_expiring",
    }
    assert {i: by_instance[i].klass for i in expected} == expected
    assert by_instance["127.0.0.1:19115"].is_probe is False
    assert by_instance["127.0.0.1:19115"].up is True
    assert "to tell them apart" in by_instance["http://127.0.0.1:18090/502"].reason
    assert "refused or reset" in by_instance["http://127.0.0.1:18091/"].reason
    assert by_instance["https://127.0.0.1:18443/ok"].cert_expires_at is not None
    assert by_instance["http://127.0.0.1:18090/ok"].latency_ms is not None
    # The phases explain a failure: they are asked for the failing probes only.
    assert by_instance["http://127.0.0.1:18090/ok"].phases_ms == {}
    assert by_instance["http://127.0.0.1:18090/hang"].phases_ms["connect"] > 0


async def test_firing_alerts_come_from_alertmanager_with_their_summary() -> None:
    snap = (await one_round(lab_handler)).snapshot()
    assert snap.sources[0].alerts_from == "alertmanager"
    failing = {a.instance for a in snap.alerts}
    assert "http://127.0.0.1:18090/502" in failing
    assert "http://127.0.0.1:18090/ok" not in failing
    alert = next(a for a in snap.alerts if a.instance == "http://127.0.0.1:18090/502")
    assert alert.name == "ProbeFailing" and alert.severity is Severity.CRITICAL
    assert alert.summary == "http://127.0.0.1:18090/502 probe failing"
    assert alert.starts_at is not None


async def test_without_alertmanager_prometheus_own_alert_list_is_read() -> None:
    snap = (await one_round(lab_handler, config(alertmanager_url=None))).snapshot()
    assert snap.sources[0].alerts_from == "prometheus"
    assert "http://127.0.0.1:18090/502" in {a.instance for a in snap.alerts}


async def test_four_queries_per_round_whatever_the_number_of_targets() -> None:
    seen: list[str] = []

    def counting(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return lab_handler(request)

    await one_round(counting)
    assert seen.count("/api/v1/query") == 4
    assert seen.count("/api/v1/targets") == 1 and seen.count("/api/v2/alerts") == 1


async def test_match_selector_narrows_every_query() -> None:
    queries: list[str] = []

    def capture(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/query":
            queries.append(request.url.params["query"])
            return httpx.Response(200, json={"status": "success",
                                             "data": {"resultType": "vector", "result": []}})
        return lab_handler(request)

    await one_round(capture, config(match='{env="prod"}'))
    assert len(queries) == 4 and all('env="prod"}' in q for q in queries)
    assert '{__name__=~"up|probe_success", env="prod"}' in queries
    assert ('max by (__name__, job, instance) ({__name__=~"probe_http_status_code|'
            'probe_duration_seconds", env="prod"})') in queries
    assert ('max by (__name__, job, instance, phase) ({__name__=~"probe_http_duration_seconds|'
            'probe_dns_lookup_time_seconds|probe_ip_protocol|probe_failed_due_to_regex", '
            'env="prod"} and on (job, instance) probe_success{env="prod"} == 0)') in queries
    assert 'min by (job, instance) (probe_ssl_earliest_cert_expiry{env="prod"})' in queries


async def test_only_the_row_naming_metrics_are_asked_with_their_labels() -> None:
    """The other metrics come one series per target (and phase), aggregated by Prometheus,
    and still fill the rows."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/query":
            asked.append(request.url.params["query"])
        return lab_handler(request)

    snap = (await one_round(handler)).snapshot()
    raw = [q for q in asked if "(" not in q]
    assert raw == ['{__name__=~"up|probe_success"}']
    assert len(asked) == 4 and snap.targets


async def test_the_interval_defaults_to_the_scrape_interval_prometheus_reports() -> None:
    snap = (await one_round(lab_handler)).snapshot()
    assert snap.sources[0].interval_s == 2.0
    snap = (await one_round(lab_handler, config(interval=30.0))).snapshot()
    assert snap.sources[0].interval_s == 30.0


# --------------------------------------------------------------------------- faults


def failing(status: int, body: bytes = b"", ctype: str = "text/html") -> Callable[..., object]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": ctype})
    return handler


def raising(exc: Exception) -> Callable[..., object]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


@pytest.mark.parametrize(("handler", "words"), [
    (raising(httpx.RemoteProtocolError("Server disconnected without sending a response.")),
     "the connection broke (the engine stopped or restarted?)"),
    (raising(httpx.RemoteProtocolError("peer closed connection without sending complete "
                                       "message body (incomplete chunked read)")),
     "the connection closed mid-answer (truncated)"),
    (failing(401), "HTTP 401: credentials refused"),
    (failing(403), "HTTP 403: forbidden"),
    (failing(200, b"<html>login</html>"), "not JSON"),
    (failing(200, b'{"status": "success", "data": {"resultType": "vec'), "truncated JSON"),
    (failing(502, b"bad gateway"), "HTTP 502"),
])
async def test_a_bad_answer_is_a_clear_line(handler: Callable[..., object], words: str) -> None:
    state = (await one_round(handler)).snapshot().sources[0]
    assert state.state == "error"
    assert words in state.detail


async def test_refused_is_said_in_words() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    state = (await one_round(refused)).snapshot().sources[0]
    assert state.state == "error" and state.detail == "connection refused"


async def test_a_hanging_prometheus_is_bounded_by_its_timeout() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200)

    loop = asyncio.get_running_loop()
    started = loop.time()
    service = FleetSourceService(config(timeout=0.3), transport=httpx.MockTransport(hang))
    await service.refresh()
    await service.stop()
    assert loop.time() - started < 2
    assert service.snapshot().sources[0].state == "error"


async def test_a_huge_answer_is_refused_without_being_loaded() -> None:
    pulled: list[int] = []  # bytes read from each answer
    chunk = b"x" * (1 << 20)

    class Huge(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            pulled.append(0)
            for _ in range(100):  # 100 MB if read to the end
                pulled[-1] += len(chunk)
                yield chunk

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Huge())

    state = (await one_round(huge)).snapshot().sources[0]
    assert state.state == "error" and "limit: refused" in state.detail
    assert pulled and max(pulled) <= MAX_ANSWER_BYTES + 2 * len(chunk)


async def test_a_declared_huge_answer_is_refused_before_reading() -> None:
    def declared(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-length": str(100 * 10**6)}, content=b"")

    state = (await one_round(declared)).snapshot().sources[0]
    assert "100 MB" in state.detail and "refused" in state.detail


async def test_rows_survive_an_outage_and_the_source_recovers_by_itself() -> None:
    broken = {"now": False}

    def flaky(request: httpx.Request) -> httpx.Response:
        if broken["now"]:
            raise httpx.ConnectError("Connection refused", request=request)
        return lab_handler(request)

    service = FleetSourceService(config(), transport=httpx.MockTransport(flaky),
                                 clock=recorded_now)
    changes: list[object] = []
    service.subscribe(changes.append)
    await service.refresh()
    rows = service.snapshot().targets
    broken["now"] = True
    await service.refresh()
    down = service.snapshot()
    assert down.sources[0].state == "error" and down.targets == rows
    broken["now"] = False
    await service.refresh()
    assert service.snapshot().sources[0].state == "up"
    assert len(changes) == 3
    await service.stop()


async def test_an_alertmanager_failure_keeps_the_targets() -> None:
    def no_am(request: httpx.Request) -> httpx.Response:
        if request.url.host == "am.test":
            return httpx.Response(503, content=b"down")
        return lab_handler(request)

    snap = (await one_round(no_am)).snapshot()
    assert snap.sources[0].state == "up" and snap.targets
    assert "alerts: HTTP 503" in snap.sources[0].alerts_detail


async def test_a_label_value_with_markup_and_escapes_is_kept_as_sent() -> None:
    hostile = "[bold]x[/bold]\x1b[2J\x1b]52;c;AAAA\x07"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/query" and "up" in metrics_of(request):
            return httpx.Response(200, json={"status": "success", "data": {
                "resultType": "vector", "result": [
                    {"metric": {"__name__": "up", "job": hostile, "instance": "i"},
                     "value": [1, "1"]}]}})
        if request.url.path == "/api/v1/query":
            return httpx.Response(200, json={"status": "success",
                                             "data": {"resultType": "vector", "result": []}})
        return lab_handler(request)

    snap = (await one_round(handler)).snapshot()
    assert snap.targets[0].job == hostile  # rendering makes it printable, not the engine


async def test_odd_label_values_are_text_and_a_series_without_labels_is_skipped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/query" and "up" in metrics_of(request):
            return httpx.Response(200, json={"status": "success", "data": {
                "resultType": "vector", "result": [
                    {"metric": {"__name__": "up", "job": 7, "instance": None},
                     "value": [1, "1"]},
                    {"metric": "not labels", "value": [1, "1"]},
                    {"metric": {"job": "nameless", "instance": "i"}, "value": [1, "1"]},
                    {"metric": {"__name__": "up", "job": "j", "instance": "fine"},
                     "value": [1, "0"]}]}})
        if request.url.path == "/api/v1/query":
            return httpx.Response(200, json={"status": "success",
                                             "data": {"resultType": "vector", "result": []}})
        return lab_handler(request)

    snap = (await one_round(handler)).snapshot()
    # A series without its metric's name cannot be told apart from another metric's.
    assert sorted((t.job, t.instance) for t in snap.targets) == [("7", "None"), ("j", "fine")]


async def test_credentials_come_from_the_environment_at_send_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROM_TOKEN", "tok-123")
    seen: list[str] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return lab_handler(request)

    cfg = config(bearer_token="${PROM_TOKEN}")
    assert "tok-123" not in repr(cfg)
    await one_round(capture, cfg)
    assert seen and all(h == "Bearer tok-123" for h in seen)


async def test_a_missing_credential_variable_is_a_clear_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROM_TOKEN", raising=False)
    state = (await one_round(lab_handler, config(bearer_token="${PROM_TOKEN}"))
             ).snapshot().sources[0]
    assert state.state == "error" and "PROM_TOKEN is not set" in state.detail


# --------------------------------------------------------------------------- classification


NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(("metrics", "klass"), [
    (ProbeMetrics(success=1, status=200, duration_s=0.01), "ok"),
    (ProbeMetrics(success=0, status=504), "proxy_gateway_timeout"),
    (ProbeMetrics(success=0, status=503), "app_5xx"),
    (ProbeMetrics(success=0, status=500), "app_5xx"),
    (ProbeMetrics(success=0, status=401), "unauthorized"),
    (ProbeMetrics(success=0, status=0, ip_protocol=4, duration_s=5.0,
                  phases_s={"connect": 0.0}), "connect_timeout"),
    (ProbeMetrics(success=0, status=0, ip_protocol=4, duration_s=0.01,
                  phases_s={"connect": 0.001}, https=True), "tls"),
    (ProbeMetrics(success=1, status=200, cert_expiry_epoch=NOW.timestamp() - 3600),
     "cert_expiring"),
    (ProbeMetrics(success=1, status=200, cert_expiry_epoch=NOW.timestamp() + 90 * 86400),
     "ok"),
])
def test_classes_from_metrics(metrics: ProbeMetrics, klass: str) -> None:
    assert classify_probe(metrics, NOW)[1] == klass


def test_an_expired_certificate_says_expired() -> None:
    ok, klass, reason = classify_probe(
        ProbeMetrics(success=1, status=200, cert_expiry_epoch=NOW.timestamp() - 3 * 86400), NOW)
    assert not ok and "expired 3 days ago" in reason


@pytest.mark.parametrize(("text", "seconds"), [("15s", 15.0), ("1m30s", 90.0),
                                               ("500ms", 0.5), ("2h", 7200.0), ("x", None)])
def test_prometheus_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds
