"""What a log line says, in the few words a rule needs: pure text parsing, no state.

The phrasings are the ones of the incidents and of the software they ran: nginx's error log
(``connect() failed (111: Connection refused) while connecting to upstream, client: ...,
request: "POST /api/v1/auth/login HTTP/1.1", upstream: "http://backend:8000/..."``), Caddy
and Traefik (``dial tcp: lookup backend on 127.0.0.11:53: no such host``), Python clients
(``psycopg2.OperationalError: connection to server at "db" (172.18.0.2), port 5432 failed:
Connection refused``, ``httpx.ConnectError: [Errno -2] Name or service not known``), Node
(``connect ECONNREFUSED 172.18.0.5:8081``, ``getaddrinfo ENOTFOUND auth``), and the apps'
own startup checks (``RuntimeError: CRITICAL: JWT_SECRET not configured``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DependencyFailure",
    "FailureKind",
    "failure_kind",
    "dependency_failure",
    "login_actors",
    "missing_secret_names",
    "proxy_request_path",
    "upstream_failure",
]

FailureKind = Literal["dns", "refused", "timeout", "unreachable"]

# Checked in this order: a DNS failure often also says "failed to connect", and a refused
# connection's retry loop often ends in "timed out".
_KIND_WORDS: tuple[tuple[FailureKind, tuple[str, ...]], ...] = (
    ("dns", ("name or service not known", "could not translate host name",
             "temporary failure in name resolution", "nodename nor servname", "no such host",
             "enotfound", "could not be resolved", "host not found", "name resolution",
             "unknown host", "no address associated with hostname", "eai_again",
             "failed to resolve", "name does not resolve")),
    ("refused", ("connection refused", "econnrefused", "errno 111]", "(111:",
                 "actively refused", "connect: connection refused")),
    ("timeout", ("timed out", "etimedout", "(110:", "connecttimeout", "connect timeout",
                 "connection timeout", "readtimeout", "read timeout", "deadline exceeded",
                 "i/o timeout")),
    ("unreachable", ("no route to host", "network is unreachable", "ehostunreach",
                     "enetunreach", "(113:")),
)

KIND_WORDS: dict[str, str] = {
    "dns": "its name does not resolve (DNS)",
    "refused": "connection refused: nothing listens there",
    "timeout": "no answer in time (timeout)",
    "unreachable": "no route to it (network unreachable)",
}


def failure_kind(text: str) -> FailureKind | None:
    """``dns``, ``refused``, ``timeout`` or ``unreachable`` when the line reports one."""
    lowered = text.lower()
    for kind, words in _KIND_WORDS:
        if any(word in lowered for word in words):
            return kind
    return None


# --------------------------------------------------------------------------- proxies

_NGINX_UPSTREAM = re.compile(r'upstream: "(?:[a-z]+://)?\[?([^\]/":]+)\]?(?::(\d+))?')
_NGINX_HOST_NOT_FOUND = re.compile(r'host not found in upstream "([^":/]+)(?::(\d+))?')
_DIAL = re.compile(r"dial tcp(?::| ) ?(?:lookup )?([A-Za-z0-9_.\-]+)(?::(\d+))?")
_UPSTREAM_WORDS = ("while connecting to upstream", "upstream timed out", "no live upstreams",
                   "upstream prematurely closed", "host not found in upstream", "dial tcp",
                   "while reading response header from upstream", "upstream sent")
_REQUEST = re.compile(r'request: "[A-Z]+ (\S+) HTTP/')
_ACCESS_REQUEST = re.compile(r'"[A-Z]+ (\S+) HTTP/[\d.]+" (50[234]) ')


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    """A proxy's line about an upstream it could not use: which host, and how it failed."""

    host: str | None  # a name ("backend"), an address ("172.18.0.3"), or an upstream group
    port: str | None
    kind: FailureKind | None


def upstream_failure(text: str) -> UpstreamFailure | None:
    """The upstream a proxy's error line names, or None when the line is not about one."""
    lowered = text.lower()
    if not any(word in lowered for word in _UPSTREAM_WORDS):
        return None
    kind = failure_kind(text)
    if "no live upstreams" in lowered:
        kind = kind or "refused"
    for pattern in (_NGINX_HOST_NOT_FOUND, _NGINX_UPSTREAM, _DIAL):
        match = pattern.search(text)
        if match:
            return UpstreamFailure(match.group(1), match.group(2), kind)
    return UpstreamFailure(None, None, kind)


def proxy_request_path(text: str) -> str | None:
    """The path of the request a proxy line is about (``/api/v1/auth/login``)."""
    match = _REQUEST.search(text) or _ACCESS_REQUEST.search(text)
    if match is None:
        return None
    return match.group(1).split("?", 1)[0]


# --------------------------------------------------------------------------- dependencies

_URL = re.compile(r"\b(?:https?|postgres(?:ql)?|mysql|mariadb|redis|rediss|amqps?|mongodb"
                  r"(?:\+srv)?|nats|grpc)(?:\+\w+)?://(?:[^@/\s'\"]*@)?([A-Za-z0-9_.\-]+)"
                  r"(?::(\d+))?")
