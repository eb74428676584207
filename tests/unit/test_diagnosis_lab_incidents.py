"""The diagnosis on snapshots copied from the lab's incident scenarios (what the panes held
when tests/integration/test_incidents_lab.py ran them): each failed before its fix."""

from __future__ import annotations

from console.engine.diagnosis.logscan import dependency_failure
from console.models import Severity
from tests.support.diagnosis import container, endpoint, ids, lines, nginx, only, run, server

AUTH_REFUSED = ("2026-12-02T14:47:40.351Z ERROR   [AUTH] Auth service connectivity test "
                "failed: POST http://127.0.0.1:8100/internal/auth/verify: [Errno 111] "
                "Connection refused")
DEGRADED = {"status": "degraded", "db": "connected", "auth": "unreachable",
            "schema_version": 1}


def incident_004(health: str = "unhealthy") -> tuple:
    """crm-backend-1 asks an auth service at an address where nothing listens."""
    return run(server(
        containers=[container("crm-backend-1", health=health), nginx()],
        endpoints=[endpoint("backend", "app_5xx", 503, url="http://127.0.0.1:8000/health",
                            body=DEGRADED),
                   endpoint("login via nginx", "app_5xx", 503,
                            url="http://127.0.0.1:8080/health", body=DEGRADED)],
        log_lines=lines("crm-backend-1", AUTH_REFUSED, None, 5)))


def test_an_address_with_the_service_named_in_words_names_both() -> None:
    failure = dependency_failure(AUTH_REFUSED)
    assert failure is not None and failure.kind == "refused"
    assert failure.dependency == "auth service (127.0.0.1:8100)"
    assert failure.host == "127.0.0.1"
    named = dependency_failure("connect ECONNREFUSED auth:8081")
    assert named is not None and named.dependency == "auth:8081"


def test_004_log_and_health_body_naming_one_dependency_are_one_finding() -> None:
    findings = incident_004(health="healthy")
    assert ids(findings) == ["dependency_unreachable"]
    finding = findings[0]
    assert finding.target == "auth service (127.0.0.1:8100)"
    assert finding.severity is Severity.CRITICAL
    assert "connection refused" in finding.summary and "503" in finding.summary
    assert {"logs", "health"} <= {e.pane for e in finding.evidence}
    assert "Nothing listens at auth service (127.0.0.1:8100)" in finding.fix.why


def test_004_the_client_failing_its_healthcheck_joins_the_dependency_finding() -> None:
    findings = incident_004(health="unhealthy")
    assert ids(findings) == ["dependency_unreachable"]
    finding = findings[0]
    assert "container_unhealthy" in finding.related
    assert any(e.pane == "containers" and e.row[1] == "crm-backend-1"
               and "unhealthy" in e.text for e in finding.evidence)


def test_negative_an_unhealthy_container_that_logs_no_dependency_failure_stays_its_own() -> None:
    findings = run(server(
        containers=[container("crm-backend-1"), container("crm-api-1", health="unhealthy"),
                    nginx()],
        log_lines=lines("crm-backend-1", AUTH_REFUSED, None, 3)))
    assert only(findings, "container_unhealthy").target == "crm-api-1"
    assert only(findings, "dependency_unreachable").severity is Severity.ERROR


# --------------------------------------------------------------------------- 002: crash loop

JWT_RUNTIME = "RuntimeError: JWT_SECRET not configured"


def incident_002_between_restarts(**overrides: object) -> tuple:
    """A crash loop caught in the second between two restarts: Docker says "running,
    starting", the direct probe is cut off, nginx times out or answers 502."""
    parts: dict = {
        "containers": [container("crm-backend-1", "running", health="starting", restarts=5,
                                 started=1.0), nginx()],
        "endpoints": [endpoint("backend", "protocol", None, url="http://127.0.0.1:8000/health",
                               reason="127.0.0.1:8000 closed the connection without a valid "
                                      "HTTP answer"),
                      endpoint("login via nginx", "proxy_bad_gateway", 502,
                               url="http://127.0.0.1:8080/health")],
        "secrets": [secret_status("/srv/crm/.env", "missing"),
                    secret_status("container:crm-backend-1", "missing")],
        "log_lines": lines("crm-backend-1", JWT_RUNTIME, "secret_missing", 6),
        "required": ("JWT_SECRET",),
    }
    parts.update(overrides)
    return run(server(**parts))


def secret_status(place: str, status: str, detail: str = "not set here"):
    from tests.support.diagnosis import secret

    return secret("JWT_SECRET", place, status, detail=detail)


def test_002_between_two_restarts_the_probes_join_the_crash_loop() -> None:
    findings = incident_002_between_restarts()
    assert ids(findings) == ["crash_loop_missing_secret"]
    finding = findings[0]
    assert finding.fix.action == "manual" and finding.fix.key != "r"
    assert {("health", "backend"), ("health", "login via nginx")} <= {
        (e.pane, e.row[1]) for e in finding.evidence}


