"""The diagnosis rules on fixed snapshots: each incident, its neighbours, and the negatives."""

from __future__ import annotations

from console.engine.diagnosis import DiagnosisInput, diagnose
from console.models import ConnState, Severity
from tests.support.diagnosis import (
    JWT_CRASH,
    NGINX_REFUSED,
    NGINX_REFUSED_IP,
    NOW,
    SERVER,
    container,
    endpoint,
    ids,
    incident_000,
    incident_002,
    line,
    lines,
    login,
    nginx,
    only,
    run,
    secret,
    server,
    volume,
)

# --------------------------------------------------------------------------- 000: backend down


def test_000_backend_down_behind_proxy_is_one_finding_from_three_panes() -> None:
    findings = run(incident_000())
    assert ids(findings) == ["backend_down_behind_proxy"]
    finding = findings[0]
    assert finding.severity is Severity.CRITICAL
    assert finding.target == "crm-backend-1"
    assert "crm-backend-1" in finding.summary and "502" in finding.summary
    assert "/api/v1/auth/login" in finding.summary
    panes = {e.pane for e in finding.evidence}
    assert {"containers", "health", "logs"} <= panes
    logs = [e for e in finding.evidence if e.pane == "logs"]
    assert logs[0].row[:2] == (SERVER, "crm-nginx-1") and "(x14)" in logs[0].text
    assert finding.fix.action == "restart" and finding.fix.key == "r"
    assert finding.fix.target == "crm-backend-1"
    assert "endpoint_failing" in finding.related or "container_down" in finding.related


def test_000_held_since_the_endpoint_turned_502() -> None:
    finding = run(incident_000())[0]
    assert finding.since is not None and (NOW - finding.since).total_seconds() == 240


def test_000_named_upstream_alone_links_the_backend_without_health() -> None:
    findings = run(incident_000(endpoints=[]))
    finding = only(findings, "backend_down_behind_proxy")
    assert finding.target == "crm-backend-1"
    assert any("names it as its upstream" in e.text and e.row == (SERVER, "crm-nginx-1")
               for e in finding.evidence)


def test_000_upstream_by_address_links_the_stopped_container_of_the_proxy_project() -> None:
    findings = run(incident_000(
        endpoints=[], log_lines=lines("crm-nginx-1", NGINX_REFUSED_IP, "upstream_error", 4)))
    assert only(findings, "backend_down_behind_proxy").target == "crm-backend-1"


def test_000_stale_upstream_lines_alone_no_longer_link() -> None:
    old = lines("crm-nginx-1", NGINX_REFUSED, "upstream_error", 3, age=900)
    findings = run(incident_000(endpoints=[], log_lines=old))
    assert "backend_down_behind_proxy" not in ids(findings)


def test_two_backends_down_are_two_findings_sharing_the_502() -> None:
    findings = run(incident_000(containers=[
        container("crm-backend-1", "exited", exit_code=1),
        container("crm-api-1", "exited", exit_code=137), nginx()], log_lines=[]))
    targets = sorted(f.target for f in findings if f.id == "backend_down_behind_proxy")
    assert targets == ["crm-api-1", "crm-backend-1"]
    assert "endpoint_failing" not in ids(findings)


def test_negative_a_stopped_container_nobody_proxies_to_is_not_behind_a_proxy() -> None:
    findings = run(server(containers=[container("crm-worker-1", "exited", exit_code=0),
                                      nginx()],
                          endpoints=[endpoint("home", "ok", 200)]))
    assert "backend_down_behind_proxy" not in ids(findings)
    assert findings == ()


def test_negative_a_502_does_not_blame_a_stopped_worker_while_the_backend_runs() -> None:
    findings = run(server(containers=[container("crm-backend-1"),
                                      container("crm-worker-1", "exited", exit_code=137),
                                      nginx()],
                          endpoints=[endpoint("login via nginx", "proxy_bad_gateway", 502)]))
    assert "backend_down_behind_proxy" not in ids(findings)
    assert all(f.fix.target != "crm-worker-1" or f.id != "endpoint_failing"
               for f in findings)
    assert only(findings, "endpoint_failing").target == "login via nginx"


