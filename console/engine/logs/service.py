"""LogService: container logs and host files, classified, redacted, kept in ring buffers.

The service wires its parts together and is what the Fleet, ``check``, ``report`` and the
logs pane hold:

- ``SourceRegistry`` (``source``): every source with its ring buffer and resume state;
- ``ContainerSources`` (``container_sources``): a reader thread per wanted container
  (``docker_reader``), kept in step with the container service's rows;
- ``FileSources`` (``files``): ``tail -F`` of the configured host files;
- ``LogStore`` (``store``): classification by the server's auth rules (which redacts),
  the ring buffers, the auth events and their counts;
- ``BatchDelivery`` (``delivery``): coalesced ``LogChange``s to the listeners.

Its read model is ``LogsSnapshot`` (``model``); lines reach listeners in ``LogChange``
batches and stay readable, until they leave the ring buffers, through ``buffered()``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType

from console.config import Config, LogRuleConfig, ServerConfig
from console.engine import dockerapi
from console.engine.contracts import Change, ChangeListener, Unsubscribe
from console.engine.host_api import Host
from console.engine.listeners import Listeners
from console.engine.logs.container_sources import (
    ContainerSources,
    ContainerView,
    ServerContainersView,
)
from console.engine.logs.delivery import BatchDelivery
from console.engine.logs.export import export_lines
from console.engine.logs.files import FileSources
from console.engine.logs.framing import MAX_LINE_BYTES
from console.engine.logs.model import LogsSnapshot, SourceStatus
from console.engine.logs.source import (
    DEFAULT_BUFFER_LINES,
    INITIAL_TAIL,
    INITIAL_WINDOW_S,
    Source,
    SourceRegistry,
)
from console.engine.logs.store import LogStore
from console.engine.redact import PREFILTER, TRIGGERS, redact_line
from console.engine.rules import LineRewrite, RuleError, RuleSet
from console.engine.shared import REFRESH_CONNECT_TIMEOUT
from console.models import LogLine, utcnow
from console.textsafe import make_visible

__all__ = ["FLUSH_INTERVAL", "LogService"]

FLUSH_INTERVAL = 0.1
"""Listeners get new lines at most this often (seconds)."""


class LogService:
    """Every server's log sources, merged, classified by the auth rules, redacted.

    ``containers``: the container service whose rows say which containers exist; without
    one the service makes (and starts, stops and refreshes) its own.
    """

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 containers: ContainerView | None = None,
                 clients: dockerapi.DockerClients | None = None,
                 flush_interval: float = FLUSH_INTERVAL,
                 initial_window_s: float = INITIAL_WINDOW_S,
                 initial_tail: int | None = INITIAL_TAIL) -> None:
        self.config = config
        self.hosts = hosts
        self.initial_window_s = initial_window_s
        self.initial_tail = initial_tail
        self.problems: list[str] = []
        # Servers with the same rule config share one RuleSet: building one translates
        # every rule for Hyperscan (tens of ms), and a RuleSet holds no per-server state.
        shared: dict[tuple[LogRuleConfig, ...], tuple[RuleSet, str]] = {}
        rules = {s.name: self._shared_rules(s, shared) for s in config.servers}
        self._servers = {s.name: s for s in config.servers if s.name in hosts}
        self._sources = SourceRegistry({n: s.logs.buffer_lines
                                        for n, s in self._servers.items()})
        events_kept = max((s.logs.buffer_lines for s in config.servers),
                          default=DEFAULT_BUFFER_LINES)
        self._store = LogStore(self._sources, rules, events_kept)
        self._listeners: Listeners[Change] = Listeners("logs")
        self._delivery = BatchDelivery(self._store.collect, self._listeners, flush_interval)
        self._own_containers = containers is None
        if containers is None:
            from console.engine.containers import ContainerService  # only when not shared

            containers = ContainerService(config, hosts, clients=clients)
        self._containers = ContainerSources(
            self._servers, hosts, self._sources, containers, clients=clients,
            ingest=self._ingest, on_status=self._status_changed,
            initial_window_s=initial_window_s, initial_tail=initial_tail)
        self._files = FileSources(self._servers, hosts, self._sources, ingest=self._ingest,
                                  on_status=self._status_changed)
        self._running = False

    def _shared_rules(self, server: ServerConfig,
                      shared: dict[tuple[LogRuleConfig, ...], tuple[RuleSet, str]]) -> RuleSet:
        key = server.logs.rules
        if key not in shared:
            shared[key] = self._rules_for(server)
        rules, problem = shared[key]
        if problem:
            self.problems.append(f"{server.name}: {problem}; using the built-in rules only")
        return rules

    @staticmethod
    def _rules_for(server: ServerConfig) -> tuple[RuleSet, str]:
        """The server's RuleSet, and what was wrong with its rules ("" if nothing)."""
        rewrite = LineRewrite(TRIGGERS, redact_line, PREFILTER)
        try:
            return RuleSet.from_config(server.logs, rewrite=rewrite), ""
        except RuleError as exc:
            return RuleSet.default(rewrite=rewrite), str(exc)

    @property
    def flush_interval(self) -> float:
        return self._delivery.interval

    @property
    def skipped_total(self) -> int:
        """Lines that left a ring buffer before they could be delivered, all sources."""
        return self._store.skipped_total

    # -- the contract: read model and change events ------------------------------------

    def subscribe(self, listener: ChangeListener) -> Unsubscribe:
        """``listener(change)`` on the event loop: a ``LogChange`` with each coalesced batch
        of new lines, a plain ``Change`` (with the server) when a source's state changed."""
        return self._listeners.add(listener)

    def snapshot(self) -> LogsSnapshot:
        """The read model: sources, lines skipped, the auth counts of the default window."""
        return LogsSnapshot(sources=tuple(self.sources()), skipped=self.skipped_total,
                            counts=MappingProxyType(self.rule_counts()),
                            window_s=INITIAL_WINDOW_S, problems=tuple(self.problems))

    def _status_changed(self, server: str) -> None:
        self._listeners.emit(Change(service="logs", server=server))

    # -- queries (no I/O) --------------------------------------------------------------

    def sources(self) -> list[SourceStatus]:
        """Every source's status (``snapshot().sources``, as a list)."""
        return self._sources.statuses()

    def buffered(self, auth_only: bool = False) -> list[LogLine]:
        """Everything in the buffers (or the kept auth events), oldest first."""
        return self._store.buffered(auth_only)

    def rule_counts(self, window_s: float = INITIAL_WINDOW_S, server: str | None = None,
                    now: datetime | None = None) -> dict[str, int]:
        """Auth events per rule whose line time is within the last ``window_s`` seconds."""
        return self._store.rule_counts(window_s, server, now)

    def rate_per_minute(self, minutes: int = 30, server: str | None = None,
                        now: datetime | None = None) -> list[int]:
        """Auth events per minute, oldest first, the last entry being the current minute."""
        return self._store.rate_per_minute(minutes, server, now)

    def auth_summary(self, window_s: float = INITIAL_WINDOW_S, server: str | None = None,
                     recent: int = 20, now: datetime | None = None) -> dict[str, object]:
        """The ``auth_events`` object of ``check --json``: ``window_s``, ``counts`` per rule,
        and the ``recent`` events oldest first (the last one is the newest), each line made
        printable and at most 500 characters."""
        now = now or utcnow()
        events = self._store.events_since(now - timedelta(seconds=window_s), server)
        latest = events[-recent:] if recent else []
        return {
            "window_s": int(window_s),
            "counts": self.rule_counts(window_s, server, now),
            "recent": [{
                "time": e.time.isoformat().replace("+00:00", "Z"),
                "server": e.server,
                "source": e.source,
                "rule": e.rule,
                "severity": e.severity.label if e.severity is not None else None,
                "line": make_visible(e.text, 500),
            } for e in latest],
        }

    # -- ingest (any thread) -----------------------------------------------------------

    def feed(self, server: str, source: str, texts: Iterable[str],
             times: Sequence[datetime] | None = None, kind: str = "container") -> None:
        """Ingest lines from elsewhere (tests, benchmarks, a future source kind): cut,
        classified and redacted exactly like the lines the readers bring. Any thread."""
        limit = MAX_LINE_BYTES + 128  # room for a decoder's own cut marker
        rows = [t if len(t) <= limit else t[:MAX_LINE_BYTES] +
                f" … [{len(t) - MAX_LINE_BYTES:,} chars cut]" for t in texts]
        stamps = list(times) if times is not None else [utcnow()] * len(rows)
        self._ingest(self._source(server, source, kind), stamps, rows)

    def _source(self, server: str, name: str, kind: str) -> Source:
        return self._sources.get(server, name, kind)

    def _ingest(self, src: Source, times: Sequence[datetime], texts: list[str]) -> None:
        """Classify (and redact) a batch of one source's lines, store them, wake delivery."""
        self._store.ingest(src, times, texts)
        self._delivery.wake()

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Follow every source in the background; returns at once."""
        if self._running:
            return
        self._running = True
        self._delivery.bind(asyncio.get_running_loop())
        self._containers.attach()
        if self._own_containers:
            await self._containers.containers.start()
        for name in self._servers:
            self._containers.follow(name)
            self._files.follow(name)

    async def stop(self) -> None:
        self._running = False
        tasks = self._containers.halt() + self._files.halt()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._own_containers:
            await self._containers.containers.stop()

    # -- refresh (headless) ------------------------------------------------------------

    async def refresh(self, window_s: float = INITIAL_WINDOW_S) -> None:
        """Read the last ``window_s`` seconds of every source once, without following.

        For ``check`` and ``report``: afterwards ``auth_summary()`` covers the window.
        """
        listed = await self._containers.listed(owned=self._own_containers)
        await asyncio.gather(*(self._refresh_server(name, listed.get(name), window_s)
                               for name in self._servers))
        self._store.collect()  # mark everything delivered; nobody follows

    async def _refresh_server(self, name: str, snap: ServerContainersView | None,
                              window_s: float) -> None:
        host = self.hosts[name]
        if not await host.wait_up(timeout=REFRESH_CONNECT_TIMEOUT):
            self._containers.mark_lost(name, host.status.describe())
            return
        jobs = (self._containers.refresh_jobs(name, snap, window_s)
                + self._files.refresh_jobs(name, window_s))
        await asyncio.gather(*jobs)

    # -- export ------------------------------------------------------------------------

    def export(self, lines: Sequence[LogLine], path: str | os.PathLike[str]) -> int:
        """Write lines to a file (blocking: call it from a worker thread)."""
        return export_lines(lines, path)
