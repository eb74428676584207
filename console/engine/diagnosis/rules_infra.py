"""Rules about servers, containers and endpoints: what is down, and what it takes with it.

Each rule is ``rule(server, now) -> [Candidate]`` over one server's input, pure. The
engine runs them in the order of ``RULES`` (root causes first) and merges what a later rule
finds into an earlier finding that already explains it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
    secret_evidence,
)
from console.engine.diagnosis.logscan import missing_secret_names, proxy_request_path
from console.engine.diagnosis.model import Endpoint, Evidence, Finding, Fix, ServerInput
from console.engine.diagnosis.topology import (
    BAD_GATEWAY_CLASSES,
    Fronting,
    direct_endpoints,
    fronted_backends,
    is_proxy,
    match_container,
    upstream_lines,
)
from console.models import ConnState, ContainerInfo, LogLine, SecretStatus, Severity

__all__ = [
    "app_error",
    "backend_down_behind_proxy",
    "crash_loop",
    "container_trouble",
    "endpoint_failing",
    "missing_secret_crash",
    "server_lost",
]

CONNECTING_GRACE_S = 30.0  # a server still connecting after this long is a finding
# Just connected, the containers service still shows the state it had while connecting
# until its first listing over the new connection is in: not yet a Docker problem.
DOCKER_GRACE_S = 10.0
STARTUP_S = 15.0  # a probe this soon after a container started may have seen it start
CRASH_UPTIME_S = 120.0  # a container that restarted and has run less than this is crashing
UPSTREAM_RECENT_S = 180.0  # proxy upstream lines older than this no longer link a backend

_STALE_STATUSES = ("not_in_container", "differs_from_file", "stale")
_STOPPED = ("exited", "dead", "created", "restarting")
_ENDPOINT_FIXES = {
    "refused": "nothing listens at {where}: start the service that should answer there, or "
               "correct the endpoint's address in the console's config",
    "connect_timeout": "{where} accepts no connection in time: check that the host is up "
                       "and that no firewall drops the traffic",
    "read_timeout": "{where} accepts the connection but does not answer in time: the app is "
                    "stuck or overloaded; read its log lines",
    "dns": "the name in {where} does not resolve: correct the URL, or the DNS record",
    "tls": "the TLS handshake with {where} fails: check the certificate and the protocol",
    "protocol": "{where} does not speak HTTP there: check the port",
    "connect_failed": "the console cannot open a connection to {where}: read the reason",
    "unauthorized": "{where} wants credentials: give the probe a public health path",
    "forbidden": "{where} refuses the probe: allow it, or probe a public health path",
    "body_mismatch": "{where} answers, but not what the config expects: read the reason",
    "proxy_unavailable": "the proxy has no backend available for {where}: check its upstream",
}


def _host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]


# --------------------------------------------------------------------------- server lost


def server_lost(server: ServerInput, now: datetime) -> list[Candidate]:
    """The connection is lost (or never came up): everything else about it is stale."""
    conn = server.connection
    held = (now - conn.since).total_seconds()
    if conn.state in (ConnState.LOST, ConnState.RETRYING):
        summary = f"server {server.name} is lost: {clip(conn.detail or 'no connection', 120)}"
        severity = Severity.CRITICAL
    elif conn.state is ConnState.CONNECTING and held >= CONNECTING_GRACE_S:
        summary = (f"server {server.name} has not connected in {int(held)} s: "
                   f"{clip(conn.detail or 'no answer', 120)}")
        severity = Severity.ERROR
    elif conn.is_up and server.containers_state == "unavailable" \
            and held >= DOCKER_GRACE_S:
        return [_docker_unavailable(server)]
    else:
        return []
    fix = Fix("manual", server.name,
              f"Check that {server.name} is up and that its SSH server answers (ssh to it by "
              "hand); the console reconnects by itself and this finding then clears.")
    evidence = (Evidence("connection", (server.name,),
                         f"{server.name}: {conn.describe(now)} {clip(conn.detail, 120)}".strip()),)
    finding = Finding("server_lost", severity, server.name, server.name, summary, evidence,
                      fix, since=conn.since)
    return [Candidate(finding, frozenset({("server", server.name)}))]


def _docker_unavailable(server: ServerInput) -> Candidate:
    fix = Fix("manual", server.name,
              f"Docker on {server.name} does not answer the console: check that dockerd runs "
              "and that the SSH user may use its socket (the docker group).")
    finding = Finding("docker_unavailable", Severity.ERROR, server.name, server.name,
                      f"Docker on {server.name} cannot be read: the containers are unknown",
                      (Evidence("containers", (server.name,), "containers: unavailable"),), fix)
    return Candidate(finding, frozenset({("server", server.name)}))


def server_is_down(server: ServerInput) -> bool:
    """True when the server's panes hold only stale data: the other rules then stay quiet."""
    return server.connection.state is not ConnState.UP