def test_negative_proxy_502_of_another_project_does_not_blame_this_container() -> None:
    findings = run(server(
        containers=[container("shop-backend-1", "exited", exit_code=1, project="shop"),
                    nginx("crm-nginx-1", project="crm"), container("crm-backend-1")],
        endpoints=[endpoint("login api", "proxy_bad_gateway", 502)]))
    assert "backend_down_behind_proxy" not in ids(findings)
    gateway = only(findings, "endpoint_failing")
    assert gateway.target == "login api"


def test_negative_a_stopped_database_is_not_fronted_by_the_proxy() -> None:
    findings = run(incident_000(containers=[container("crm-db-1", "exited", exit_code=0,
                                                      image="postgres:16"), nginx(),
                                            container("crm-backend-1")], log_lines=[]))
    assert "backend_down_behind_proxy" not in ids(findings)


def test_unexplained_502_names_the_upstream_the_proxy_names() -> None:
    findings = run(incident_000(containers=[container("crm-backend-1"), nginx()]))
    finding = only(findings, "endpoint_failing")
    assert "backend:8000" in finding.fix.why and "crm-backend-1 runs" in finding.fix.why
    assert finding.fix.action == "manual"


# --------------------------------------------------------------------------- 002: missing secret


def test_002_crash_loop_on_a_missing_secret_is_never_a_plain_restart() -> None:
    findings = run(incident_002())
    finding = findings[0]
    assert finding.id == "crash_loop_missing_secret"
    assert finding.severity is Severity.CRITICAL and finding.target == "crm-backend-1"
    assert "JWT_SECRET" in finding.summary
    assert finding.fix.action == "manual" and finding.fix.key != "r"
    assert "Set JWT_SECRET in /srv/crm/.env" in finding.fix.why
    assert "recreate crm-backend-1" in finding.fix.why
    assert {"containers", "logs", "secrets", "health"} <= {e.pane for e in finding.evidence}
    # the missing secret, the 502 and the crash loop are the same cause: one finding
    assert ids(findings) == ["crash_loop_missing_secret"]


def test_002_secret_already_in_the_file_but_not_in_the_container_is_a_recreate() -> None:
    findings = run(incident_002(secrets=[
        secret("JWT_SECRET", "/srv/crm/.env", "present", fingerprint="a"),
        secret("JWT_SECRET", "container:crm-backend-1", "not_in_container",
               detail="set in /srv/crm/.env but not in the running container: recreate it")]))
    finding = only(findings, "crash_loop_missing_secret")
    assert finding.fix.action == "recreate" and finding.fix.key == "R"
    assert finding.fix.target == "crm-backend-1"
    assert "secret_stale_in_container" not in ids(findings)


def test_002_names_from_a_list_and_keyerror() -> None:
    text = "Missing required secrets: JWT_SECRET_KEY, SERVICE_SECRET"
    findings = run(incident_002(log_lines=lines("crm-backend-1", text, "secret_missing", 3),
                                secrets=[], required=()))
    finding = only(findings, "crash_loop_missing_secret")
    assert "JWT_SECRET_KEY, SERVICE_SECRET" in finding.summary
    assert "/srv/crm/.env" in finding.fix.why  # the configured env file


def test_002_exited_once_on_a_missing_secret_is_not_a_restart_either() -> None:
    findings = run(incident_002(containers=[
        container("crm-backend-1", "exited", exit_code=0), nginx()]))
    assert findings[0].id == "crash_loop_missing_secret"
    assert all(f.fix.action != "restart" for f in findings)


def test_002_health_500_with_its_container_healthy_is_an_app_bug() -> None:
    findings = run(server(
        containers=[container("crm-backend-1", health="healthy"), nginx()],
        endpoints=[endpoint("health", "app_5xx", 500, url="http://127.0.0.1:8000/health",
                            reason="the app answered 500 Internal Server Error")]))
    finding = only(findings, "app_error")
    assert finding.target == "health" and finding.fix.action == "manual"
    assert "restart will not" in finding.fix.why


