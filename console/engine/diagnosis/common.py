"""What every rule shares: the candidate a rule proposes, and evidence in the panes' words.

A rule proposes ``Candidate``s. Each names the *claims* it explains (a container, an
endpoint, a secret on a server...) and its *primary* claims, the thing it is about. The
engine keeps candidates in rule order (root causes first) and merges a later candidate
whose primary claims are all explained already into the one that explained them: one
backend down is one finding, whichever of the containers, health and logs panes saw it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from console.engine.diagnosis.model import Endpoint, Evidence, Finding
from console.models import ContainerInfo, LogLine, SecretStatus

__all__ = [
    "Candidate",
    "Claim",
    "clip",
    "container_evidence",
    "container_state",
    "earliest",
    "endpoint_evidence",
    "endpoint_text",
    "lines_evidence",
    "recent",
    "secret_evidence",
    "short_place",
]

Claim = tuple[str, ...]  # ("container", server, name), ("health", server, endpoint), ...


@dataclass(frozen=True, slots=True)
class Candidate:
    finding: Finding
    primary: frozenset[Claim]
    claims: frozenset[Claim] = frozenset()

    @property
    def all_claims(self) -> frozenset[Claim]:
        return self.primary | self.claims


def clip(text: str, limit: int = 160) -> str:
    """One line, at most ``limit`` characters: evidence quotes, it does not reproduce."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def short_place(place: str) -> str:
    return place.removeprefix("container:")


def container_state(info: ContainerInfo) -> str:
    """'exited (1)', 'restarting (3 restarts)', 'running, unhealthy' - the pane's words."""
    text = info.state
    if info.state in ("exited", "dead") and info.exit_code is not None:
        text += f" ({info.exit_code})"
    if info.state == "running" and info.health not in ("none", "healthy"):
        text += f", {info.health}"
    if info.restart_count:
        text += f", {info.restart_count} restart{'s' if info.restart_count != 1 else ''}"
    return text


def container_evidence(server: str, info: ContainerInfo) -> Evidence:
    status = f"; {info.status_text}" if info.status_text else ""
    return Evidence("containers", (server, info.name),
                    f"{info.name} {container_state(info)}{status}")


def endpoint_text(endpoint: Endpoint) -> str:
    result = endpoint.result
    if result is None:
        return f"{endpoint.name}: no answer yet"
    code = f" {result.status}" if result.status is not None else ""
    return f"{endpoint.name}:{code} {result.klass}: {clip(result.reason, 140)}"


def endpoint_evidence(server: str, endpoint: Endpoint) -> Evidence:
    return Evidence("health", (server, endpoint.name), endpoint_text(endpoint))


def secret_evidence(status: SecretStatus) -> Evidence:
    detail = f": {clip(status.detail, 140)}" if status.detail else ""
    return Evidence("secrets", (status.server, status.name, status.place),
                    f"{status.name} in {short_place(status.place)}: {status.status}{detail}")


def lines_evidence(server: str, lines: Sequence[LogLine], limit: int = 3) -> list[Evidence]:
    """One evidence item per source: its newest line, and how many like it (x14)."""
    by_source: dict[str, list[LogLine]] = {}
    for line in lines:
        by_source.setdefault(line.source, []).append(line)
    out: list[Evidence] = []
    for source, group in list(by_source.items())[:limit]:
        newest = group[-1]
        count = f" (x{len(group)})" if len(group) > 1 else ""
        out.append(Evidence("logs", (server, source, str(newest.seq)),
                            f"{source}: {clip(newest.text)}{count}"))
    return out


def earliest(*stamps: datetime | None | Iterable[datetime | None]) -> datetime | None:
    """The earliest of the known times (None when none is known)."""
    flat: list[datetime] = []
    for stamp in stamps:
        if stamp is None:
            continue
        if isinstance(stamp, datetime):
            flat.append(stamp)
        else:
            flat.extend(s for s in stamp if s is not None)
    return min(flat) if flat else None


def recent(lines: Iterable[LogLine], now: datetime, seconds: float) -> list[LogLine]:
    """The lines no older than ``seconds``: a log line is a fact about its moment only."""
    return [line for line in lines if (now - line.time).total_seconds() <= seconds]