# --------------------------------------------------------------------------- crash loops


def _crashing(info: ContainerInfo, now: datetime) -> bool:
    if info.state in ("restarting", "dead"):
        return True
    if info.state == "exited":
        return info.exit_code not in (None, 0, 137, 143)  # 137/143: stopped by a signal
    if info.state == "running" and info.restart_count > 0 and info.started_at is not None:
        return (now - info.started_at).total_seconds() < CRASH_UPTIME_S
    return False


def _secret_lines(server: ServerInput, info: ContainerInfo) -> list[LogLine]:
    return [line for line in server.log_lines
            if line.source == info.name and line.rule == "secret_missing"]


def _known_names(server: ServerInput) -> list[str]:
    return list(dict.fromkeys([*server.required, *(s.name for s in server.secrets)]))


def missing_secret_crash(server: ServerInput, now: datetime) -> list[Candidate]:
    """A container that dies at startup because its log names a setting it lacks.

    The fix is never a plain restart: the restarted process reads the same environment. The
    file gets the value, then the container is recreated (compose reads the file again).
    """
    out: list[Candidate] = []
    crashing = crashing_names(server, now)
    fronting = {f.backend.name: f for f in fronted_backends(server, crashing)}
    for info in server.containers:
        if is_proxy(info) or not (_crashing(info, now) or info.state in _STOPPED):
            continue
        lines = _secret_lines(server, info)
        names: list[str] = []
        for line in lines:
            names += [n for n in missing_secret_names(line.text, _known_names(server))
                      if n not in names]
        if not lines or not names:
            continue
        out.append(_secret_crash(server, info, names, lines, fronting.get(info.name),
                                 crashing))
    return out


def crashing_names(server: ServerInput, now: datetime) -> frozenset[str]:
    """The containers in a crash loop, whatever state Docker shows for them this second."""
    return frozenset(c.name for c in server.containers
                     if not is_proxy(c) and _crashing(c, now) and c.restart_count)