def test_negative_health_500_with_its_container_unhealthy_is_not_called_an_app_bug() -> None:
    findings = run(server(
        containers=[container("crm-backend-1", health="unhealthy"), nginx()],
        endpoints=[endpoint("health", "app_5xx", 500)]))
    assert "app_error" not in ids(findings)
    assert {"container_unhealthy", "endpoint_failing"} <= set(ids(findings)) or \
        "container_unhealthy" in ids(findings)


def test_generic_crash_loop_points_at_its_logs() -> None:
    findings = run(server(containers=[container("crm-backend-1", "restarting", restarts=4,
                                                exit_code=2)],
                          log_lines=[line("crm-backend-1", "ImportError: no module x")]))
    finding = only(findings, "crash_loop")
    assert finding.fix.action == "manual" and "will not cure" in finding.fix.why


# --------------------------------------------------------------------------- secrets


def test_required_secret_missing_empty_and_weak() -> None:
    findings = run(server(secrets=[
        secret("SERVICE_SECRET", "/srv/crm/.env", "missing"),
        secret("DATABASE_URL", "/srv/crm/.env", "empty"),
        secret("JWT_SECRET", "/srv/crm/.env", "weak",
               detail="looks like a default or placeholder"),
        secret("JWT_SECRET", "container:crm-backend-1", "weak"),
        secret("SECRET_KEY", "/srv/crm/.env", "present", fingerprint="x")]))
    assert sorted(f.target for f in findings if f.id == "secret_missing") == [
        "DATABASE_URL", "SERVICE_SECRET"]
    weak = only(findings, "secret_weak")
    assert weak.target == "JWT_SECRET" and weak.severity is Severity.WARNING
    assert "recreate crm-backend-1" in weak.fix.why
    missing = next(f for f in findings if f.target == "SERVICE_SECRET")
    assert missing.severity is Severity.ERROR
    assert missing.fix.why.startswith("Set SERVICE_SECRET in /srv/crm/.env")
    assert "SECRET_KEY" not in {f.target for f in findings}


def test_003_changed_file_and_old_container_is_one_stale_finding_not_drift() -> None:
    findings = run(server(
        containers=[container("crm-backend-1")],
        secrets=[secret("JWT_SECRET", "/srv/crm/.env", "present", fingerprint="new",
                        drift=True),
                 secret("JWT_SECRET", "container:crm-backend-1", "differs_from_file",
                        fingerprint="old", drift=True,
                        detail="differs from /srv/crm/.env: recreate the container")]))
    finding = only(findings, "secret_stale_in_container")
    assert finding.fix.action == "recreate" and finding.fix.target == "crm-backend-1"
    assert finding.severity is Severity.ERROR
    assert "secret_drift" not in ids(findings)


def test_003_stale_with_an_invalid_signature_is_critical_and_absorbs_the_login() -> None:
    findings = run(server(
        containers=[container("crm-backend-1")],
        secrets=[secret("JWT_SECRET", "/srv/crm/.env", "present", fingerprint="new",
                        drift=True),
                 secret("JWT_SECRET", "container:crm-backend-1", "differs_from_file",
                        fingerprint="old", drift=True)],
        login=login(signature="invalid",
                    places=(("/srv/crm/.env", "invalid"), ("container:crm-backend-1", "valid")),
                    text="signature INVALID: the secret differs (JWT_SECRET in /srv/crm/.env)")))
    finding = only(findings, "secret_stale_in_container")
    assert finding.severity is Severity.CRITICAL
    assert any(e.pane == "actions" for e in finding.evidence)
    assert "token_signature_invalid" not in ids(findings)


def test_003_deleted_database_volume_is_a_critical_lockout() -> None:
    findings = run(server(
        containers=[container("crm-db-1", image="postgres:16")],
        volumes=[volume("crm_pgdata", False, ("crm-db-1",)), volume("crm_cache", True)],
        login=login("rejected_401", ok=False, status=401)))
    finding = only(findings, "volume_missing")
    assert finding.severity is Severity.CRITICAL and finding.target == "crm_pgdata"
    assert "restore it from a backup" in finding.fix.why
    assert any(e.pane == "actions" for e in finding.evidence)
    assert "test_login_failed" not in ids(findings)
    assert findings[0].id == "volume_missing"


