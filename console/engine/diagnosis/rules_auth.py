"""The failed-login flood: an attack on the login, not an outage.

What makes failed logins an attack is concentration, not volume. Credential stuffing is
many users tried from few addresses; password spraying is one user tried from many. So the
failures of the last few minutes are counted per client address and per user, and a flood
is a large number of failures most of which come from at most a few of either. A private
address in a backend's own log, behind a running proxy container, is the proxy's hop and
not a client: it is not counted as one. Ten
failures from ten different users at ten addresses is ten people mistyping: not an attack.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from console.engine.diagnosis.common import Candidate, clip, endpoint_evidence, lines_evidence
from console.engine.diagnosis.logscan import login_actors, proxy_request_path
from console.engine.diagnosis.model import Finding, Fix, ServerInput
from console.engine.diagnosis.topology import is_proxy
from console.models import LogLine, Severity

__all__ = ["FLOOD_MIN_FAILURES", "FLOOD_WINDOW_S", "login_flood"]

FLOOD_WINDOW_S = 300.0
FLOOD_MIN_FAILURES = 20  # in the window, in total
FLOOD_MIN_PER_SOURCE = 10  # each flooding address or user
FLOOD_MAX_SOURCES = 3  # "few"
FLOOD_SHARE = 0.6  # of the failures that name that kind of actor

_FAILED_RULES = frozenset({"failed_login", "ssh_auth_failed"})  # sshd's and PAM's too
_LOGIN_PATH_WORDS = ("login", "signin", "sign_in", "auth", "token", "session")


def _is_failure(line: LogLine) -> bool:
    if line.rule in _FAILED_RULES:
        return True
    if line.rule == "http_401":
        path = proxy_request_path(line.text) or line.text
        return any(word in path.lower() for word in _LOGIN_PATH_WORDS)
    return False


def _private(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_private
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Flood:
    kind: str  # "address" or "user"
    actors: tuple[tuple[str, int], ...]  # the flooding ones, most failures first
    actor_total: int  # failures naming an actor of this kind


def _flood(counter: Counter[str], kind: str) -> _Flood | None:
    total = sum(counter.values())
    top = [(actor, n) for actor, n in counter.most_common(FLOOD_MAX_SOURCES)
           if n >= FLOOD_MIN_PER_SOURCE]
    if total < FLOOD_MIN_FAILURES or not top:
        return None
    if sum(n for _, n in top) < FLOOD_SHARE * total:
        return None
    return _Flood(kind, tuple(top), total)


def login_flood(server: ServerInput, now: datetime) -> list[Candidate]:
    """Many failed logins from a few addresses (or against a few users) in a few minutes."""
    failures = [line for line in server.log_lines
                if _is_failure(line) and (now - line.time).total_seconds() <= FLOOD_WINDOW_S]
    if len(failures) < FLOOD_MIN_FAILURES:
        return []
    proxies = {c.name for c in server.containers if is_proxy(c) and c.state == "running"}
    ips: Counter[str] = Counter()
    users: Counter[str] = Counter()
    for line in failures:
        ip, user = login_actors(line.text)
        if ip is not None and proxies and line.source not in proxies and _private(ip):
            ip = None  # the proxy's own address, as the backend behind it logs every request
        if ip is not None:
            ips[ip] += 1
        if user is not None:
            users[user] += 1
    flood = _flood(ips, "address") or _flood(users, "user")
    if flood is None:
        return []
    actor, count = flood.actors[0]
    others = "" if len(flood.actors) == 1 else \
        f" and {', '.join(a for a, _ in flood.actors[1:])}"
    distinct = len(users) if flood.kind == "address" else len(ips)
    tried = (f", trying {distinct} different users" if flood.kind == "address" and distinct > 1
             else f", from {distinct} addresses" if flood.kind == "user" and distinct > 1 else "")
    healthy = bool(server.endpoints) and all(e.result is not None and e.result.ok
                                             for e in server.endpoints)
    state = "; the endpoints are healthy: an attack, not an outage" if healthy else \
        ": an attack on the login, not an outage"
    summary = (f"{len(failures)} failed logins in {int(FLOOD_WINDOW_S // 60)} min, {count} from "
               f"{flood.kind} {actor}{others}{tried}{state}")
    if flood.kind == "address":
        listed = " and ".join(a for a, _ in flood.actors)
        words = (f"Block {listed} at the proxy or firewall (nginx: `deny {actor};` in the "
                 "server block, then reload), or rate-limit the login route; users at other "
                 "addresses are not affected.")
    else:
        words = (f"Protect the account {actor}: lock it or force a password reset, and "
                 "rate-limit the login route; it is tried from many addresses.")
    evidence = [*lines_evidence(server.name, failures, limit=3),
                *(endpoint_evidence(server.name, e) for e in server.endpoints[:1] if healthy)]
    finding = Finding("login_flood", Severity.WARNING, server.name, actor, clip(summary, 240),
                      tuple(evidence), Fix("manual", actor, words), since=failures[0].time)
    return [Candidate(finding, frozenset({("flood", server.name)}))]
