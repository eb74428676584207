"""One full round of every probe, as a plain document: the shared core of check and report.

``check --json`` prints this document; ``check`` renders it as a table; ``report`` as
Markdown. Building it once means the three can never disagree, and they state the same facts
as the panes because they read the same engine services.

The round is bounded: every service refreshes concurrently and the whole round has one
deadline, so a dead server costs about one probe timeout, not the sum of all of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

from console.commands.fleet_json import fleet_problems, fleet_sections
from console.config import Config
from console.engine.diagnosis import diagnose, finding_json, serious
from console.engine.diagnosis.build import from_fleet
from console.engine.fleet import Fleet, FleetView
from console.engine.fleet_sources import FleetSourcesSnapshot
from console.engine.health import result_json
from console.engine.secrets import secret_status_json
from console.models import ContainerInfo, utcnow

__all__ = ["SCHEMA_VERSION", "collect", "filter_config"]

SCHEMA_VERSION = 1
ROUND_DEADLINE = 25.0  # seconds: connect (10 s) + the slowest probe, with margin


class UnknownServer(ValueError):
    """``--server NAME`` named no configured server."""


def filter_config(config: Config, server: str | None) -> Config:
    if server is None:
        return config
    names = [s.name for s in config.servers]
    if server not in names:
        raise UnknownServer(f"no server named {server!r}; configured: {', '.join(names)}")
    return dataclasses.replace(config, servers=tuple(s for s in config.servers
                                                     if s.name == server))


def collect(config: Config, window_s: int = 900, deadline: float | None = None) -> dict[str, Any]:
    """Run one round against every server and return the check document (schema v1)."""
    return asyncio.run(collect_async(config, window_s, deadline))


async def collect_async(config: Config, window_s: int = 900,
                        deadline: float | None = None) -> dict[str, Any]:
    fleet = Fleet(config)
    errors: list[str] = []
    try:
        for name, host in fleet.hosts.items():
            await host.start()
            await fleet.activate(name)  # check and report need every server, on demand too
        await _refresh_all(fleet, window_s, deadline or _deadline(config), errors)
        return build_document(fleet, window_s, errors)
    finally:
        await fleet.stop()


def _deadline(config: Config) -> float:
    slowest = max((h.timeout for s in config.servers for h in s.health), default=0.0)
    return max(ROUND_DEADLINE, slowest + 15.0)


async def _refresh_all(fleet: Fleet, window_s: int, deadline: float, errors: list[str]) -> None:
    """Refresh every service concurrently; a service that overruns is reported, not awaited."""
    jobs = {
        "containers": fleet.containers.refresh(),
        "health": fleet.health.refresh(),
        "secrets": fleet.secrets.refresh(),
        "logs": fleet.logs.refresh(window_s=window_s),
        "fleet_sources": fleet.fleet_sources.refresh(),
    }
    tasks = {name: asyncio.create_task(coro) for name, coro in jobs.items()}
    done, pending = await asyncio.wait(tasks.values(), timeout=deadline)
    for name, task in tasks.items():
        if task in pending:
            task.cancel()
            errors.append(f"{name}: no answer within {deadline:.0f} s")
        elif task.exception() is not None:
            exc = task.exception()
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


# --------------------------------------------------------------------------- document


def build_document(fleet: FleetView, window_s: int, errors: list[str]) -> dict[str, Any]:
    """The ``check --json`` document; the console's ``p`` report is built from it too, so
    a fleet without one of the services (a test's fake) gives that section empty."""
    containers = fleet.containers.snapshot() if fleet.containers is not None else {}
    health = fleet.health.snapshot().results if fleet.health is not None else ()
    secrets = fleet.secrets.snapshot().servers if fleet.secrets is not None else {}
    servers = []
    for server in fleet.config.servers:
        name = server.name
        status = fleet.hosts[name].status
        part_c = containers.get(name)
        part_s = secrets.get(name)
        doc: dict[str, Any] = {
            "name": name,
            "connection": {"state": status.state.value, "detail": status.detail},
            "containers": [container_json(c) for c in (part_c.containers if part_c else ())],
            "health": [result_json(r) for r in health if r.server == name],
            "secrets": [secret_status_json(s) for s in (part_s.statuses if part_s else ())],
            "volumes": [v.as_json() for v in (part_s.volumes if part_s else ())],
            "auth_events": (fleet.logs.auth_summary(window_s, server=name)
                            if fleet.logs is not None
                            else {"window_s": window_s, "counts": {}, "recent": []}),
            "errors": _server_errors(part_c, part_s),
        }
        doc["ok"] = _server_ok(doc, part_c, part_s)
        servers.append(doc)
    fleet_view = (fleet.fleet_sources.snapshot() if fleet.fleet_sources is not None
                  else FleetSourcesSnapshot())
    now = utcnow()
    # The diagnosis reads the same services, so its findings and the panes above agree.
    findings = diagnose(from_fleet(fleet, now, window_s))
    return {
        "version": SCHEMA_VERSION,
        "ok": all(s["ok"] for s in servers) and not errors and not fleet_problems(fleet_view)
        and not serious(findings),
        "generated_at": _iso(now),
        "errors": errors,
        "findings": [finding_json(f, now) for f in findings],
        "servers": servers,
        **fleet_sections(fleet_view),
    }


def _server_errors(part_c: Any, part_s: Any) -> list[str]:
    out = []
    if part_c is not None and part_c.error:
        out.append(f"containers: {part_c.error}")
    if part_s is not None and part_s.error:
        out.append(f"secrets: {part_s.error}")
    for problem in getattr(part_s, "problems", ()) or ():
        out.append(f"secrets: {problem.place}: {problem.message}")
    return out


def _server_ok(doc: dict[str, Any], part_c: Any, part_s: Any) -> bool:
    return (
        doc["connection"]["state"] == "up"
        and part_c is not None and part_c.ok
        and all(h["ok"] for h in doc["health"])
        and (part_s is None or part_s.ok)
    )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def container_json(info: ContainerInfo) -> dict[str, Any]:
    uptime = info.uptime_seconds()
    return {
        "name": info.name, "project": info.project, "service": info.service,
        "state": info.state, "health": info.health, "restart_count": info.restart_count,
        "ok": info.ok, "image": info.image, "started_at": _iso(info.started_at),
        "uptime_s": None if uptime is None else round(uptime, 1),
    }