def test_drift_between_servers_uses_the_signature_verdict() -> None:
    alpha = server("alpha", secrets=[secret("JWT_SECRET", "/srv/crm/.env", "present",
                                            fingerprint="A", drift=True, server="alpha")],
                   login=login(signature="invalid", places=(("/srv/crm/.env", "valid"),)))
    bravo = server("bravo", secrets=[secret("JWT_SECRET", "/srv/crm/.env", "present",
                                            fingerprint="B", drift=True, server="bravo")],
                   login=login(signature="invalid", places=(("/srv/crm/.env", "invalid"),)))
    findings = run(alpha, bravo)
    finding = only(findings, "secret_drift")
    assert finding.target == "JWT_SECRET" and finding.severity is Severity.CRITICAL
    assert "A = alpha /srv/crm/.env" in finding.summary and "B = bravo" in finding.summary
    assert "alpha /srv/crm/.env; copy that value into bravo /srv/crm/.env" in finding.fix.why


def test_drift_without_a_test_login_asks_for_one() -> None:
    alpha = server("alpha", secrets=[secret("JWT_SECRET", "/a/.env", "present",
                                            fingerprint="A", drift=True, server="alpha")])
    bravo = server("bravo", secrets=[secret("JWT_SECRET", "/b/.env", "present",
                                            fingerprint="B", drift=True, server="bravo")])
    finding = only(run(alpha, bravo), "secret_drift")
    assert finding.severity is Severity.ERROR and "test-login (t)" in finding.fix.why


def test_negative_equal_fingerprints_are_no_drift() -> None:
    alpha = server("alpha", secrets=[secret("JWT_SECRET", "/a/.env", "present",
                                            fingerprint="A", server="alpha")])
    bravo = server("bravo", secrets=[secret("JWT_SECRET", "/b/.env", "present",
                                            fingerprint="A", server="bravo")])
    assert run(alpha, bravo) == ()


# --------------------------------------------------------------------------- 004: dependency


def test_004_auth_service_refused_named_and_told_apart() -> None:
    body = {"status": "degraded", "auth": "unreachable"}
    findings = run(server(
        containers=[container("crm-backend-1", health="healthy"), nginx()],
        endpoints=[endpoint("login api", "proxy_unavailable", 503, body=body)],
        log_lines=lines("crm-backend-1",
                        "auth service call failed: httpx.ConnectError: [Errno 111] Connection "
                        "refused (http://auth:8081/api/verify)", "auth_service_refused", 6),
        login=login("app_5xx", ok=False, status=500)))
    assert ids(findings) == ["dependency_unreachable"]
    finding = findings[0]
    assert finding.target == "auth:8081" and finding.severity is Severity.CRITICAL
    assert "connection refused" in finding.summary and "503" in finding.summary
    assert finding.fix.action == "manual" and "Nothing listens at auth:8081" in finding.fix.why
    assert {"logs", "health", "actions"} <= {e.pane for e in finding.evidence}


def test_dependency_timeout_and_dns_get_their_own_words() -> None:
    timeout = run(server(containers=[container("crm-backend-1")], log_lines=[line(
        "crm-backend-1", 'psycopg2.OperationalError: connection to server at "db" '
        "(172.18.0.2), port 5432 failed: Connection timed out")]))
    dns = run(server(containers=[container("crm-backend-1")], log_lines=[line(
        "crm-backend-1", 'psycopg2.OperationalError: could not translate host name "db" to '
        "address: Name or service not known")]))
    t, d = only(timeout, "dependency_unreachable"), only(dns, "dependency_unreachable")
    assert t.target == "db:5432" and "timeout" in t.summary
    assert "does not answer" in t.fix.why
    assert d.target == "db" and "DNS" in d.summary and "does not resolve" in d.fix.why


