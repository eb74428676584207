"""``diagnose(input) -> findings``: every rule, merged, most severe first.

Rules run in ``SERVER_RULES`` order, root causes first, so that a consequence finds its
cause already there: the missing secret before the crash loop it causes, the crash loop
before the proxy 502 it causes, the stopped backend before the 502 endpoint, the
dependency before the 5xx it causes. A candidate whose primary claims are all explained
merges into the finding that explains them (its evidence is added, its id recorded in
``related``), so one cause is one finding however many panes show it.

A server that is not connected gets only its connection finding: what the other panes hold
for it is the last known state, not the current one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from datetime import datetime

from console.engine.diagnosis.common import Candidate, Claim
from console.engine.diagnosis.model import DiagnosisInput, Evidence, Finding, ServerInput
from console.engine.diagnosis.rules_alerts import alerts_firing
from console.engine.diagnosis.rules_auth import login_flood
from console.engine.diagnosis.rules_deps import cert_expiring, dependency_unreachable
from console.engine.diagnosis.rules_infra import (
    app_error,
    backend_down_behind_proxy,
    container_trouble,
    crash_loop,
    endpoint_failing,
    missing_secret_crash,
    server_is_down,
    server_lost,
)
from console.engine.diagnosis.rules_secrets import (
    login_failing,
    secret_drift,
    secret_problem,
    secret_stale,
    volume_missing,
)

__all__ = ["MAX_EVIDENCE", "SERVER_RULES", "diagnose", "sort_findings"]

ServerRule = Callable[[ServerInput, datetime], list[Candidate]]

MAX_EVIDENCE = 8

SERVER_RULES: tuple[ServerRule, ...] = (
    volume_missing,
    missing_secret_crash,
    secret_stale,
    crash_loop,
    backend_down_behind_proxy,
    dependency_unreachable,
    secret_problem,
    cert_expiring,
    app_error,
    login_failing,
    endpoint_failing,
    login_flood,
    container_trouble,
)


def diagnose(inp: DiagnosisInput) -> tuple[Finding, ...]:
    """Every finding for the snapshot, merged and sorted (pure: same input, same output)."""
    merger = _Merger()
    for server in inp.servers:
        merger.add_all(server_lost(server, inp.now))
    live = [s for s in inp.servers if not server_is_down(s)]
    for server in live:
        for rule in SERVER_RULES[:3]:
            merger.add_all(rule(server, inp.now))
    merger.add_all(secret_drift(dataclasses.replace(inp, servers=tuple(live))))
    for server in live:
        for rule in SERVER_RULES[3:]:
            merger.add_all(rule(server, inp.now))
    merger.add_all(alerts_firing(inp.alerts, inp.now))
    return sort_findings(merger.findings())


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first; then the longest-standing; then by server and target, stably."""
    def key(f: Finding) -> tuple[int, float, str, str, str]:
        since = f.since.timestamp() if f.since is not None else float("inf")
        return (-int(f.severity), since, f.server, f.target, f.id)
    return tuple(sorted(findings, key=key))


class _Merger:
    """Keeps accepted findings and which claim each explains."""

    def __init__(self) -> None:
        self._found: list[Finding] = []
        self._owner: dict[Claim, int] = {}

    def add_all(self, candidates: Iterable[Candidate]) -> None:
        for candidate in candidates:
            self.add(candidate)

    def add(self, candidate: Candidate) -> None:
        owners = {self._owner[c] for c in candidate.primary if c in self._owner}
        if candidate.primary and all(c in self._owner for c in candidate.primary):
            index = min(owners)
            self._found[index] = _merged(self._found[index], candidate.finding)
        else:
            index = len(self._found)
            self._found.append(candidate.finding)
        for claim in candidate.all_claims:
            self._owner.setdefault(claim, index)

    def findings(self) -> list[Finding]:
        return list(self._found)


def _merged(into: Finding, other: Finding) -> Finding:
    """``into`` with ``other``'s evidence on rows it does not cite yet, and its id; the
    earlier ``since`` wins."""
    seen = {(e.pane, e.row) for e in into.evidence}
    extra: list[Evidence] = [e for e in other.evidence if (e.pane, e.row) not in seen]
    evidence = (*into.evidence, *extra)[:MAX_EVIDENCE]
    related = into.related if other.id in into.related or other.id == into.id \
        else (*into.related, other.id)
    since = min((s for s in (into.since, other.since) if s is not None), default=None)
    return dataclasses.replace(into, evidence=evidence, related=related, since=since)
