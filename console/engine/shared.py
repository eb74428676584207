"""Small helpers that several engine services need identically, kept in one place.

Each of these was once written out in two to four modules. They live here so that a fix
(a Docker label renamed, a retry policy tuned, a new kind of exception group) reaches every
service at once. Nothing here does I/O or imports another service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when used: pure consumers (the diagnosis) stay free of asyncio
    from console.engine import dockerapi

__all__ = [
    "CERT_WARN_DAYS",
    "COMPOSE_CONFIG_FILES_LABEL",
    "COMPOSE_PROJECT_LABEL",
    "COMPOSE_SERVICE_LABEL",
    "COMPOSE_WORKING_DIR_LABEL",
    "REFRESH_CONNECT_TIMEOUT",
    "RETRY_MAX",
    "RETRY_MIN",
    "LazyDockerClients",
    "chain_has",
    "exception_chain",
    "is_not_found",
    "retry_delay",
]

# The labels Docker Compose puts on every container (and volume) it creates.
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"
COMPOSE_WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
COMPOSE_CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"

REFRESH_CONNECT_TIMEOUT = 10.0
"""Seconds a headless round (``check``, ``report``) waits for a server still connecting."""

CERT_WARN_DAYS = 14
"""A TLS certificate expiring within this many days is a warning (engine and panes alike)."""

RETRY_MIN = 1.0
RETRY_MAX = 30.0


def retry_delay(attempt: int, *, base: float = RETRY_MIN, cap: float = RETRY_MAX) -> float:
    """Seconds before retry ``attempt`` (0-based): 1, 2, 4, ... and never over ``cap``.

    Exponential, so a server that stays down costs a retry every half minute at most,
    while one that blipped is back within a second or two.
    """
    return float(min(cap, base * 2 ** min(max(attempt, 0), 32)))


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then its causes and contexts, and the members of exception groups.

    Breadth first, each exception once (chains can loop). Library errors wrap the one that
    says what happened ("connection refused") several layers deep: classifiers look here.
    """
    seen: set[int] = set()
    queue = [exc]
    while queue:
        item = queue.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        if isinstance(item, BaseExceptionGroup):
            queue.extend(item.exceptions)
        for nxt in (item.__cause__, item.__context__):
            if nxt is not None:
                queue.append(nxt)


def chain_has(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``exc`` or anything in its chain is a ``kind``."""
    return any(isinstance(item, kind) for item in exception_chain(exc))


def is_not_found(exc: BaseException) -> bool:
    """A docker SDK error that means "no such container" (HTTP 404, or ``NotFound``).

    Checked by status and class name so that callers need not import docker (slow to import,
    and absent from the fakes the tests use).
    """
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status == 404 or type(exc).__name__ == "NotFound"


class LazyDockerClients:
    """Mixin: ``self.clients``, the process-wide docker client cache unless one was given.

    Created on first use, so a service built before any server is reachable (or in a test
    that never talks to Docker) costs nothing; set ``_clients`` in ``__init__``.
    """

    _clients: dockerapi.DockerClients | None

    @property
    def clients(self) -> dockerapi.DockerClients:
        if self._clients is None:
            from console.engine.dockerapi import default_clients

            self._clients = default_clients()
        return self._clients