def test_dependency_container_down_is_a_restart_of_the_dependency() -> None:
    findings = run(server(
        containers=[container("crm-backend-1"), container("crm-auth-1", "exited", exit_code=1)],
        log_lines=lines("crm-backend-1", "connect ECONNREFUSED auth:8081", None, 3)))
    finding = only(findings, "dependency_unreachable")
    assert finding.target == "crm-auth-1"
    assert finding.fix.action == "restart" and finding.fix.target == "crm-auth-1"
    assert "container_down" not in ids(findings)


def test_negative_old_dependency_errors_are_history() -> None:
    findings = run(server(containers=[container("crm-backend-1")], log_lines=[line(
        "crm-backend-1", "redis.exceptions.ConnectionError: Connection refused", age=600)]))
    assert findings == ()


def test_negative_nginx_upstream_lines_are_not_a_dependency_failure() -> None:
    findings = run(server(containers=[container("crm-backend-1"), nginx()],
                          log_lines=lines("crm-nginx-1", NGINX_REFUSED, "upstream_error", 3)))
    assert "dependency_unreachable" not in ids(findings)


# --------------------------------------------------------------------------- logins


def _fails(n: int, *, ip: str | None, users: int) -> list[object]:
    out = []
    for i in range(n):
        where = f" from {ip}" if ip else f" from 198.51.100.{i % 250}"
        out.append(line("crm-backend-1", f"[AUTH] Login failed: Password mismatch for "
                        f"user{i % users}@example.com{where}", "failed_login", age=200 - i,
                        seq=i))
    return out


def test_flood_from_one_address_is_an_attack_not_an_outage() -> None:
    findings = run(server(containers=[container("crm-backend-1")],
                          endpoints=[endpoint("login api", "ok", 200)],
                          log_lines=_fails(40, ip="203.0.113.7", users=40)))
    finding = only(findings, "login_flood")
    assert finding.target == "203.0.113.7" and finding.severity is Severity.WARNING
    assert "not an outage" in finding.summary and "40 different users" in finding.summary
    assert "deny 203.0.113.7;" in finding.fix.why


def test_password_spraying_one_user_from_many_addresses() -> None:
    finding = only(run(server(log_lines=_fails(30, ip=None, users=1))), "login_flood")
    assert finding.target == "user0@example.com"
    assert "Protect the account" in finding.fix.why


def test_negative_ten_failures_from_ten_users_is_not_an_attack() -> None:
    assert run(server(log_lines=_fails(10, ip=None, users=10))) == ()


def test_negative_forty_failures_from_forty_users_and_addresses_is_not_an_attack() -> None:
    assert "login_flood" not in ids(run(server(log_lines=_fails(40, ip=None, users=40))))


def test_negative_a_flood_long_ago_is_over() -> None:
    old = [line("b", "[AUTH] Login failed from 203.0.113.7", "failed_login", age=900 + i)
           for i in range(40)]
    assert run(server(log_lines=old)) == ()


# --------------------------------------------------------------------------- TLS, servers


def test_cert_expiring_and_expired() -> None:
    soon = run(server(endpoints=[endpoint("site", "cert_expiring", 200, cert_days=5,
                                          url="https://crm.example.com/")]))
    later = run(server(endpoints=[endpoint("site", "ok", 200, cert_days=40,
                                           url="https://crm.example.com/")]))
    gone = run(server(endpoints=[endpoint("site", "tls", None, url="https://crm.example.com/",
                                          reason="TLS certificate rejected by crm.example.com"
                                          ":443: certificate has expired")]))
    s = only(soon, "cert_expiring")
    assert s.severity is Severity.ERROR and "expires in 5 days" in s.summary
    assert s.target == "crm.example.com"
    assert later == ()
    g = only(gone, "cert_expiring")
    assert g.severity is Severity.CRITICAL and "has expired" in g.summary
    assert "endpoint_failing" not in ids(gone)


def test_server_lost_silences_its_stale_panes() -> None:
    lost = incident_000(conn=ConnState.LOST, conn_detail="connection reset by peer",
                        conn_since=120)
    findings = run(lost, incident_000(name="other"))
    assert [(f.id, f.server) for f in findings if f.server == SERVER] == [
        ("server_lost", SERVER)]
    assert only(findings, "server_lost").since is not None
    assert "backend_down_behind_proxy" in ids(findings)  # the other server still diagnosed


