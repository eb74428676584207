"""A LogService over no containers, and the fleet the logs pane needs of it."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace

from console.config import Config, ConsoleSettings, LogRuleConfig, LogsConfig, ServerConfig
from console.engine.logs import LogService
from tests.support.fleet import BareFleet, NoContainers


def make_log_service(buffer_lines: int = 10_000, rules: Iterable[LogRuleConfig] = (),
                     flush: float = 0.01) -> LogService:
    """A LogService for server "alpha" over no containers and a host it never uses: it
    holds what a test feeds it."""
    server = ServerConfig(name="alpha", logs=LogsConfig(buffer_lines=buffer_lines,
                                                        rules=tuple(rules)))
    config = Config(ConsoleSettings(), (server,))
    return LogService(config, {"alpha": SimpleNamespace()},  # type: ignore[dict-item]
                      containers=NoContainers(), flush_interval=flush)


class LogsFleet(BareFleet):
    """What the logs pane reads of the Fleet: its config and a LogService fed directly."""

    def __init__(self, buffer_lines: int = 10_000) -> None:
        logs = make_log_service(buffer_lines, flush=0.02)
        super().__init__(logs.config, logs=logs)
        self.logs: LogService = logs