def _secret_crash(server: ServerInput, info: ContainerInfo, names: list[str],
                  lines: list[LogLine], fronting: Fronting | None,
                  crashing: frozenset[str]) -> Candidate:
    name = names[0]
    statuses = [s for s in server.secrets if s.name in names]
    in_container = [s for s in statuses if s.place == f"container:{info.name}"]
    stale = [s for s in in_container if s.status in _STALE_STATUSES]
    evidence: list[Evidence] = [container_evidence(server.name, info)]
    evidence += lines_evidence(server.name, lines, limit=1)
    evidence += [secret_evidence(s) for s in statuses if not s.ok][:3]
    claims: set[Claim] = {("secret", server.name, n) for n in names}
    claims |= {("stale", server.name, info.name, n) for n in names}
    endpoints = (*(fronting.endpoints if fronting is not None else ()),
                 *direct_endpoints(server, info, crashing))
    evidence += [endpoint_evidence(server.name, e) for e in endpoints]
    claims |= {("health", server.name, e.name) for e in endpoints}
    if fronting is not None:
        claims.add(("proxied", server.name, info.name))
    listed = ", ".join(names)
    if stale and len(stale) == len(names):
        source = _file_for(server, name)
        fix = Fix("recreate", info.name,
                  f"{listed} is set in {source} but {info.name} was created before that; "
                  "recreating it loads the file again (a plain restart keeps the old "
                  "environment)")
    else:
        file = _file_for(server, name)
        fix = Fix("manual", info.name,
                  f"Set {listed} in {file} (a long random value, e.g. from `openssl rand "
                  f"-hex 32`), then recreate {info.name} with R; a plain restart would crash "
                  "the same way, since it keeps the old environment.")
    state = container_state(info)
    verb = f"is crash-looping ({state})" if info.state == "restarting" or info.restart_count \
        else f"{state} at startup"
    summary = f"{info.name} {verb}: its log says {listed} is not configured"
    finding = Finding("crash_loop_missing_secret", Severity.CRITICAL, server.name, info.name,
                      summary, tuple(evidence), fix, since=lines[0].time)
    primary = frozenset({("container", server.name, info.name)})
    return Candidate(finding, primary, frozenset(claims))


def _file_for(server: ServerInput, name: str) -> str:
    """The env file a secret should be set in: where it is missing, else the first one."""
    files = [s for s in server.secrets if s.name == name and not s.place.startswith("container:")]
    for status in files:
        if not status.ok:
            return status.place
    if files:
        return files[0].place
    if server.env_files:
        return server.env_files[0]
    return "the .env file of its compose project (or the service's environment:)"


def crash_loop(server: ServerInput, now: datetime) -> list[Candidate]:
    """A container the restart policy keeps restarting, for a reason its log must tell."""
    out: list[Candidate] = []
    for info in server.containers:
        # Docker counts only its restart policy's restarts: "restarting" with none is an
        # operator's `docker restart` (r) in progress, not a loop.
        if not (info.restart_count and (info.state == "restarting" or _crashing(info, now))):
            continue
        lines = [line for line in server.log_lines if line.source == info.name]
        evidence = [container_evidence(server.name, info),
                    *lines_evidence(server.name, lines[-1:], limit=1)]
        fix = Fix("manual", info.name,
                  f"Read {info.name}'s last log lines (logs pane): it exits soon after each "
                  "start, so a restart will not cure it; fix what they name, then recreate it "
                  "with R.")
        finding = Finding("crash_loop", Severity.ERROR, server.name, info.name,
                          f"{info.name} keeps restarting ({container_state(info)})",
                          tuple(evidence), fix)
        out.append(Candidate(finding, frozenset({("container", server.name, info.name)}),
                             frozenset({("proxied", server.name, info.name)})))
    return out


# --------------------------------------------------------------------------- behind a proxy


def backend_down_behind_proxy(server: ServerInput, now: datetime) -> list[Candidate]:
    """A stopped container a proxy fronts: the proxy answers 502/504 in its place."""
    out: list[Candidate] = []
    crashing = crashing_names(server, now)
    for fronting in fronted_backends(server, crashing):
        lines = [u.line for u in fronting.lines]
        fresh = recent(lines, now, UPSTREAM_RECENT_S)
        if not fronting.endpoints and not fresh:
            continue
        out.append(_backend_down(server, fronting, lines, crashing))
    return out


