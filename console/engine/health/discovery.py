"""Zero-config health: find /health endpoints on the containers' published ports.

A port is a health port when the first of ``DISCOVERY_PATHS`` that answers gives a 2xx that
is not an HTML page, or a 5xx (an unhealthy service, or a proxy with its backend down:
exactly what the operator needs to see).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from console.config import HealthCheck, ServerConfig
from console.engine import dockerapi
from console.engine.health.answer import Answer, parse_json
from console.engine.health.probe import Phase, fetch
from console.engine.host_api import Host
from console.engine.http_transport import ClientPool
from console.engine.shared import COMPOSE_PROJECT_LABEL

__all__ = [
    "DISCOVERY_INTERVAL",
    "DISCOVERY_PATHS",
    "DISCOVERY_TIMEOUT",
    "Discovery",
    "PortLister",
    "PublishedPort",
    "discover_checks",
    "parse_published_ports",
    "published_ports",
]

log = logging.getLogger(__name__)

DISCOVERY_PATHS = ("/health", "/healthz", "/api/health")
DISCOVERY_TIMEOUT = 2.0
DISCOVERY_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class PublishedPort:
    """A container port published on the server, as ``docker ps`` lists it."""

    container: str
    ip: str  # where to connect, seen from the server: 0.0.0.0 becomes 127.0.0.1
    port: int
    private_port: int

    def url(self, path: str) -> str:
        scheme = "https" if self.private_port in (443, 8443) else "http"
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{scheme}://{host}:{self.port}{path}"


def parse_published_ports(rows: Iterable[Mapping[str, Any]],
                          project: str | None = None) -> list[PublishedPort]:
    """Published TCP ports from the Docker list-containers API, one per (address, port).

    ``0.0.0.0`` and ``::`` listen everywhere, so they are reached at 127.0.0.1; the IPv6
    twin of an IPv4 binding is dropped rather than probed twice.
    """
    found: dict[tuple[str, int], PublishedPort] = {}
    for row in rows:
        labels = row.get("Labels") or {}
        if project and labels.get(COMPOSE_PROJECT_LABEL) != project:
            continue
        names = row.get("Names") or []
        name = names[0].lstrip("/") if names else str(row.get("Id", "?"))[:12]
        for port in row.get("Ports") or []:
            public = port.get("PublicPort")
            if not public or port.get("Type", "tcp") != "tcp":
                continue
            ip = _reach_ip(str(port.get("IP") or ""))
            key = (ip, int(public))
            if key not in found and ("127.0.0.1", int(public)) not in found:
                found[key] = PublishedPort(name, ip, int(public), int(port.get("PrivatePort", 0)))
    return sorted(found.values(), key=lambda p: (p.container, p.port))


def _reach_ip(ip: str) -> str:
    if ip in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(ip).is_unspecified:
            return "127.0.0.1"
    return ip


async def discover_checks(client: httpx.AsyncClient, ports: Sequence[PublishedPort], *,
                          timeout: float = DISCOVERY_TIMEOUT,
                          interval: float = 10.0) -> list[tuple[PublishedPort, HealthCheck | None]]:
    """For each port that answered HTTP: the health check found on it, or None.

    A port is a health port when the first of DISCOVERY_PATHS that answers gives a 2xx
    that is not an HTML page (a single-page app answers 200 to any path) or a 5xx (an
    unhealthy service, or a proxy with its backend down: exactly what the operator needs
    to see). Ports that did not answer HTTP at all are left out, so a caller can try them
    again later (a container still starting). All ports are tried at once.
    """
    results = await asyncio.gather(*(_discover_port(client, p, timeout, interval)
                                     for p in ports))
    return [(port, check) for port, (answered, check) in zip(ports, results, strict=True)
            if answered]


async def _discover_port(client: httpx.AsyncClient, port: PublishedPort, timeout: float,
                         interval: float) -> tuple[bool, HealthCheck | None]:
    """``(answered_http, check)`` for one port."""
    answered = False
    for path in DISCOVERY_PATHS:
        check = HealthCheck(name=f"{port.container}:{port.port}{path}", url=port.url(path),
                            from_="server", timeout=timeout, interval=interval)
        try:
            async with asyncio.timeout(timeout):
                answer = await fetch(client, check, Phase(), time.perf_counter())
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - not HTTP, or nothing there (yet)
            return answered, None
        answered = True
        if _looks_like_health(answer):
            return True, replace(check, timeout=5.0, expect_json=_inferred_expectation(answer))
    return answered, None


def _looks_like_health(answer: Answer) -> bool:
    if answer.status in (500, 502, 503, 504):
        return True
    content_type = answer.headers.get("content-type", "").lower()
    return 200 <= answer.status < 300 and "html" not in content_type


def _inferred_expectation(answer: Answer) -> dict[str, Any] | None:
    """``{"status": "ok"}`` when a healthy answer says so: a later "degraded" is then caught."""
    data = parse_json(answer.body) if 200 <= answer.status < 300 else None
    if isinstance(data, dict):
        value = data.get("status")
        if isinstance(value, str) and value.lower() in ("ok", "healthy", "up", "pass", "green"):
            return {"status": value}
    return None


async def published_ports(host: Host, project: str | None,
                          docker_clients: dockerapi.DockerClients | None = None
                          ) -> list[PublishedPort]:
    """Ask the server's Docker daemon (in the bounded pool) for its published ports."""
    clients = docker_clients or dockerapi.default_clients()
    docker = await clients.get(host)
    rows = await dockerapi.run_blocking(docker.api.containers)
    return parse_published_ports(rows, project)