def test_002_timeout_through_nginx_between_restarts_joins_too() -> None:
    findings = incident_002_between_restarts(endpoints=[
        endpoint("login via nginx", "read_timeout", None, url="http://127.0.0.1:8080/health")])
    assert ids(findings) == ["crash_loop_missing_secret"]


def test_002_secret_back_in_the_file_names_the_file_in_the_recreate_words() -> None:
    stale = ("JWT_SECRET: .env changed since crm-backend-1 was created (a restart keeps the "
             "old value): recreate")
    findings = incident_002_between_restarts(secrets=[
        secret_status("/srv/crm/.env", "present", detail=""),
        secret_status("container:crm-backend-1", "stale", detail=stale)])
    finding = only(findings, "crash_loop_missing_secret")
    assert finding.fix.action == "recreate" and finding.fix.key == "R"
    assert finding.fix.why.startswith("JWT_SECRET is set in /srv/crm/.env but crm-backend-1 "
                                      "was created before that")


def test_negative_a_container_that_restarted_long_ago_and_runs_is_not_down() -> None:
    findings = run(server(
        containers=[container("crm-backend-1", "running", health="healthy", restarts=3,
                              started=3600.0), nginx()],
        endpoints=[endpoint("login via nginx", "proxy_bad_gateway", 502)],
        log_lines=lines("crm-backend-1", JWT_RUNTIME, "secret_missing", 2, age=4000)))
    assert "crash_loop_missing_secret" not in ids(findings)
    assert only(findings, "endpoint_failing").target == "login via nginx"


# --------------------------------------------------------------------------- just connected


def test_containers_not_listed_yet_right_after_connecting_is_no_docker_finding() -> None:
    assert run(server(conn_since=1.0, containers_state="unavailable")) == ()


def test_docker_unreadable_on_a_connected_server_is_a_finding() -> None:
    findings = run(server(conn_since=60.0, containers_state="unavailable"))
    assert ids(findings) == ["docker_unavailable"]


def test_004_failures_logged_before_the_client_was_recreated_are_history() -> None:
    fixed = run(server(
        containers=[container("crm-backend-1", health="healthy", started=10.0), nginx()],
        log_lines=lines("crm-backend-1", AUTH_REFUSED, None, 5, age=40.0)))
    assert fixed == ()
    still = run(server(
        containers=[container("crm-backend-1", health="healthy", started=60.0), nginx()],
        log_lines=lines("crm-backend-1", AUTH_REFUSED, None, 5, age=40.0)))
    assert ids(still) == ["dependency_unreachable"]


# --------------------------------------------------------------------------- 000: after r


def test_000_probes_from_before_the_restart_are_not_a_new_finding() -> None:
    refused = endpoint("backend", "refused", None, url="http://127.0.0.1:8000/health")
    gateway = endpoint("login via nginx", "proxy_bad_gateway", 502,
                       url="http://127.0.0.1:8080/health")
    restarted = run(server(containers=[container("crm-backend-1", health="starting",
                                                 started=1.0), nginx()],
                           endpoints=[refused, gateway]))
    assert restarted == ()
    running = run(server(containers=[container("crm-backend-1", started=3600.0), nginx()],
                         endpoints=[refused, gateway]))
    assert sorted(f.target for f in running) == ["backend", "login via nginx"]


def test_000_a_probe_refused_while_the_restarted_backend_starts_is_not_a_finding() -> None:
    """After ``r`` the first probe often finds nothing listening yet (checked 2 s ago, the
    backend started 4 s ago): that is its start, not a failure; the same answer well after
    the start is one."""
    refused = endpoint("backend", "refused", None, url="http://127.0.0.1:8000/health")
    for health in ("starting", "healthy", "none"):
        starting = run(server(containers=[container("crm-backend-1", health=health,
                                                    started=4.0), nginx()],
                              endpoints=[refused]))
        assert starting == (), health
    long_started = run(server(containers=[container("crm-backend-1", started=60.0), nginx()],
                              endpoints=[refused]))
    assert ids(long_started) == ["endpoint_failing"]
    # A healthcheck still "starting" long after the start hides nothing.
    still_starting = run(server(containers=[container("crm-backend-1", health="starting",
                                                      started=60.0), nginx()],
                                endpoints=[refused]))
    assert ids(still_starting) == ["endpoint_failing"]


def test_000_an_operators_restart_in_progress_is_not_a_crash_loop() -> None:
    restarting = run(server(containers=[container("crm-backend-1", "restarting"), nginx()]))
    assert "crash_loop" not in ids(restarting)
    looping = run(server(containers=[container("crm-backend-1", "restarting", restarts=3),
                                     nginx()]))
    assert ids(looping) == ["crash_loop"]
