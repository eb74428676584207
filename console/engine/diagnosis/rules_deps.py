"""Rules about what a backend needs: its dependencies, and the TLS certificate in front.

A dependency failure is told apart three ways (refused: nothing listens; timeout: nothing
answers; DNS: the name does not resolve) from the backend's own log lines, and joined with
what the health endpoints say about it: incident 004's ``503 {"status": "degraded",
"auth": "unreachable"}`` names the dependency, the log says how it fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from console.engine.diagnosis.common import (
    Candidate,
    Claim,
    clip,
    container_evidence,
    container_state,
    earliest,
    endpoint_evidence,
    lines_evidence,
    recent,
)
from console.engine.diagnosis.logscan import (
    KIND_WORDS,
    DependencyFailure,
    dependency_failure,
    upstream_failure,
)
from console.engine.diagnosis.model import Endpoint, Evidence, Finding, Fix, ServerInput
from console.engine.diagnosis.rules_secrets import login_evidence
from console.engine.diagnosis.topology import is_proxy, match_container
from console.engine.shared import CERT_WARN_DAYS
from console.models import LogLine, Severity

__all__ = ["cert_expiring", "dependency_unreachable", "unhealthy_parts"]

DEPENDENCY_RECENT_S = 120.0  # a connection error older than this is history, not state
CERT_URGENT_DAYS = 7

_BAD_VALUES = frozenset({"unreachable", "down", "disconnected", "error", "failed", "failing",
                         "fail", "unavailable", "timeout", "timed out", "refused", "unhealthy",
                         "not connected", "not_connected", "offline", "dead", "critical",
                         "no connection", "connection refused"})
_SUMMARY_KEYS = frozenset({"status", "state", "health", "ok", "result", "overall", "message",
                           "detail", "error", "env", "environment", "version"})
_GENERIC = frozenset({"service", "server", "svc", "api", "http", "https", "the", "app",
                      "tcp", "host", "localhost"})
_FAILING_ANSWERS = frozenset({"app_5xx", "proxy_unavailable", "body_mismatch"})
_TOKEN = re.compile(r"[a-z][a-z0-9]*")


def unhealthy_parts(endpoint: Endpoint) -> list[tuple[str, str]]:
    """``(part, value)`` for each dependency a JSON health body reports as failing."""
    result = endpoint.result
    if result is None or result.ok or not result.body_preview:
        return []
    try:
        doc: Any = json.loads(result.body_preview)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    for nested in ("checks", "dependencies", "components", "details"):
        if isinstance(doc.get(nested), dict):
            doc = {**doc, **doc[nested]}
    out: list[tuple[str, str]] = []
    for key, value in doc.items():
        if not isinstance(key, str) or key.lower() in _SUMMARY_KEYS:
            continue
        if isinstance(value, dict):
            value = value.get("status", value.get("state"))
        if value is False or (isinstance(value, str) and value.strip().lower() in _BAD_VALUES):
            out.append((key, str(value).lower()))
    return out


def _tokens(name: str) -> frozenset[str]:
    return frozenset(t for t in _TOKEN.findall(name.lower()) if t not in _GENERIC)


@dataclass
class _Dependency:
    """What is known of one dependency on one server, gathered from lines and probes."""

    tokens: frozenset[str]
    name: str
    failures: list[tuple[LogLine, DependencyFailure]] = field(default_factory=list)
    reports: list[tuple[Endpoint, str, str]] = field(default_factory=list)

    def absorb(self, other: _Dependency) -> None:
        self.tokens |= other.tokens
        self.failures += other.failures
        self.reports += other.reports
        if not self.failures or ":" not in self.name:
            self.name = other.name if ":" in other.name else self.name


def _gather(server: ServerInput, now: datetime) -> list[_Dependency]:
    proxies = {c.name for c in server.containers if is_proxy(c)}
    # A line from before its container's current start is the previous container's (a
    # recreate keeps the name): the fixed client has not failed yet.
    started = {c.name: c.started_at for c in server.containers
               if c.state == "running" and c.started_at is not None}
    found: list[_Dependency] = []
    for line in recent(server.log_lines, now, DEPENDENCY_RECENT_S):
        if line.source in proxies or upstream_failure(line.text) is not None:
            continue
        since = started.get(line.source)
        if since is not None and line.time < since:
            continue
        failure = dependency_failure(line.text)
        if failure is not None:
            found.append(_Dependency(_tokens(failure.dependency), failure.dependency,
                                     failures=[(line, failure)]))
    for endpoint in server.endpoints:
        for part, value in unhealthy_parts(endpoint):
            found.append(_Dependency(_tokens(part), part, reports=[(endpoint, part, value)]))
    merged: list[_Dependency] = []
    for dep in found:
        home = next((m for m in merged if m.tokens & dep.tokens or m.name == dep.name), None)
        if home is None:
            merged.append(dep)
        else:
            home.absorb(dep)
    return merged


def dependency_unreachable(server: ServerInput, now: datetime) -> list[Candidate]:
    """The backend cannot reach something it needs; say what, and how it fails."""
    return [_finding(server, dep) for dep in _gather(server, now)]


def _finding(server: ServerInput, dep: _Dependency) -> Candidate:
    lines = [line for line, _ in dep.failures]
    kinds = [f.kind for _, f in dep.failures]
    kind = kinds[-1] if kinds else None
    clients = list(dict.fromkeys(line.source for line in lines))
    host = next((f.host for _, f in reversed(dep.failures) if f.host), None)
    target_info = match_container(server.containers, host) if host else None
    if target_info is None:
        target_info = next((c for c in server.containers
                            if _tokens(c.service or c.name) & dep.tokens
                            and c.name not in clients and not is_proxy(c)), None)
    endpoints = list(dict.fromkeys(e for e, _, _ in dep.reports))
    failing = [e for e in server.endpoints
               if e.klass in _FAILING_ANSWERS and e not in endpoints and lines]
    evidence: list[Evidence] = [*lines_evidence(server.name, lines, limit=2)]
    evidence += [endpoint_evidence(server.name, e) for e in [*endpoints, *failing][:3]]
    claims: set[Claim] = {("health", server.name, e.name) for e in [*endpoints, *failing]}
    # A client that fails its own healthcheck while it logs this failure: its health check
    # fails on the dependency (one cause, one finding).
    for info in server.containers:
        if info.name in clients and info.state == "running" and info.health == "unhealthy":
            evidence.append(container_evidence(server.name, info))
            claims.add(("container", server.name, info.name))
    login = server.login
    if login is not None and not login.ok and login.klass in ("app_5xx", "timeout"):
        evidence.append(login_evidence(server.name, login))
        claims.add(("login", server.name))
    client = ", ".join(clients) or "the backend"
    how = KIND_WORDS[kind] if kind else "reported failing by the health endpoint"
    count = f" (x{len(lines)} in {int(DEPENDENCY_RECENT_S // 60)} min)" if len(lines) > 1 else ""
    summary = f"{client} cannot reach {dep.name}: {how}{count}"
    for endpoint in endpoints[:1]:
        status = endpoint.result.status if endpoint.result is not None else None
        parts = ", ".join(f"{p}: {v}" for e, p, v in dep.reports if e is endpoint)
        summary += f"; {endpoint.name} answers {status} ({parts})"
    target = dep.name
    if target_info is not None and target_info.state != "running":
        evidence.insert(0, container_evidence(server.name, target_info))
        target = target_info.name
        fix = Fix("restart", target_info.name,
                  f"{client} needs {target_info.name}, which is {container_state(target_info)};"
                  " a restart starts it again")
        claims.add(("container", server.name, target_info.name))
    else:
        fix = Fix("manual", target, _words(kind, dep.name, host, client, target_info is not None))
    severity = Severity.CRITICAL if (endpoints or failing or ("login", server.name) in claims) \
        else Severity.ERROR
    since = earliest([line.time for line in lines[:1]], [e.since for e in endpoints])
    finding = Finding("dependency_unreachable", severity, server.name, target,
                      clip(summary, 240), tuple(evidence), fix, since=since)
    return Candidate(finding, frozenset({("dependency", server.name, dep.name)}),
                     frozenset(claims))


def _words(kind: str | None, dep: str, host: str | None, client: str, is_container: bool
           ) -> str:
    """Exactly what to do by hand, for each way a connection fails."""
    if kind == "refused":
        where = "the container runs, so check it listens on that port and on 0.0.0.0" \
            if is_container else "start what should listen there"
        return (f"Nothing listens at {dep}: {where}, or correct the address {client} is "
                "configured with (its *_URL setting), then recreate it (R).")
    if kind == "timeout":
        return (f"{dep} does not answer {client} in time: check that it runs and is not "
                "overloaded, and that no firewall drops the traffic between them.")
    if kind == "dns":
        return (f"The name {host or dep} does not resolve from {client}: correct the host name "
                "it is configured with, or attach both containers to one Docker network.")
    if kind == "unreachable":
        return (f"There is no route from {client} to {dep}: check the address and the Docker "
                "network (docker network inspect).")
    return (f"The health endpoint reports {dep} failing and no log line says how yet: check "
            f"that {dep} runs and that {client} is configured with its right address.")


# --------------------------------------------------------------------------- TLS


def cert_expiring(server: ServerInput, now: datetime) -> list[Candidate]:
    """A TLS certificate expired or expiring soon, one finding per host."""
    by_host: dict[str, list[Endpoint]] = {}
    for endpoint in server.endpoints:
        result = endpoint.result
        if result is None:
            continue
        expired = result.klass == "tls" and "expire" in result.reason.lower()
        soon = result.cert_days_left is not None and result.cert_days_left <= CERT_WARN_DAYS
        if expired or soon:
            host = endpoint.url.split("://", 1)[-1].split("/", 1)[0]
            by_host.setdefault(host, []).append(endpoint)
    return [_cert(server, host, endpoints) for host, endpoints in by_host.items()]


def _cert(server: ServerInput, host: str, endpoints: Iterable[Endpoint]) -> Candidate:
    endpoints = list(endpoints)
    days = [e.result.cert_days_left for e in endpoints
            if e.result is not None and e.result.cert_days_left is not None]
    left = min(days) if days else 0
    expired = left <= 0
    severity = Severity.CRITICAL if expired else (
        Severity.ERROR if left <= CERT_URGENT_DAYS else Severity.WARNING)
    when = "has expired" if expired else f"expires in {left} day{'s' if left != 1 else ''}"
    fix = Fix("manual", host,
              f"Renew the certificate for {host.split(':')[0]} (certbot renew, or your CA), "
              "then reload the proxy that serves it so it presents the new one.")
    finding = Finding("cert_expiring", severity, server.name, host,
                      f"the TLS certificate of {host} {when}",
                      tuple(endpoint_evidence(server.name, e) for e in endpoints), fix)
    claims = frozenset({("health", server.name, e.name) for e in endpoints
                        if e.klass in ("tls", "cert_expiring")})
    return Candidate(finding, frozenset({("cert", server.name, host)}), claims)
