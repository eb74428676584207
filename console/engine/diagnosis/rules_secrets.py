"""Rules about secrets, volumes and the test-login: the lockouts of incidents 002 and 003.

Secret values never reach a rule: only the secret service's statuses (present, missing,
empty, weak, not_in_container, differs_from_file, drift) and its keyed fingerprints, which
say "same value" or "different value" and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from console.engine.diagnosis.common import (
    Candidate,
    Claim,
    clip,
    container_evidence,
    secret_evidence,
    short_place,
)
from console.engine.diagnosis.model import (
    DiagnosisInput,
    Evidence,
    Finding,
    Fix,
    LoginCheck,
    ServerInput,
)
from console.models import SecretStatus, Severity

__all__ = [
    "login_failing",
    "secret_drift",
    "secret_problem",
    "secret_stale",
    "volume_missing",
]

_STALE = ("not_in_container", "differs_from_file", "stale")
_BAD = ("missing", "empty", "weak")
_RANDOM = "a long random value (e.g. from `openssl rand -hex 32`)"


def login_evidence(server: str, login: LoginCheck) -> Evidence:
    text = f"test-login: {login.klass}"
    if login.status is not None:
        text += f" (HTTP {login.status})"
    if login.signature_text:
        text += f"; {clip(login.signature_text, 140)}"
    return Evidence("actions", (server, "test_login"), text)


def _signature_invalid_at(login: LoginCheck | None, places: Sequence[str]) -> bool:
    if login is None or login.signature != "invalid":
        return False
    bad = {place for place, verdict in login.signature_places if verdict == "invalid"}
    return not login.signature_places or bool(bad & set(places))


# --------------------------------------------------------------------------- volumes


def volume_missing(server: ServerInput, now: datetime) -> list[Candidate]:
    """A declared or used volume that is gone: its data went with it (the 003 lockout)."""
    out: list[Candidate] = []
    for volume in server.volumes:
        if volume.present:
            continue
        evidence = [Evidence("volumes", (server.name, volume.name),
                             f"volume {volume.name}: missing; {clip(volume.detail, 140)}")]
        claims: set[Claim] = set()
        users = [server.container(name) for name in volume.used_by]
        evidence += [container_evidence(server.name, c) for c in users if c is not None]
        login = server.login
        if login is not None and login.klass == "rejected_401" and login.signature != "invalid":
            evidence.append(login_evidence(server.name, login))
            claims.add(("login", server.name))
        users_text = ", ".join(volume.used_by) or "the containers that mount it"
        then = (" If there is no backup, recreate them (R) on a new empty volume and run the "
                "migration (m): every user must then be created again.")
        fix = Fix("manual", volume.name,
                  f"Do not write to a new empty {volume.name}: restore it from a backup "
                  f"(docker volume create {volume.name}, then restore the data into it), then "
                  f"recreate {users_text} with R.{then}")
        summary = (f"volume {volume.name} is missing: the data it held (users, sessions) is "
                   "gone; a recreated volume starts empty")
        finding = Finding("volume_missing", Severity.CRITICAL, server.name, volume.name,
                          summary, tuple(evidence), fix)
        out.append(Candidate(finding, frozenset({("volume", server.name, volume.name)}),
                             frozenset(claims)))
    return out


# --------------------------------------------------------------------------- stale


def secret_stale(server: ServerInput, now: datetime) -> list[Candidate]:
    """A running container whose environment no longer matches its env file.

    The classic: ``JWT_SECRET`` changed in ``.env``, the container restarted instead of
    recreated, so it signs with the old value and every other reader of the file rejects
    its tokens. The fix is recreate, which reads the file again.
    """
    by_container: dict[str, list[SecretStatus]] = {}
    for status in server.secrets:
        if status.place.startswith("container:") and status.status in _STALE:
            by_container.setdefault(short_place(status.place), []).append(status)
    out: list[Candidate] = []
    for container, statuses in by_container.items():
        out.append(_stale(server, container, statuses))
    return out


def _stale(server: ServerInput, container: str, statuses: list[SecretStatus]) -> Candidate:
    names = list(dict.fromkeys(s.name for s in statuses))
    listed = ", ".join(names)
    files = [s.place for s in server.secrets
             if s.name in names and not s.place.startswith("container:")]
    evidence = [secret_evidence(s) for s in statuses]
    info = server.container(container)
    if info is not None:
        evidence.insert(0, container_evidence(server.name, info))
    places = [f"container:{container}", *files]
    severity = Severity.ERROR
    effect = ""
    login = server.login
    if _signature_invalid_at(login, places) and login is not None:
        evidence.append(login_evidence(server.name, login))
        severity = Severity.CRITICAL
        effect = "; tokens it issues fail verification against the file's value"
    source = files[0] if files else "its env file"
    fix = Fix("recreate", container,
              f"{listed} in {container} differs from {source}: recreating it loads the file "
              "(a plain restart keeps the old environment). If the file's new value is the "
              "mistake, put the old one back in the file instead; the two must agree.")
    summary = f"{container} runs with an old {listed}: {source} changed after it was created" \
        f"{effect}"
    finding = Finding("secret_stale_in_container", severity, server.name, container, summary,
                      tuple(evidence), fix)
    primary = frozenset({("stale", server.name, container, n) for n in names})
    claims: set[Claim] = {("secret", server.name, n) for n in names if _only_stale(server, n)}
    if effect:
        claims.add(("login", server.name))
    return Candidate(finding, primary, frozenset(claims))


def _only_stale(server: ServerInput, name: str) -> bool:
    """Every bad status of ``name`` here is a container lagging its file."""
    bad = [s for s in server.secrets if s.name == name and not s.ok and not s.drift]
    return all(s.status in _STALE for s in bad)


# --------------------------------------------------------------------------- missing / weak


def secret_problem(server: ServerInput, now: datetime) -> list[Candidate]:
    """A required secret missing, empty or default-looking, one finding per name."""
    by_name: dict[str, list[SecretStatus]] = {}
    for status in server.secrets:
        if status.status in _BAD:
            by_name.setdefault(status.name, []).append(status)
    return [_problem(server, name, statuses) for name, statuses in by_name.items()]


def _problem(server: ServerInput, name: str, statuses: list[SecretStatus]) -> Candidate:
    kinds = {s.status for s in statuses}
    word = "missing" if "missing" in kinds else "empty" if "empty" in kinds else \
        "default-looking or weak"
    files = [s.place for s in statuses if not s.place.startswith("container:")]
    all_files = [s.place for s in server.secrets
                 if s.name == name and not s.place.startswith("container:")]
    containers = list(dict.fromkeys(short_place(s.place) for s in server.secrets
                                    if s.name == name and s.place.startswith("container:")))
    where = files[0] if files else (all_files[0] if all_files else (
        server.env_files[0] if server.env_files else "the environment of the containers"))
    then = f", then recreate {', '.join(containers)} with R" if containers else \
        ", then recreate the containers that read it (R)"
    fix = Fix("manual", name, f"Set {name} in {where} to {_RANDOM}{then}; a plain restart "
              "keeps the old environment.")
    places = ", ".join(short_place(s.place) for s in statuses)
    summary = f"required secret {name} is {word} in {places}"
    severity = Severity.WARNING if kinds == {"weak"} else Severity.ERROR
    finding = Finding("secret_" + ("weak" if kinds == {"weak"} else "missing"), severity,
                      server.name, name, summary, tuple(secret_evidence(s) for s in statuses),
                      fix)
    return Candidate(finding, frozenset({("secret", server.name, name)}))


# --------------------------------------------------------------------------- drift


def secret_drift(inp: DiagnosisInput) -> list[Candidate]:
    """A secret that must be identical everywhere holds different values.

    Places that only lag their own env file are the stale rule's; what is left is real
    drift, between files or between servers. The test-login's per-place signature verdict,
    when it has run, says which value the backend signs with.
    """
    groups: dict[str, dict[str, list[SecretStatus]]] = {}
    for server in inp.servers:
        for status in server.secrets:
            if status.drift and status.fingerprint and status.status not in _STALE:
                groups.setdefault(status.name, {}).setdefault(status.fingerprint, []).append(
                    status)
    out: list[Candidate] = []
    for name, by_value in groups.items():
        if len(by_value) > 1:
            out.append(_drift(inp, name, list(by_value.values())))
    return out


def _drift(inp: DiagnosisInput, name: str, groups: list[list[SecretStatus]]) -> Candidate:
    letters = [chr(ord("A") + i) for i in range(len(groups))]
    described = "; ".join(
        f"{letter} = {', '.join(_where(s) for s in group)}" for letter, group in
        zip(letters, groups, strict=True))
    servers = list(dict.fromkeys(s.server for group in groups for s in group))
    evidence = [secret_evidence(s) for group in groups for s in group][:6]
    severity = Severity.ERROR
    valid: list[str] = []
    invalid: list[str] = []
    for server in inp.servers:
        login = server.login
        if server.name in servers and login is not None and login.signature_places:
            evidence.append(login_evidence(server.name, login))
            valid += [f"{server.name} {short_place(p)}" for p, v in login.signature_places
                      if v == "valid"]
            invalid += [f"{server.name} {short_place(p)}" for p, v in login.signature_places
                        if v == "invalid"]
    if invalid:
        severity = Severity.CRITICAL
        words = (f"The backend signs with the value in {', '.join(valid)}; copy that value "
                 f"into {', '.join(invalid)}" if valid else
                 f"Tokens fail verification against {', '.join(invalid)}; choose the value to "
                 "keep and copy it into every other place")
        fix = Fix("manual", name, f"{words}, then recreate the containers that read the changed "
                  "files (R on each).")
    else:
        sizes = sorted((len(g) for g in groups), reverse=True)
        largest = max(groups, key=len)
        most = f" (most places hold {letters[groups.index(largest)]})" \
            if sizes[0] > sizes[1] else ""
        fix = Fix("manual", name,
                  f"Choose the value to keep{most}, copy it into every other place, then "
                  "recreate the containers that read the changed files (R on each). Run "
                  "test-login (t) first to see which value the backend signs with.")
    summary = f"{name} differs between places that must share it: {described}"
    finding = Finding("secret_drift", severity, servers[0], name, clip(summary, 240),
                      tuple(evidence), fix)
    claims: set[Claim] = {("login", s) for s in servers} if invalid else set()
    return Candidate(finding, frozenset({("drift", name)}), frozenset(claims))


def _where(status: SecretStatus) -> str:
    return f"{status.server} {short_place(status.place)}"


# --------------------------------------------------------------------------- test-login


_LOGIN_FIXES = {
    "rejected_401": "the configured test user is rejected: its password changed, or the user "
                    "is gone (an emptied database?). Check the user exists, then run t again.",
    "app_5xx": "the login endpoint itself fails: read the backend's traceback in the logs "
               "pane.",
    "proxy_502": "the proxy cannot reach the backend: look at the backend container.",
    "refused": "nothing listens at the login URL: check the port and that the backend runs.",
    "timeout": "the login endpoint does not answer in time: the backend is stuck or waits "
               "on a dependency.",
}


def login_failing(server: ServerInput, now: datetime) -> list[Candidate]:
    """The last test-login failed (or its token fails verification) and nothing explains it."""
    login = server.login
    if login is None:
        return []
    if login.signature == "invalid":
        fix = Fix("manual", server.name,
                  f"Tokens are signed with another value than the server's secret "
                  f"({clip(login.signature_text, 120)}): make every place hold the same "
                  "value, then recreate the containers that read it (R).")
        summary = f"test-login on {server.name}: {clip(login.signature_text, 120)}"
        finding_id = "token_signature_invalid"
    elif not login.ok and login.klass in _LOGIN_FIXES:
        fix = Fix("manual", server.name, _LOGIN_FIXES[login.klass][0].upper() +
                  _LOGIN_FIXES[login.klass][1:])
        summary = f"test-login on {server.name} fails: {clip(login.reason, 120)}"
        finding_id = "test_login_failed"
    else:
        return []
    finding = Finding(finding_id, Severity.ERROR, server.name, server.name, summary,
                      (login_evidence(server.name, login),), fix, since=login.checked_at)
    return [Candidate(finding, frozenset({("login", server.name)}))]