def test_negative_a_server_just_connecting_is_not_lost() -> None:
    assert run(server(conn=ConnState.CONNECTING, conn_since=5)) == ()
    late = run(server(conn=ConnState.CONNECTING, conn_since=90))
    assert only(late, "server_lost").severity is Severity.ERROR


# --------------------------------------------------------------------------- engine


def test_most_severe_first_and_deterministic() -> None:
    snapshot = DiagnosisInput((incident_000(
        secrets=[secret("JWT_SECRET", "/srv/crm/.env", "weak")],
        endpoints=[endpoint("login api", "proxy_bad_gateway", 502),
                   endpoint("site", "cert_expiring", 200, cert_days=10,
                            url="https://crm.example.com/")]),), NOW)
    first, second = diagnose(snapshot), diagnose(snapshot)
    assert first == second
    severities = [int(f.severity) for f in first]
    assert severities == sorted(severities, reverse=True)
    assert first[0].id == "backend_down_behind_proxy"
    assert {"secret_weak", "cert_expiring"} <= set(ids(first))


def test_all_well_is_no_findings() -> None:
    healthy = server(containers=[container("crm-backend-1", health="healthy"), nginx()],
                     endpoints=[endpoint("login api", "ok", 200)],
                     secrets=[secret("JWT_SECRET", "/srv/crm/.env", "present", fingerprint="a")],
                     log_lines=[line("crm-nginx-1", '"GET / HTTP/1.1" 200 512')],
                     login=login())
    assert run(healthy) == ()


def test_no_secret_value_or_fingerprint_reaches_a_finding() -> None:
    findings = run(server(secrets=[
        secret("JWT_SECRET", "/a/.env", "weak", fingerprint="fp-secret-1234"),
        secret("JWT_SECRET", "container:x", "differs_from_file", fingerprint="fp-other-5678",
               drift=True)]))
    text = repr(findings)
    assert findings and "fp-secret-1234" not in text and "fp-other-5678" not in text


def test_crash_text_is_quoted_from_the_log() -> None:
    finding = run(incident_002())[0]
    assert any(JWT_CRASH in e.text for e in finding.evidence)


def test_negative_the_proxy_hop_address_in_the_backend_log_is_not_an_attacker() -> None:
    hop = [line("crm-backend-1", f'172.19.0.3 "POST /api/v1/auth/login HTTP/1.0" 401 33 '
                f"[AUTH] Login failed: invalid password for u{i}@example.com", "failed_login",
                age=100 - i, seq=i) for i in range(40)]
    assert "login_flood" not in ids(run(server(containers=[container("crm-backend-1"), nginx()],
                                               log_lines=hop)))
    assert "login_flood" in ids(run(server(containers=[container("crm-backend-1")],
                                           log_lines=hop)))


def test_000_the_direct_probe_of_the_stopped_backend_joins_the_same_finding() -> None:
    direct = endpoint("backend", "refused", None, url="http://127.0.0.1:8000/health",
                      reason="connection refused by 127.0.0.1:8000: nothing is listening")
    findings = run(incident_000(endpoints=[*incident_000().endpoints, direct]))
    assert ids(findings) == ["backend_down_behind_proxy"]
    assert ("health", (SERVER, "backend")) in {(e.pane, e.row) for e in findings[0].evidence}
    crash = run(incident_002(endpoints=[direct]))
    assert ids(crash) == ["crash_loop_missing_secret"]


def test_negative_a_refused_probe_is_not_pinned_on_one_of_two_stopped_containers() -> None:
    direct = endpoint("api", "refused", None, url="http://127.0.0.1:9000/health")
    findings = run(server(containers=[container("crm-backend-1", "exited", exit_code=1),
                                      container("crm-web-1", "exited", exit_code=1)],
                          endpoints=[direct]))
    assert only(findings, "endpoint_failing").target == "api"
