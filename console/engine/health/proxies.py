"""Who answered a 502, 503 or 504: a proxy, in its own words, or the app behind it.

A proxy in front of the app answers for it twice over. When the backend cannot be reached
the proxy writes its *own* error page: that is the "proxy up, backend down" news. When the
backend answers, even with a 503, the proxy passes that answer on unchanged, and the
``Server`` header still names the proxy (nginx and Envoy replace the backend's). So the
header says a proxy was on the way; only the body and its content type say who wrote the
answer:

- a proxy's own pages are HTML (nginx, HAProxy), one line of plain text (Envoy's "upstream
  connect error or disconnect/reset before headers", Traefik's "Bad Gateway"), or empty
  (Caddy);
- a backend's health endpoint answers JSON, or a sentence of its own;
- Envoy marks what it passed on with ``x-envoy-upstream-service-time``.
"""

from __future__ import annotations

from console.engine.health.answer import BODY_PREVIEW_BYTES, Answer, clip, parse_json

__all__ = ["PROXY_STATUS", "passed_through", "proxy_name"]

PROXY_STATUS = {
    502: ("proxy_bad_gateway", "proxy up, backend down"),
    503: ("proxy_unavailable", "proxy up, no backend available"),
    504: ("proxy_gateway_timeout", "proxy up, backend too slow (the proxy gave up waiting)"),
}
# Server header products that are proxies / load balancers, and ones that are app servers
# (a 502 *they* send is the app's own answer, not a gateway error).
_PROXIES = frozenset({
    "nginx", "openresty", "tengine", "angie", "apache", "httpd", "haproxy", "envoy",
    "istio-envoy", "caddy", "traefik", "cloudflare", "varnish", "squid", "awselb", "elb",
    "akamaighost", "cloudfront", "litespeed", "microsoft-iis", "pingora", "kong", "gfe",
    "google", "h2o", "lighttpd",
})
_APP_SERVERS = frozenset({
    "uvicorn", "gunicorn", "hypercorn", "werkzeug", "waitress", "daphne", "granian",
    "basehttp", "python", "simplehttp", "tornadoserver", "kestrel", "jetty", "puma",
    "thin", "webrick", "cowboy", "express", "node", "deno", "gin", "rocket", "actix-web",
    "aiohttp", "sanic", "starlette", "bun",
})
# The one-line plain-text answers proxies write themselves, lower-cased prefixes: Envoy's
# local replies (connection failure, no healthy host, route timeout), and the reason
# phrases Go's net/http proxies (Traefik) and many others write as the whole body.
_OWN_TEXT = (
    "upstream connect error or disconnect/reset before headers",
    "no healthy upstream",
    "upstream request timeout",
    "bad gateway",
    "service unavailable",
    "service temporarily unavailable",
    "gateway timeout",
    "gateway time-out",
    "no server is available to handle this request",
)
_PASSED_ON_HEADERS = ("x-envoy-upstream-service-time",)


def _products(server: str) -> list[str]:
    """``"Caddy, uvicorn"`` -> ``["caddy", "uvicorn"]``: a proxy that keeps the backend's
    ``Server`` header adds its own beside it."""
    return [part.strip().split("/")[0].split(" ")[0].lower()
            for part in server.split(",") if part.strip()]


def proxy_name(answer: Answer) -> str | None:
    """Who sent a 502/503/504, when it looks like a proxy rather than the app itself.

    A known proxy product in ``Server``, or a ``Via`` header, is proof. Failing that, a 502
    or 504 from anything that is not a known app server is almost always a gateway, so it
    is named after its ``Server`` header (or "a proxy"). A bare 503 stays the app's: health
    endpoints commonly answer 503 themselves when a dependency is down.
    """
    server = answer.headers.get("server", "").strip()
    products = _products(server)
    if any(p in _APP_SERVERS for p in products) or "x-powered-by" in answer.headers:
        return None
    for part, product in zip(server.split(","), products, strict=False):
        if product in _PROXIES:
            return clip(part.strip().split("/")[0].split(" ")[0], 30)
    if b"<center>nginx" in answer.body[:BODY_PREVIEW_BYTES]:
        return "nginx"
    via = answer.headers.get("via", "").strip()
    if via:
        return f"a proxy (Via: {clip(via, 40)})"
    if answer.status in (502, 504):
        return clip(server, 30) if server else "a proxy (no Server header)"
    return None


def passed_through(answer: Answer) -> bool:
    """Whether a proxy's 5xx is the backend's own answer, passed on, not the proxy's page.

    Decided by the body: JSON, or plain text that is none of the proxies' own lines, was
    written by the backend. An empty body, an HTML page, or one of those lines is the
    proxy's (a custom ``error_page`` is HTML too).
    """
    if any(name in answer.headers for name in _PASSED_ON_HEADERS):
        return True
    body = answer.body.strip()
    if not body:
        return False
    if not answer.truncated and isinstance(parse_json(body), dict | list):
        return True
    content_type = answer.headers.get("content-type", "").lower()
    if "html" in content_type or body.startswith(b"<"):
        return False
    text = body[:200].decode("utf-8", "replace").strip().lower()
    return not text.startswith(_OWN_TEXT)
