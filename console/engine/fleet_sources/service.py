"""FleetSourceService: every configured Prometheus (and Alertmanager), read each interval.

A source that is refused, hangs, asks for credentials or answers nonsense gets a clear
``SourceState.detail``; its last rows stay on screen, and it recovers by itself at the next
round that answers. One source failing never delays another: each runs its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import httpx

from console.config import Config, ConfigError, PrometheusConfig
from console.engine.contracts import Change, ChangeListener, Unsubscribe
from console.engine.fleet_sources.alertmanager import AlertmanagerAPI, alerts_from_prometheus
from console.engine.fleet_sources.answers import SourceError, auth_headers
from console.engine.fleet_sources.model import Alert, FleetSourcesSnapshot, ProbeRow, SourceState
from console.engine.fleet_sources.prometheus import (
    QUERY_GROUPS,
    PrometheusAPI,
    TargetInfo,
    Vector,
)
from console.engine.fleet_sources.rows import build_rows
from console.engine.listeners import Listeners
from console.models import utcnow

__all__ = ["DEFAULT_INTERVAL_S", "FleetSourceService"]

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 15.0  # Prometheus's own default scrape interval
# The targets list (scrape intervals, timeouts, last scrape errors) is the largest answer
# and changes least: it is read on the first round and then once a minute.
TARGETS_EVERY_S = 60.0
# Idle connections to an engine are kept this long: longer than the rounds between them
# (Prometheus keeps an idle connection for its read timeout, 5 min by default).
KEEPALIVE_S = 120.0


class _Source:
    """One configured Prometheus: its clients, its last answer, when each row changed."""

    def __init__(self, config: PrometheusConfig) -> None:
        self.config = config
        self.state = SourceState(name=config.name, url=config.url, state="pending")
        self.rows: tuple[ProbeRow, ...] = ()
        self.alerts: tuple[Alert, ...] = ()
        self.task: asyncio.Task[None] | None = None
        self.targets: list[TargetInfo] = []
        self.targets_read_at: float | None = None

    def targets_due(self, now: float) -> bool:
        return self.targets_read_at is None or now - self.targets_read_at >= TARGETS_EVERY_S

    def interval(self, targets: Sequence[TargetInfo]) -> float:
        if self.config.interval is not None:
            return self.config.interval
        reported = [t.interval_s for t in targets if t.interval_s]
        return min(reported) if reported else DEFAULT_INTERVAL_S


async def _known(targets: list[TargetInfo]) -> list[TargetInfo]:
    return targets


class FleetSourceService:
    """Targets, probe classes and firing alerts from every ``[[prometheus]]`` block."""

    def __init__(self, config: Config, *, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self._transport = transport
        self._clock = clock
        self._sources = {p.name: _Source(p) for p in config.prometheus}
        self._listeners: Listeners[Change] = Listeners("fleet_sources")
        self._client: httpx.AsyncClient | None = None
        self._running = False

    # -- the Service contract ------------------------------------------------------------

    def subscribe(self, listener: ChangeListener) -> Unsubscribe:
        return self._listeners.add(listener)

    def snapshot(self) -> FleetSourcesSnapshot:
        sources = self._sources.values()
        return FleetSourcesSnapshot(
            sources=tuple(s.state for s in sources),
            targets=tuple(r for s in sources for r in s.rows),
            alerts=tuple(a for s in sources for a in s.alerts))

    async def start(self) -> None:
        if self._running or not self._sources:
            return
        self._running = True
        for source in self._sources.values():
            source.task = asyncio.create_task(self._loop(source),
                                              name=f"fleet-source:{source.config.name}")

    async def refresh(self) -> None:
        await asyncio.gather(*(self._round(s) for s in self._sources.values()))

    async def stop(self) -> None:
        self._running = False
        tasks = [s.task for s in self._sources.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- rounds ------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # The timeout is per source (passed per request); this one only bounds the pool.
            # Connections are kept between rounds (httpx's own expiry, 5 s, is the bench's
            # scrape interval: every round opened its connections again).
            self._client = httpx.AsyncClient(
                transport=self._transport, timeout=30.0, follow_redirects=False,
                trust_env=False, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S))
        return self._client

    async def _loop(self, source: _Source) -> None:
        while self._running:
            interval = await self._round(source)
            await asyncio.sleep(interval)

    async def _round(self, source: _Source) -> float:
        """One round for one source; returns how long to wait before the next."""
        try:
            targets, results, alerts, alert_problem, alerts_from = await self._fetch(source)
        except (SourceError, ConfigError) as exc:
            self._failed(source, str(exc))
            return source.interval(())
        except Exception as exc:  # noqa: BLE001 - a source must never stop the console
            log.exception("fleet source %s failed", source.config.name)
            self._failed(source, f"unexpected error: {type(exc).__name__}")
            return source.interval(())
        now = self._clock()
        source.rows = tuple(build_rows(source.config.name, results, targets, now,
                                       {r.key: r for r in source.rows}))
        if alerts is not None:
            source.alerts = tuple(alerts)
        source.state = dataclasses.replace(
            source.state, state="up", detail="", alerts_detail=alert_problem,
            alerts_from=alerts_from, interval_s=source.interval(targets), updated_at=now,
            since=source.state.since if source.state.state == "up" else now)
        self._listeners.emit(Change(service="fleet_sources", server=source.config.name))
        return source.interval(targets)

    def _failed(self, source: _Source, detail: str) -> None:
        now = self._clock()
        since = source.state.since if source.state.state == "error" else now
        source.state = dataclasses.replace(source.state, state="error", detail=detail,
                                           since=since)
        self._listeners.emit(Change(service="fleet_sources", server=source.config.name))

    async def _fetch(self, source: _Source) -> tuple[
            list[TargetInfo], dict[str, Vector], list[Alert] | None, str, str]:
        cfg = source.config
        headers, auth = auth_headers(cfg.bearer_token, cfg.basic_user, cfg.basic_password)
        api = PrometheusAPI(self.client, cfg.url, headers=headers, auth=auth)
        selector = cfg.match or ""
        queries = [api.query(group, selector) for group in QUERY_GROUPS]
        clock = asyncio.get_running_loop().time()
        read_targets = source.targets_due(clock)
        async with asyncio.timeout(cfg.timeout):
            answers: list[Any] = await asyncio.gather(
                api.targets() if read_targets else _known(source.targets), *queries,
                self._alerts(cfg, api, headers, auth), return_exceptions=True)
        targets_answer, *query_answers, alerts_answer = answers
        if read_targets and not isinstance(targets_answer, BaseException):
            source.targets, source.targets_read_at = targets_answer, clock
        failures = [a for a in query_answers if isinstance(a, BaseException)]
        if len(failures) == len(query_answers):
            first = failures[0]
            raise first if isinstance(first, SourceError | ConfigError) else SourceError(
                f"request failed: {type(first).__name__}")
        results = {metric: vector for answer in query_answers
                   if not isinstance(answer, BaseException)
                   for metric, vector in answer.items()}
        targets = [] if isinstance(targets_answer, BaseException) else targets_answer
        if isinstance(alerts_answer, BaseException):
            return targets, results, None, f"alerts: {alerts_answer}", ""
        alerts, alerts_from = alerts_answer
        return targets, results, alerts, "", alerts_from

    async def _alerts(self, cfg: PrometheusConfig, api: PrometheusAPI,
                      headers: dict[str, str], auth: httpx.BasicAuth | None
                      ) -> tuple[list[Alert], str]:
        if cfg.alertmanager_url:
            manager = AlertmanagerAPI(self.client, cfg.alertmanager_url, headers=headers,
                                      auth=auth)
            return await manager.firing(cfg.name), "alertmanager"
        return alerts_from_prometheus(cfg.name, await api.alerts()), "prometheus"