def _backend_down(server: ServerInput, fronting: Fronting, lines: list[LogLine],
                  crashing: frozenset[str]) -> Candidate:
    info = fronting.backend
    proxy = fronting.proxy.name if fronting.proxy is not None else "the proxy"
    paths = [p for p in (proxy_request_path(line.text) for line in lines) if p]
    answer = _gateway_answer(fronting.endpoints)
    where = f" for {paths[-1]}" if paths else ""
    if not where and fronting.endpoints:
        where = f" for {fronting.endpoints[0].name}"
    summary = f"{info.name} {container_state(info)}; {proxy} answers {answer}{where}"
    direct = direct_endpoints(server, info, crashing)
    evidence = [container_evidence(server.name, info),
                *(endpoint_evidence(server.name, e) for e in (*fronting.endpoints, *direct)),
                *lines_evidence(server.name, lines, limit=2)]
    if fronting.proxy is not None:
        evidence.append(Evidence("containers", (server.name, fronting.proxy.name),
                                 f"{fronting.proxy.name} running; inferred: {fronting.how}"))
    if info.state == "paused":
        fix = Fix("manual", info.name, f"Unpause it: docker unpause {info.name}")
    else:
        fix = Fix("restart", info.name,
                  "the container stopped and nothing names a missing setting; a restart "
                  "starts it again with its configuration intact")
    since = earliest([e.since for e in fronting.endpoints], lines[0].time if lines else None)
    severity = Severity.CRITICAL
    finding = Finding("backend_down_behind_proxy", severity, server.name, info.name, summary,
                      tuple(evidence), fix, since=since)
    claims: set[Claim] = {("health", server.name, e.name) for e in (*fronting.endpoints,
                                                                     *direct)}
    claims |= {("upstream", server.name, u.failure.host or "") for u in fronting.lines}
    claims.add(("proxied", server.name, info.name))
    return Candidate(finding, frozenset({("container", server.name, info.name)}),
                     frozenset(claims))


def _gateway_answer(endpoints: tuple[Endpoint, ...]) -> str:
    codes = sorted({e.result.status for e in endpoints
                    if e.result is not None and e.result.status is not None})
    return "/".join(str(c) for c in codes) if codes else "502"


# --------------------------------------------------------------------------- endpoints


def app_error(server: ServerInput, now: datetime) -> list[Candidate]:
    """A health endpoint answering 5xx while its container runs healthy: the app's own bug.

    Its container is the one the URL names, else, when every app container on the server
    runs and none is unhealthy, the verdict holds for whichever of them serves it.
    """
    out: list[Candidate] = []
    apps = [c for c in server.containers if not is_proxy(c)]
    for endpoint in server.endpoints:
        if endpoint.klass != "app_5xx" or endpoint.result is None:
            continue
        named = match_container(server.containers, _host_of(endpoint.url).split(":")[0])
        serving = [named] if named is not None else apps
        if not serving or not all(c.state == "running" and c.health in ("healthy", "none")
                                  for c in serving):
            continue
        who = named.name if named is not None else "every container here"
        status = endpoint.result.status
        evidence = [endpoint_evidence(server.name, endpoint),
                    *(container_evidence(server.name, c) for c in serving[:2])]
        fix = Fix("manual", endpoint.name,
                  f"{who} runs and is healthy, yet {endpoint.name} answers {status}: the app "
                  "itself fails there. Read its traceback in the logs pane; a restart will "
                  "not fix a code or configuration bug.")
        finding = Finding("app_error", Severity.ERROR, server.name, endpoint.name,
                          f"{endpoint.name} answers {status} while {who} runs healthy: an "
                          "app bug, not the infrastructure", tuple(evidence), fix,
                          since=endpoint.since)
        out.append(Candidate(finding, frozenset({("health", server.name, endpoint.name)})))
    return out


