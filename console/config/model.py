"""The config's read model: frozen dataclasses that every part of the console reads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.textsafe import make_visible

SEVERITIES = ("info", "warning", "error", "critical")
FROM_CHOICES = ("server", "console")


class ConfigError(Exception):
    """A config problem, phrased for the operator: where, and what was expected."""

    def __init__(self, source: str, where: str, message: str) -> None:
        # A key or value quoted back may hold an escape sequence; the message is printed
        # to the operator's terminal, so every part is made printable here, once.
        source, where, message = (make_visible(part, 2000) for part in (source, where,
                                                                         message))
        self.source = source
        self.where = where
        self.message = message
        super().__init__(f"{source}: {where}: {message}" if where else f"{source}: {message}")


def default_audit_log() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "ops-console" / "audit.jsonl"


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    read_only: bool = False
    theme: str = "ops-dark"
    audit_log: Path = field(default_factory=default_audit_log)


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: str
    url: str
    from_: str = "server"  # "server": through the SSH connection; "console": from here
    expect_status: int = 200
    expect_json: Mapping[str, Any] | None = None
    timeout: float = 5.0
    interval: float = 10.0
    max_latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class SecretsConfig:
    env_files: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    consistent: tuple[str, ...] = ()
    infer: bool = False  # zero-config: required names are inferred from what is found


@dataclass(frozen=True, slots=True)
class LogRuleConfig:
    """A config rule: added, or - named like a built-in rule - replacing it (``pattern``
    None: only its severity changes) or switching it off (``disabled``)."""

    name: str
    pattern: str | None
    severity: str = "warning"
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class LogsConfig:
    containers: tuple[str, ...] | None = None  # None: every container of the server
    files: tuple[str, ...] = ()
    rules: tuple[LogRuleConfig, ...] = ()
    buffer_lines: int = 10_000


@dataclass(frozen=True, slots=True)
class MigrateAction:
    command: tuple[str, ...]
    container: str | None = None  # None: run on the host itself
    timeout: float = 600.0


@dataclass(frozen=True, slots=True)
class TestLoginAction:
    url: str
    json: Mapping[str, Any]  # templates: ${VAR} expanded at send time
    from_: str = "server"
    token_field: str = "access_token"
    verify_with_secret: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class PrometheusConfig:
    """A Prometheus (and its Alertmanager) the fleet view reads instead of SSH fan-out.

    ``bearer_token`` and ``basic_password`` are ``${VAR}`` templates, expanded from the
    environment when a request is sent, so a credential never sits in the config object.
    ``interval`` None: the scrape interval Prometheus reports.
    """

    name: str
    url: str
    alertmanager_url: str | None = None
    bearer_token: str | None = None
    basic_user: str | None = None
    basic_password: str | None = None
    timeout: float = 5.0
    interval: float | None = None
    match: str | None = None  # a label selector, e.g. '{env="prod"}'


CONNECT_CHOICES = ("always", "on_demand")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    name: str
    host: str = "local"
    port: int = 22
    user: str | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    docker_socket: str = "/var/run/docker.sock"
    compose_project: str | None = None
    protected: bool = False
    health: tuple[HealthCheck, ...] = ()
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    migrate: MigrateAction | None = None
    test_login: TestLoginAction | None = None
    discover_health: bool = False  # zero-config: probe published ports for /health
    connect: str = "always"  # "on_demand": SSH opens when first needed, closes when idle
    idle_close_s: float = 300.0
    prometheus_instance: str | None = None  # the ``instance`` label of this server's targets

    @property
    def is_local(self) -> bool:
        return self.host == "local"


@dataclass(frozen=True, slots=True)
class Config:
    console: ConsoleSettings
    servers: tuple[ServerConfig, ...]
    source: Path | None = None  # None: zero-config local mode
    prometheus: tuple[PrometheusConfig, ...] = ()

    @property
    def zero_config(self) -> bool:
        return self.source is None

    def server(self, name: str) -> ServerConfig:
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(name)
