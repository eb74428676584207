"""Which container a proxy fronts, inferred from what the panes already show.

The console has no proxy configuration to read, so the link from "nginx answers 502" to
"crm-backend-1 is down" is inferred, strongest evidence first:

1. **The proxy names it.** nginx's error lines carry the upstream (``upstream:
   "http://backend:8000/api/..."``, ``host not found in upstream "backend:8000"``), Caddy
   and Traefik theirs (``dial tcp: lookup backend``). A name that is a container's name, its
   compose service, or ``<project>-<service>-N`` is that container.
2. **The proxy answers 502/504 and a container near it is down.** A health endpoint whose
   class is ``proxy_bad_gateway`` or ``proxy_gateway_timeout`` (or proxy upstream lines that
   name only an address, which a stopped container no longer has) says *some* backend is
   gone. The candidates are the stopped app containers of the compose project of a running
   proxy container on that server; when the proxy is not a container the console sees (nginx
   on the host, its error log followed as a file), every stopped app container of the
   server is a candidate.

Never candidates: proxies themselves; databases, caches and brokers (their loss shows as
the backend's dependency failure, not as a 502); one-shot jobs (``migrate``, ``init``,
``seed``...). A stopped container with no proxy 502/504 on its server and no upstream line
naming it is not "behind a proxy" at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from console.engine.diagnosis.logscan import UpstreamFailure, upstream_failure
from console.engine.diagnosis.model import Endpoint, ServerInput
from console.models import ContainerInfo, LogLine

__all__ = [
    "BAD_GATEWAY_CLASSES",
    "DOWN_STATES",
    "Fronting",
    "UpstreamLine",
    "direct_endpoints",
    "fronted_backends",
    "is_dependency",
    "is_proxy",
    "match_container",
    "upstream_lines",
]

BAD_GATEWAY_CLASSES = frozenset({"proxy_bad_gateway", "proxy_gateway_timeout"})
DOWN_STATES = frozenset({"exited", "dead", "created", "paused", "restarting"})

_PROXY_WORDS = ("nginx", "openresty", "caddy", "traefik", "haproxy", "envoy", "varnish",
                "httpd", "apache", "proxy", "tengine", "angie")
_DEPENDENCY_WORDS = ("postgres", "postgis", "mysql", "mariadb", "redis", "valkey", "mongo",
                     "rabbitmq", "memcached", "elasticsearch", "opensearch", "kafka",
                     "zookeeper", "nats", "qdrant", "minio", "etcd")
# Containers no proxy fronts: one-shot jobs, and queue consumers and schedulers (they listen
# on no port a proxy could send a request to).
_JOB_WORDS = ("migrat", "init", "seed", "setup", "bootstrap", "backup", "cron", "job",
              "certbot", "worker", "consumer", "scheduler", "celery", "sidekiq", "beat")
_IP = re.compile(r"^[\d.]+$|^[0-9a-f:]+$")


def _words(info: ContainerInfo) -> str:
    image = info.image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return f"{info.name} {info.service or ''} {image}".lower()


def is_proxy(info: ContainerInfo) -> bool:
    """A reverse proxy, judged by image, service and container name."""
    return any(word in _words(info) for word in _PROXY_WORDS)


def is_dependency(info: ContainerInfo) -> bool:
    """A database, cache or broker: what a backend depends on, not what a proxy fronts."""
    return any(word in _words(info) for word in _DEPENDENCY_WORDS)


def _is_job(info: ContainerInfo) -> bool:
    name = f"{info.name} {info.service or ''}".lower()
    return any(word in name for word in _JOB_WORDS)


def match_container(containers: Iterable[ContainerInfo], host: str) -> ContainerInfo | None:
    """The container a host name in a proxy line or URL means, if any.

    Docker's embedded DNS answers a compose service name, a container name and a network
    alias; the first two are what the console knows.
    """
    wanted = host.lower().rstrip(".")
    if not wanted or _IP.match(wanted):
        return None
    found: list[ContainerInfo] = []
    for info in containers:
        name = info.name.lower()
        if name == wanted:
            return info
        service = (info.service or "").lower()
        if service == wanted or re.fullmatch(rf"(?:[\w.-]+[-_])?{re.escape(wanted)}[-_]\d+",
                                             name):
            found.append(info)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class UpstreamLine:
    """A proxy's line about a failed upstream, with what it names."""

    line: LogLine
    failure: UpstreamFailure


