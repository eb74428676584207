"""FindingTracker (episodes, durations, the cleared list), the JSON shape, and logscan."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from console.engine.diagnosis import FindingTracker, finding_json, fix_text, format_duration
from console.engine.diagnosis.logscan import (
    dependency_failure,
    failure_kind,
    login_actors,
    missing_secret_names,
    proxy_request_path,
    upstream_failure,
)
from tests.support.diagnosis import NGINX_REFUSED, NOW, incident_000, incident_002, run


def _one() -> object:
    return run(incident_000())[0]


def test_held_for_grows_and_keeps_the_start() -> None:
    finding = run(incident_000())[0]
    tracker = FindingTracker()
    view = tracker.update([finding], NOW)
    assert view.active[0].held_for(NOW) == "4 min"  # since the endpoint turned 502
    later = NOW + timedelta(minutes=10)
    view = tracker.update([finding], later)
    assert view.active[0].held_for(later) == "14 min"
    assert view.cleared == ()


def test_without_a_since_the_first_sighting_starts_the_episode() -> None:
    finding = dataclasses.replace(run(incident_000())[0], since=None)
    tracker = FindingTracker()
    tracker.update([finding], NOW)
    view = tracker.update([finding], NOW + timedelta(seconds=35))
    assert view.active[0].held_for(view.now) == "35 s"


def test_a_finding_clears_by_itself_and_stays_listed_for_an_hour() -> None:
    finding = dataclasses.replace(run(incident_000())[0], since=None)
    tracker = FindingTracker()
    tracker.update([finding], NOW)
    cleared_at = NOW + timedelta(minutes=3)
    view = tracker.update([], cleared_at)
    assert view.active == ()
    assert len(view.cleared) == 1 and view.cleared[0].cleared == cleared_at
    assert view.cleared[0].held_for(cleared_at + timedelta(minutes=30)) == "3 min"
    assert len(tracker.update([], cleared_at + timedelta(minutes=59)).cleared) == 1
    assert tracker.update([], cleared_at + timedelta(minutes=61)).cleared == ()


def test_a_finding_that_comes_back_is_a_new_episode() -> None:
    finding = dataclasses.replace(run(incident_000())[0], since=None)
    tracker = FindingTracker()
    tracker.update([finding], NOW)
    tracker.update([], NOW + timedelta(minutes=5))
    back = NOW + timedelta(minutes=7)
    view = tracker.update([finding], back)
    assert view.cleared == ()
    assert view.active[0].started == back


def test_active_findings_are_most_severe_first() -> None:
    tracker = FindingTracker()
    findings = [*run(incident_002()), *run(incident_000(name="b"))]
    view = tracker.update(reversed(findings), NOW)
    assert [int(t.finding.severity) for t in view.active] == sorted(
        (int(f.severity) for f in findings), reverse=True)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (59, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"),
    (3600 + 5 * 60, "1 h 5 min"), (86400 * 3 + 3600 * 4, "3 d 4 h")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_finding_json_matches_the_spec_shape() -> None:
    finding = run(incident_000())[0]
    tracker = FindingTracker()
    doc = finding_json(tracker.update([finding], NOW).active[0], NOW)
    assert {"id", "severity", "server", "target", "summary", "evidence", "fix"} <= set(doc)
    assert doc["severity"] == "critical" and doc["id"] == "backend_down_behind_proxy"
    assert doc["fix"] == {"action": "restart", "target": "crm-backend-1", "key": "r",
                          "why": finding.fix.why}
    assert doc["evidence"][0] == {"pane": "containers", "row": ["crm-prod", "crm-backend-1"],
                                  "text": "crm-backend-1 exited (1)"}
    assert doc["held_for_s"] == 240.0 and doc["since"] == "2026-11-24T07:56:00Z"
    assert doc["cleared_at"] is None


def test_fix_text() -> None:
    assert fix_text(run(incident_000())[0]).startswith("press r: restart crm-backend-1 (")
    assert fix_text(run(incident_002())[0]).startswith("by hand: Set JWT_SECRET in ")


# --------------------------------------------------------------------------- logscan


def test_upstream_failure_from_nginx_caddy_traefik() -> None:
    nginx = upstream_failure(NGINX_REFUSED)
    assert nginx is not None and (nginx.host, nginx.port, nginx.kind) == (
        "backend", "8000", "refused")
    timeout = upstream_failure('upstream timed out (110: Connection timed out) while reading '
                               'response header from upstream, upstream: "http://api:9000/x"')
    assert timeout is not None and (timeout.host, timeout.kind) == ("api", "timeout")
    dns = upstream_failure('host not found in upstream "backend:8000" in /etc/nginx/conf.d/'
                           'default.conf:3')
    assert dns is not None and (dns.host, dns.kind) == ("backend", "dns")
    caddy = upstream_failure('"error":"dial tcp: lookup backend on 127.0.0.11:53: no such host"')
    assert caddy is not None and (caddy.host, caddy.kind) == ("backend", "dns")
    assert upstream_failure("GET /health 200") is None


def test_proxy_request_path() -> None:
    assert proxy_request_path(NGINX_REFUSED) == "/api/v1/auth/login"
    assert proxy_request_path('1.2.3.4 - - [x] "POST /login?next=/ HTTP/1.1" 502 157') == "/login"


@pytest.mark.parametrize(("text", "kind", "dependency"), [
    ('connection to server at "db" (172.18.0.2), port 5432 failed: Connection refused',
     "refused", "db:5432"),
    ("getaddrinfo ENOTFOUND auth", "dns", "auth"),
    ("connect ECONNREFUSED 172.18.0.5:8081", "refused", "172.18.0.5:8081"),
    ("redis.exceptions.ConnectionError: Error 111 connecting to redis:6379. Connection refused.",
     "refused", "redis:6379"),
    ("httpx.ConnectTimeout: timed out (http://auth-service:8081/verify)", "timeout",
     "auth-service:8081"),
    ("Auth service connectivity test failed: Connection refused", "refused", "auth service"),
    ("dial tcp 10.0.0.9:5432: connect: no route to host", "unreachable", "10.0.0.9:5432"),
])
def test_dependency_failure(text: str, kind: str, dependency: str) -> None:
    failure = dependency_failure(text)
    assert failure is not None and (failure.kind, failure.dependency) == (kind, dependency)


def test_dependency_failure_negatives() -> None:
    assert dependency_failure("GET /api/v1/contacts 200 12ms") is None
    assert dependency_failure("Connection refused") is None  # names nothing
    assert failure_kind("request took 30 ms") is None


def test_missing_secret_names() -> None:
    assert missing_secret_names("RuntimeError: CRITICAL: JWT_SECRET not configured") == [
        "JWT_SECRET"]
    assert missing_secret_names("KeyError: 'SERVICE_SECRET'") == ["SERVICE_SECRET"]
    assert missing_secret_names("jwt_secret\n  Field required [type=missing]",
                                known=["JWT_SECRET"]) == ["JWT_SECRET"]
    assert missing_secret_names("CRITICAL: startup BLOCKED") == []


@pytest.mark.parametrize(("text", "ip", "user"), [
    ("[AUTH] Login failed: User not found - alice@example.com", None, "alice@example.com"),
    ("Failed password for invalid user admin from 203.0.113.9 port 51234 ssh2",
     "203.0.113.9", "admin"),
    ('203.0.113.7 - - [24/Nov/2026:08:00:00 +0000] "POST /api/v1/auth/login HTTP/1.1" 401 35',
     "203.0.113.7", None),
    ("login failed user=bob ip=198.51.100.4", "198.51.100.4", "bob"),
])
def test_login_actors(text: str, ip: str | None, user: str | None) -> None:
    assert login_actors(text) == (ip, user)