_PG_SERVER = re.compile(r'server at "([^"]+)"(?: \([^)]*\))?, port (\d+)')
_PG_HOSTNAME = re.compile(r'(?:translate host name|host name|hostname|host) "([^"]+)"')
_NODE = re.compile(r"(?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH) "
                   r"([A-Za-z0-9_.\-]+)(?::(\d+))?")
_LOOKUP = re.compile(r"lookup ([A-Za-z0-9_.\-]+)(?: on [\d.:]+)?:")
_IPPORT = re.compile(r"\b((?:\d{1,3}\.){3}\d{1,3}):(\d{2,5})\b")
_ADDRESS = re.compile(r"^(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F:]*:[0-9a-fA-F:]+|localhost)$")
_HOSTPORT = re.compile(r"(?<![\w./:@-])([A-Za-z][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*):"
                       r"(\d{2,5})\b(?![:\d])")
# A service named in words, when the line gives no host: the most specific first.
_NAMED = (
    ("auth service", ("auth service", "auth-service", "auth_service", "authservice",
                      "authentication service", "auth server")),
    ("postgres", ("postgres", "psycopg", "asyncpg", "pg_hba")),
    ("mysql", ("mysql", "mariadb")),
    ("redis", ("redis",)),
    ("mongodb", ("mongodb", "mongo ")),
    ("rabbitmq", ("rabbitmq", "amqp")),
    ("elasticsearch", ("elasticsearch",)),
    ("database", ("database", " db ")),
)


@dataclass(frozen=True, slots=True)
class DependencyFailure:
    """An app's line saying it could not reach something: what, and how it failed."""

    kind: FailureKind
    dependency: str  # "db:5432", "auth service", "redis"...
    host: str | None = None  # the host part, when the line names one


def dependency_failure(text: str) -> DependencyFailure | None:
    """The dependency an app line says it failed to reach, or None."""
    kind = failure_kind(text)
    if kind is None:
        return None
    host, port = _named_host(text)
    lowered = f" {text.lower()} "
    named = next((name for name, words in _NAMED if any(word in lowered for word in words)),
                 None)
    if host is not None:
        where = f"{host}:{port}" if port else host
        if named is not None and _ADDRESS.match(host):
            # An address says where, not what: "auth service (127.0.0.1:8100)" joins the
            # health body's "auth": unreachable as one dependency.
            return DependencyFailure(kind, f"{named} ({where})", host)
        return DependencyFailure(kind, where, host)
    if named is not None:
        return DependencyFailure(kind, named)
    return None


def _named_host(text: str) -> tuple[str | None, str | None]:
    for pattern in (_PG_SERVER, _URL, _NODE, _LOOKUP, _PG_HOSTNAME, _IPPORT, _HOSTPORT):
        match = pattern.search(text)
        if match is not None:
            port = match.group(2) if (match.lastindex or 0) >= 2 else None
            return match.group(1), port
    return None, None


# --------------------------------------------------------------------------- secrets

_ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
_WORD = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def missing_secret_names(text: str, known: Iterable[str] = ()) -> list[str]:
    """The setting names a startup failure line names (``JWT_SECRET``), in line order.

    An UPPER_SNAKE word is a setting name; a known name (a required secret) counts in any
    case, so pydantic's ``jwt_secret  Field required`` names ``JWT_SECRET`` too.
    """
    wanted = {name.upper(): name for name in known}
    found: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        name = wanted.get(word.upper())
        if name is None and _ENV_NAME.fullmatch(word):
            name = word
        if name is not None and name not in found:
            found.append(name)
    return found


# --------------------------------------------------------------------------- logins

_IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
_IP_AT = (
    re.compile(rf"client: ({_IPV4})"),
    re.compile(rf"\bfrom (?:ip )?({_IPV4})\b"),
    re.compile(rf"\b(?:ip|client_ip|remote_addr|remote|src|addr)[=:] ?\"?({_IPV4})"),
    re.compile(rf"^\s*({_IPV4}) "),
    re.compile(rf"\b({_IPV4})\b"),
)
_EMAIL = re.compile(r"[A-Za-z0-9_.+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_USER_AT = (
    re.compile(r"failed password for (?:invalid user )?(\S+) from", re.IGNORECASE),
    re.compile(r"invalid user (\S+) from", re.IGNORECASE),
    re.compile(r"\b(?:user|username|login|email)[=:] ?['\"]?([^\s'\",;]+)", re.IGNORECASE),
    re.compile(r"\b(?:for|user) (?:user )?['\"]?([A-Za-z0-9_.@+\-]{2,64})['\"]?"
               r"(?:[.,;:]|\s|$)", re.IGNORECASE),
)
_NOT_USERS = frozenset({"user", "the", "a", "an", "invalid", "unknown", "login", "password",
                        "email", "username", "not", "found"})


def login_actors(text: str) -> tuple[str | None, str | None]:
    """``(client ip, user)`` a failed-login line names; either may be None."""
    ip = None
    for pattern in _IP_AT:
        match = pattern.search(text)
        if match is not None:
            ip = match.group(1)
            break
    email = _EMAIL.search(text)
    if email is not None:
        return ip, email.group(0).lower()
    for pattern in _USER_AT:
        match = pattern.search(text)
        if match is not None:
            user = match.group(1).strip(".,;:'\"")
            if user.lower() not in _NOT_USERS and not re.fullmatch(_IPV4, user):
                return ip, user
    return ip, None