def endpoint_failing(server: ServerInput, now: datetime) -> list[Candidate]:
    """A failing endpoint no other rule explained: the probe's own reason, and where to look."""
    out: list[Candidate] = []
    for endpoint in server.endpoints:
        klass = endpoint.klass
        if endpoint.result is None or endpoint.result.ok or klass in ("cert_expiring", "app_5xx",
                                                                       "unreachable"):
            continue
        if _while_starting(server, endpoint.result.checked_at):
            continue  # the next probe will tell
        where = _host_of(endpoint.url)
        evidence = [endpoint_evidence(server.name, endpoint)]
        if klass in BAD_GATEWAY_CLASSES:
            fixes = _unexplained_gateway(server, endpoint, evidence, now)
        else:
            fixes = _ENDPOINT_FIXES.get(klass, "read the probe's reason in the health pane")
            fixes = fixes.format(where=where)
        finding = Finding("endpoint_failing", Severity.ERROR, server.name, endpoint.name,
                          f"{endpoint.name} fails: {clip(endpoint.result.reason, 120)}",
                          tuple(evidence), Fix("manual", endpoint.name, fixes[0].upper() +
                                               fixes[1:]), since=endpoint.since)
        out.append(Candidate(finding, frozenset({("health", server.name, endpoint.name)})))
    return out


def _while_starting(server: ServerInput, checked_at: datetime) -> bool:
    """Whether a failed probe may only have seen a container starting: it ran before one
    (re)started, or less than ``STARTUP_S`` after. Right after a restart nothing listens
    yet, and the probe that found the port closed would otherwise stand as a failure until
    the next one. A healthcheck's "starting" is not enough: a container can stay so for
    minutes (or one unrelated to the endpoint can), and a real failure would be hidden."""
    grace = timedelta(seconds=STARTUP_S)
    return any(c.state == "running" and c.started_at is not None
               and checked_at < c.started_at + grace for c in server.containers)


def _unexplained_gateway(server: ServerInput, endpoint: Endpoint, evidence: list[Evidence],
                         now: datetime) -> str:
    """A proxy 502/504 with no stopped container behind it: name what the proxy names."""
    lines = recent([u.line for u in upstream_lines(server)], now, UPSTREAM_RECENT_S)
    evidence += lines_evidence(server.name, lines, limit=2)
    hosts = [u.failure for u in upstream_lines(server) if u.failure.host]
    if hosts:
        last = hosts[-1]
        port = f":{last.port}" if last.port else ""
        running = match_container(server.containers, last.host or "")
        if running is not None:
            return (f"the proxy cannot reach {last.host}{port} although {running.name} "
                    f"runs: check that it listens on port {last.port or 'the proxied one'} "
                    "and on all addresses (0.0.0.0), not only 127.0.0.1")
        return (f"the proxy cannot reach its upstream {last.host}{port}: start it, or "
                "correct the upstream in the proxy's configuration")
    return ("the proxy answers for a backend it cannot reach, and no stopped container was "
            "found: read the proxy's error log for the upstream it names")


# --------------------------------------------------------------------------- other trouble


def container_trouble(server: ServerInput, now: datetime) -> list[Candidate]:
    """A container unhealthy, or exited with an error, that no finding explains yet."""
    out: list[Candidate] = []
    for info in server.containers:
        if info.state == "running" and info.health == "unhealthy":
            fix = Fix("manual", info.name,
                      f"{info.name}'s own healthcheck fails: read its log lines and `docker "
                      f"inspect {info.name}` (State.Health) for the failing check.")
            severity, what = Severity.WARNING, "fails its healthcheck"
        elif info.state in ("exited", "dead") and info.exit_code not in (None, 0):
            fix = Fix("restart", info.name,
                      f"it exited with code {info.exit_code} and nothing names a missing "
                      "setting; a restart starts it again (read its last lines if it exits "
                      "again)")
            severity, what = Severity.INFO, f"exited with code {info.exit_code}"
        else:
            continue
        finding = Finding("container_down" if info.state != "running" else "container_unhealthy",
                          severity, server.name, info.name, f"{info.name} {what}",
                          (container_evidence(server.name, info),), fix)
        out.append(Candidate(finding, frozenset({("container", server.name, info.name)})))
    return out


def stale_secret_names(statuses: tuple[SecretStatus, ...], container: str) -> list[str]:
    place = f"container:{container}"
    return [s.name for s in statuses if s.place == place and s.status in _STALE_STATUSES]
