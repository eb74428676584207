"""A proxy's own 5xx page against the backend's 5xx that the proxy only passed on.

The ``Server`` header names the proxy on both (nginx and Envoy replace the backend's), so
the classifier reads the body and its content type. Each proxy's own answer below is
written as that proxy writes it; the source is cited beside it.
"""

from __future__ import annotations

import json

import httpx
import pytest

from console.config import HealthCheck
from console.engine.health import Answer, classify_response

CHECK = HealthCheck(name="api", url="http://h/health")


def answer(status: int, body: bytes | str, headers: dict[str, str]) -> Answer:
    if isinstance(body, str):
        body = body.encode()
    return Answer(status=status, headers=httpx.Headers(headers), body=body, truncated=False,
                  latency_ms=2.0)


def classify(status: int, body: bytes | str, headers: dict[str, str]) -> tuple[str, str]:
    klass, reason, _days = classify_response(CHECK, answer(status, body, headers))
    return klass, reason


# nginx's built-in pages, from nginx/nginx src/http/ngx_http_special_response.c:
# ngx_http_error_502_page / _503_page / _504_page, followed by ngx_http_error_full_tail
# ("<hr><center>" NGINX_VER "</center>", server_tokens on) or ngx_http_error_tail
# ("<hr><center>nginx</center>", server_tokens off); sent as text/html. Lines end in CRLF.
NGINX_TITLES = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable",
                504: "504 Gateway Time-out"}


def nginx_page(status: int, version: str | None) -> str:
    title = NGINX_TITLES[status]
    tail = f"nginx/{version}" if version else "nginx"
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body bgcolor=\"white\">\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>{tail}</center>\r\n"
            "</body>\r\n</html>\r\n")


@pytest.mark.parametrize(("status", "klass", "meaning"), [
    (502, "proxy_bad_gateway", "proxy up, backend down"),
    (503, "proxy_unavailable", "proxy up, no backend available"),
    (504, "proxy_gateway_timeout", "proxy up, backend too slow (the proxy gave up waiting)"),
])
@pytest.mark.parametrize("version", ["1.25.3", None])
def test_nginx_own_error_pages_are_the_proxy_speaking(status: int, klass: str, meaning: str,
                                                      version: str | None) -> None:
    server = f"nginx/{version}" if version else "nginx"
    got = classify(status, nginx_page(status, version),
                   {"server": server, "content-type": "text/html"})
    assert got == (klass, f"nginx answered {status}: {meaning}")


def test_the_backend_503_passed_on_by_nginx_is_the_apps_answer() -> None:
    """The backend's own "degraded" answer, with nginx's Server header on it."""
    body = json.dumps({"status": "degraded", "auth": "unreachable"})
    got = classify(503, body, {"server": "nginx/1.25.3", "content-type": "application/json"})
    assert got == ("app_5xx", "the app answered 503 Service Unavailable through nginx: "
                              "degraded (auth: unreachable)")


@pytest.mark.parametrize("status", [502, 503, 504])
def test_any_backend_5xx_in_json_through_nginx_is_the_apps(status: int) -> None:
    body = json.dumps({"error": "upstream payment service timed out"})
    klass, reason = classify(status, body, {"server": "nginx",
                                            "content-type": "application/json"})
    assert klass == "app_5xx"
    assert reason.startswith(f"the app answered {status} ")
    assert reason.endswith("through nginx: upstream payment service timed out")


def test_a_plain_text_sentence_from_the_backend_through_nginx_is_the_apps() -> None:
    got = classify(503, "database connection refused\n",
                   {"server": "nginx", "content-type": "text/plain"})
    assert got == ("app_5xx", "the app answered 503 Service Unavailable through nginx")


def test_a_custom_html_error_page_on_nginx_is_still_the_proxy() -> None:
    page = "<!doctype html><title>Down for maintenance</title><p>Back soon.</p>"
    got = classify(502, page, {"server": "nginx", "content-type": "text/html"})
    assert got[0] == "proxy_bad_gateway"


# Caddy writes no body of its own: without error routes, modules/caddyhttp/server.go
# (caddyserver/caddy) answers a handler error with w.WriteHeader(errStatus) only, and every
# response carries "Server: Caddy". Proxying, it keeps the backend's Server header beside
# its own (reverseproxy copies the backend's headers onto the response).
def test_caddy_own_502_is_an_empty_body() -> None:
    got = classify(502, b"", {"server": "Caddy"})
    assert got == ("proxy_bad_gateway", "Caddy answered 502: proxy up, backend down")