def upstream_lines(server: ServerInput) -> list[UpstreamLine]:
    """Every proxy upstream failure in the server's recent lines, oldest first."""
    out: list[UpstreamLine] = []
    for line in server.log_lines:
        failure = upstream_failure(line.text)
        if failure is not None:
            out.append(UpstreamLine(line, failure))
    return out


@dataclass(frozen=True, slots=True)
class Fronting:
    """A stopped container some proxy fronts, and why the console believes it does."""

    backend: ContainerInfo
    proxy: ContainerInfo | None
    named_by: tuple[UpstreamLine, ...]  # upstream lines naming it
    unnamed: tuple[UpstreamLine, ...]  # upstream lines naming only an address or a group
    endpoints: tuple[Endpoint, ...]  # proxy 502/504 health endpoints on its server
    how: str  # the inference, in words, for the evidence

    @property
    def lines(self) -> tuple[UpstreamLine, ...]:
        return self.named_by + self.unnamed


def _down_apps(server: ServerInput, crashing: frozenset[str]) -> list[ContainerInfo]:
    """App containers that serve nothing: stopped, or ``crashing`` (a crash loop caught
    "running" in the second between two restarts is down all the same)."""
    return [c for c in server.containers
            if (c.state in DOWN_STATES or c.name in crashing) and not is_proxy(c)
            and not is_dependency(c)]


def fronted_backends(server: ServerInput,
                     crashing: frozenset[str] = frozenset()) -> list[Fronting]:
    """The stopped (or ``crashing``) containers a proxy on ``server`` is failing to reach."""
    containers = server.containers
    proxies = [c for c in containers if is_proxy(c) and c.state == "running"]
    down = _down_apps(server, crashing)
    if not down:
        return []
    lines = upstream_lines(server)
    named: dict[str, list[UpstreamLine]] = {}
    unnamed: list[UpstreamLine] = []
    for item in lines:
        host = item.failure.host
        target = match_container(containers, host) if host else None
        if target is None:
            unnamed.append(item)
        else:
            named.setdefault(target.name, []).append(item)
    gateways = tuple(e for e in server.endpoints if e.klass in BAD_GATEWAY_CLASSES)
    out: list[Fronting] = []
    for info in down:
        by_name = tuple(named.get(info.name, ()))
        proxy = _proxy_near(info, proxies)
        if by_name:
            how = f"{_sources(by_name)} names it as its upstream"
            out.append(Fronting(info, proxy, by_name, (), gateways, how))
            continue
        if not (gateways or unnamed) or _is_job(info):
            continue
        if proxies and proxy is None:
            continue  # the proxies here belong to other projects
        near = (f"the proxy {proxy.name} of the same compose project" if proxy is not None
                else "a proxy that is not a container here")
        how = f"{near} answers 502/504 and {info.name} is down"
        out.append(Fronting(info, proxy, (), tuple(unnamed), gateways, how))
    return out


# A stopped container refuses; one in a crash loop may also accept and hang up (protocol)
# or accept and never answer (read_timeout) while it starts and dies again.
_DIRECT_CLASSES = frozenset({"refused", "connect_timeout", "connect_failed", "protocol",
                             "read_timeout"})
_LOOPBACK = re.compile(r"^(?:127\.[\d.]+|localhost|0\.0\.0\.0|\[?::1\]?)$")


def direct_endpoints(server: ServerInput, info: ContainerInfo,
                     crashing: frozenset[str] = frozenset()) -> tuple[Endpoint, ...]:
    """Endpoints probing a stopped container directly (not through the proxy) and refused.

    The console does not know which published port is whose, so an endpoint is the
    container's when its URL host names the container, when its name is the container's
    compose service ("backend"), or when its URL is a loopback port and this is the only
    stopped app container on the server.
    """
    if info.state not in DOWN_STATES and info.name not in crashing:
        return ()
    down = _down_apps(server, crashing)
    out: list[Endpoint] = []
    for endpoint in server.endpoints:
        if endpoint.klass not in _DIRECT_CLASSES:
            continue
        host = endpoint.url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        named = match_container(server.containers, host)
        if named is not None:
            if named.name == info.name:
                out.append(endpoint)
        elif endpoint.name.lower() in (info.service or "", info.name.lower()) or (
                _LOOPBACK.match(host) and down == [info]):
            out.append(endpoint)
    return tuple(out)


def _proxy_near(info: ContainerInfo, proxies: list[ContainerInfo]) -> ContainerInfo | None:
    for proxy in proxies:
        if proxy.project is not None and proxy.project == info.project:
            return proxy
    return None


def _sources(lines: Iterable[UpstreamLine]) -> str:
    return ", ".join(dict.fromkeys(item.line.source for item in lines))