PortLister = Callable[[Host, str | None], Awaitable[list[PublishedPort]]]
FoundCheck = Callable[[str, HealthCheck], bool]


@dataclass(slots=True)
class _ServerDiscovery:
    note: str = "looking for /health endpoints"
    done: bool = False
    tried: set[tuple[str, int]] = field(default_factory=set)
    found: set[str] = field(default_factory=set)


class Discovery:
    """The zero-config servers' discovery state, and one round of looking on each.

    ``found(server, check)`` is called for each health endpoint found, and answers whether
    it was new to the service (which then starts probing it). Endpoints once found are kept by the
    service even when their container stops: a stopped backend is exactly when its probe
    ("refused") matters most.
    """

    def __init__(self, servers: Iterable[ServerConfig], hosts: Mapping[str, Host],
                 clients: ClientPool, found: FoundCheck, *,
                 port_lister: PortLister | None = None) -> None:
        self._servers = {s.name: s for s in servers if s.discover_health}
        self._hosts = hosts
        self._clients = clients
        self._found = found
        self._port_lister: PortLister = port_lister or published_ports
        self._state = {name: _ServerDiscovery() for name in self._servers}
        self._lock = asyncio.Lock()

    def __bool__(self) -> bool:
        return bool(self._servers)

    def notes(self) -> dict[str, str]:
        """Per zero-config server, what discovery found or why it could not look."""
        return {name: state.note for name, state in self._state.items()}

    async def run_forever(self, interval: float) -> None:
        while True:
            try:
                await self.round(wait=False)
            except Exception:  # noqa: BLE001 - retried next round
                log.exception("health discovery failed")
            await asyncio.sleep(interval)

    async def round(self, *, wait: bool) -> None:
        """Look once on every zero-config server (``wait``: for one still connecting)."""
        async with self._lock:
            await asyncio.gather(*(self._discover_server(server, wait=wait)
                                   for server in self._servers.values()))

    async def _discover_server(self, server: ServerConfig, *, wait: bool) -> None:
        """Find new /health endpoints on the server's published ports and report them."""
        state = self._state[server.name]
        host = self._hosts.get(server.name)
        if host is None:
            state.note = "no connection object for this server"
            return
        if not host.status.is_up and wait:
            await host.wait_up(timeout=5.0)
        try:
            ports = await self._port_lister(host, server.compose_project)
        except Exception as exc:  # noqa: BLE001 - shown in the pane, retried later
            state.note = f"cannot list published ports: {dockerapi.describe_docker_error(exc)}"
            return
        fresh = [p for p in ports if (p.ip, p.port) not in state.tried]
        if fresh:
            client = self._clients.client(host, via_server=not server.is_local)
            for port, check in await discover_checks(client, fresh):
                state.tried.add((port.ip, port.port))
                if check is not None and self._found(server.name, check):
                    state.found.add(check.name)
        found = len(state.found)
        state.done = True
        state.note = (f"{found} health endpoint{'s' if found != 1 else ''} found on "
                      f"{len(ports)} published port{'s' if len(ports) != 1 else ''}")