def test_caddy_passing_on_the_backends_503() -> None:
    body = json.dumps({"status": "error", "database": "down"})
    got = classify(503, body, {"server": "Caddy", "content-type": "application/json"})
    assert got == ("app_5xx", "the app answered 503 Service Unavailable through Caddy: "
                              "error (database: down)")


def test_caddy_with_the_backends_own_server_header_is_the_app() -> None:
    got = classify(502, json.dumps({"detail": "worker crashed"}),
                   {"server": "Caddy, uvicorn", "content-type": "application/json"})
    assert got == ("app_5xx", "the app answered 502 Bad Gateway: worker crashed")


# Traefik's own: pkg/proxy/httputil/proxy.go (traefik/traefik) ErrorHandlerWithContext
# writes the status and http.StatusText(status) as the whole body ("Bad Gateway",
# "Gateway Timeout"), which Go serves as text/plain; charset=utf-8. Traefik sets no Server
# header of its own.
@pytest.mark.parametrize(("status", "text", "klass"), [
    (502, "Bad Gateway", "proxy_bad_gateway"),
    (504, "Gateway Timeout", "proxy_gateway_timeout"),
])
def test_traefik_own_answers_are_its_status_text(status: int, text: str, klass: str) -> None:
    got = classify(status, text, {"content-type": "text/plain; charset=utf-8"})
    assert got[0] == klass
    assert got[1].startswith(f"a proxy (no Server header) answered {status}: proxy up")


def test_traefik_passing_on_the_backends_502() -> None:
    body = json.dumps({"message": "could not reach the auth service"})
    got = classify(502, body, {"content-type": "application/json"})
    assert got == ("app_5xx", "the app answered 502 Bad Gateway through a proxy (no Server "
                              "header): could not reach the auth service")


# Envoy's local replies are one line of text/plain with "server: envoy": "upstream connect
# error or disconnect/reset before headers. reset reason: connection failure" (503, shown in
# projectcontour/contour site/content/docs/main/troubleshooting/common-errors.md), "no
# healthy upstream" (503, UH) and "upstream request timeout" (504, UT). What it passes on
# from a backend carries x-envoy-upstream-service-time (envoyproxy/envoy router filter docs).
@pytest.mark.parametrize(("status", "text", "klass"), [
    (503, "upstream connect error or disconnect/reset before headers. reset reason: "
          "connection failure", "proxy_unavailable"),
    (503, "upstream connect error or disconnect/reset before headers. reset reason: "
          "connection failure, transport failure reason: delayed connect error: 111",
     "proxy_unavailable"),
    (503, "no healthy upstream", "proxy_unavailable"),
    (504, "upstream request timeout", "proxy_gateway_timeout"),
])
def test_envoy_local_replies_are_the_proxy_speaking(status: int, text: str,
                                                    klass: str) -> None:
    got = classify(status, text, {"server": "envoy", "content-type": "text/plain"})
    assert got[0] == klass and got[1].startswith(f"envoy answered {status}: proxy up")


def test_envoy_passing_on_the_backends_503() -> None:
    body = json.dumps({"status": "unhealthy", "checks": {"redis": {"status": "timeout"}}})
    got = classify(503, body, {"server": "envoy", "content-type": "application/json",
                               "x-envoy-upstream-service-time": "4"})
    assert got == ("app_5xx", "the app answered 503 Service Unavailable through envoy: "
                              "unhealthy (checks.redis: timeout)")


def test_envoy_marks_even_a_plain_text_backend_answer_as_passed_on() -> None:
    got = classify(502, "Bad Gateway", {"server": "envoy", "content-type": "text/plain",
                                        "x-envoy-upstream-service-time": "12"})
    assert got == ("app_5xx", "the app answered 502 Bad Gateway through envoy")


def test_a_json_error_body_names_the_failing_parts() -> None:
    """A health document in the Spring Boot actuator shape: nested statuses."""
    body = json.dumps({"status": "DOWN", "components": {
        "db": {"status": "DOWN", "details": {"error": "connection refused"}},
        "disk": {"status": "UP"}}})
    got = classify(503, body, {"server": "jetty", "content-type": "application/json"})
    assert got[0] == "app_5xx"
    assert got[1] == ("the app answered 503 Service Unavailable: DOWN (components.db: DOWN, "
                      "components.db.details.error: connection refused)")


def test_more_than_three_failing_parts_are_counted_not_listed() -> None:
    body = json.dumps({"detail": "degraded", **{f"dep{i}": "down" for i in range(5)}})
    _klass, reason = classify(500, body, {"content-type": "application/json"})
    assert reason.endswith(": degraded (dep0: down, dep1: down, dep2: down, +2 more)")
