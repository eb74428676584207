"""The config file: TOML in, frozen dataclasses out, and errors an operator can act on.

Why a hand-written validator rather than a schema library: every error must name the file,
the key path (``servers[1].health[0].timeout``) and what was expected, in one line, with no
traceback, and the rules are few. ``tomllib`` gives the line and column for syntax errors.

``${VAR}`` placeholders come from the process environment only, never from a ``.env`` file:
the console reads .env files of *servers* as data to check, not as its own settings. Values
under ``actions.test_login.json`` are kept as templates and expanded only when the login is
sent, so a credential is never held in the config object and a missing one does not stop the
console from starting.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.textsafe import make_visible

__all__ = [
    "Config",
    "ConfigError",
    "ConsoleSettings",
    "HealthCheck",
    "LogRuleConfig",
    "LogsConfig",
    "MigrateAction",
    "PrometheusConfig",
    "SecretsConfig",
    "ServerConfig",
    "TestLoginAction",
    "default_audit_log",
    "expand_env",
    "find_config",
    "load_config",
    "load_or_default",
    "zero_config",
]

SEVERITIES = ("info", "warning", "error", "critical")
FROM_CHOICES = ("server", "console")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


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


# --------------------------------------------------------------------------- lookup


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """SPEC order: --config, $OPS_CONSOLE_CONFIG, XDG config, else None (zero-config).

    An explicit path or $OPS_CONSOLE_CONFIG that does not exist is an error rather than a
    silent fall-through: the operator asked for that file.
    """
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("OPS_CONSOLE_CONFIG")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    candidate = Path(xdg) / "ops-console" / "config.toml"
    return candidate if candidate.is_file() else None


def load_or_default(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config(explicit)
    return zero_config() if path is None else load_config(path)


def zero_config() -> Config:
    """This machine's Docker socket, all containers, default rules, inferred secrets."""
    local = ServerConfig(
        name="local",
        secrets=SecretsConfig(infer=True),
        discover_health=True,
    )
    return Config(console=ConsoleSettings(), servers=(local,), source=None)


def load_config(path: str | os.PathLike[str]) -> Config:
    path = Path(path)
    source = str(path)
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, "", "file not found") from None
    except OSError as exc:
        raise ConfigError(source, "", f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, f"byte {exc.start}", "expected UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"invalid TOML: {exc}") from None
    return _Parser(source, text).config(data)


def expand_env(value: str, where: str = "", source: str = "environment") -> str:
    """Replace ``${VAR}`` from the environment; a missing variable is an error, not ''."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(source, where, f"environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


def expand_env_tree(value: Any, where: str = "") -> Any:
    """Expand ``${VAR}`` in every string of a JSON-like tree (used for test-login bodies)."""
    if isinstance(value, str):
        return expand_env(value, where)
    if isinstance(value, Mapping):
        return {k: expand_env_tree(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env_tree(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


# --------------------------------------------------------------------------- parsing


class _Parser:
    """Walks the TOML tree with a key path, so every error says exactly where it is."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = text.splitlines()

    # -- errors ------------------------------------------------------------------------

    def fail(self, where: str, message: str) -> ConfigError:
        line = self._guess_line(where)
        if line:
            where = f"{where} (line {line})"
        return ConfigError(self.source, where, message)

    def _guess_line(self, where: str) -> int | None:
        """Best effort: the line of the last key of the path, if it appears once."""
        key = re.split(r"[.\[]", where)[-1].rstrip("]") if where else ""
        if not key or key.isdigit():
            return None
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        hits = [i + 1 for i, line in enumerate(self.lines) if pattern.match(line)]
        return hits[0] if len(hits) == 1 else None

    # -- typed getters -----------------------------------------------------------------

    def table(self, data: Any, where: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(where, f"expected a table, got {_kind(data)}")
        return data

    def no_unknown(self, data: Mapping[str, Any], where: str, known: set[str]) -> None:
        for key in data:
            if key not in known:
                options = ", ".join(sorted(known))
                path = f"{where}.{key}" if where else key
                raise self.fail(path, f"unknown key; expected one of: {options}")

    def string(self, data: Mapping[str, Any], key: str, where: str, default: Any = ...) -> Any:
        path = f"{where}.{key}" if where else key
        if key not in data:
            if default is ...:
                raise self.fail(path, "required key is missing (expected a string)")
            return default
        value = data[key]
        if not isinstance(value, str):
            raise self.fail(path, f"expected a string, got {_kind(value)}")
        return expand_env(value, path, self.source)

    def boolean(self, data: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}" if where else key,
                            f"expected true or false, got {_kind(value)}")
        return value

    def number(self, data: Mapping[str, Any], key: str, where: str, default: float,
               minimum: float = 0.0, exclusive: bool = True) -> float:
        value = data.get(key, default)
        path = f"{where}.{key}" if where else key
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"expected a number, got {_kind(value)}")
        if value < minimum or (exclusive and value == minimum):
            bound = "greater than" if exclusive else "at least"
            raise self.fail(path, f"expected a number {bound} {minimum:g}, got {value!r}")
        return float(value)

    def integer(self, data: Mapping[str, Any], key: str, where: str, default: int,
                low: int, high: int) -> int:
        value = data.get(key, default)
        path = f"{where}.{key}" if where else key
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected a whole number, got {_kind(value)}")
        if not low <= value <= high:
            raise self.fail(path, f"expected a whole number from {low} to {high}, got {value}")
        return value

    def strings(self, data: Mapping[str, Any], key: str, where: str,
                default: tuple[str, ...] | None = ()) -> tuple[str, ...] | None:
        if key not in data:
            return default
        value = data[key]
        path = f"{where}.{key}"
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(path, f"expected a list of strings, got {_kind(value)}")
        return tuple(expand_env(v, f"{path}[{i}]", self.source) for i, v in enumerate(value))

    def choice(self, data: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...],
               default: str) -> str:
        value = str(self.string(data, key, where, default))
        if value not in choices:
            raise self.fail(f"{where}.{key}",
                            f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    # -- sections ----------------------------------------------------------------------

    def config(self, data: dict[str, Any]) -> Config:
        self.no_unknown(data, "", {"console", "servers", "prometheus"})
        console = self.console(self.table(data.get("console", {}), "console"))
        prometheus = self.prometheus_list(data.get("prometheus", []))
        raw_servers = data.get("servers", [])
        if not isinstance(raw_servers, list) or (not raw_servers and not prometheus):
            raise self.fail("servers", "expected at least one [[servers]] or [[prometheus]] "
                            "table")
        servers = tuple(self.server(s, f"servers[{i}]") for i, s in enumerate(raw_servers))
        self.check_unique_names(servers)
        return Config(console=console, servers=servers, source=Path(self.source),
                      prometheus=prometheus)

    def prometheus_list(self, raw: Any) -> tuple[PrometheusConfig, ...]:
        if not isinstance(raw, list):
            raise self.fail("prometheus", "expected [[prometheus]] tables")
        blocks = tuple(self.prometheus(p, f"prometheus[{i}]") for i, p in enumerate(raw))
        names = [b.name for b in blocks]
        for i, name in enumerate(names):
            if names.index(name) != i:
                raise self.fail(f"prometheus[{i}].name",
                                f"prometheus name {name!r} is used twice; names must be unique")
        return blocks

    def prometheus(self, raw: Any, where: str) -> PrometheusConfig:
        data = self.table(raw, where)
        self.no_unknown(data, where, {"name", "url", "alertmanager_url", "bearer_token",
                                      "basic_auth", "timeout", "interval", "match"})
        url = self.string(data, "url", where)
        self.check_url(url, f"{where}.url")
        alertmanager = self.string(data, "alertmanager_url", where, None)
        if alertmanager is not None:
            self.check_url(alertmanager, f"{where}.alertmanager_url")
        user = password = None
        if "basic_auth" in data:
            auth = self.table(data["basic_auth"], f"{where}.basic_auth")
            self.no_unknown(auth, f"{where}.basic_auth", {"user", "password"})
            user = self.string(auth, "user", f"{where}.basic_auth")
            password = self.env_only(auth, "password", f"{where}.basic_auth")
        token = self.env_only(data, "bearer_token", where) if "bearer_token" in data else None
        if token is not None and user is not None:
            raise self.fail(f"{where}.bearer_token", "expected bearer_token or basic_auth, "
                            "not both")
        match = self.string(data, "match", where, None)
        if match is not None and not re.fullmatch(r"\{.*\}", match.strip(), re.S):
            raise self.fail(f"{where}.match",
                            f'expected a label selector such as {{env="prod"}}, got {match!r}')
        interval = data.get("interval")
        return PrometheusConfig(
            name=self.string(data, "name", where), url=url.rstrip("/"),
            alertmanager_url=alertmanager.rstrip("/") if alertmanager else None,
            bearer_token=token, basic_user=user, basic_password=password,
            timeout=self.number(data, "timeout", where, 5.0),
            interval=None if interval is None else self.number(data, "interval", where,
                                                                 15.0, 1.0, False),
            match=match.strip() if match else None)

    def env_only(self, data: Mapping[str, Any], key: str, where: str) -> str:
        """A credential: only a ``${VAR}`` reference is accepted, never the value itself.

        The reference is kept unexpanded (it is expanded when a request is sent), so the
        value never sits in the config object and a missing variable does not stop start-up.
        """
        value = data.get(key)
        if not isinstance(value, str) or not _ENV_REF.fullmatch(value.strip()):
            raise self.fail(f"{where}.{key}", 'expected a reference to an environment '
                            'variable such as "${PROM_TOKEN}" (credentials are never '
                            'written in the config file)')
        return value.strip()

    def console(self, data: dict[str, Any]) -> ConsoleSettings:
        self.no_unknown(data, "console", {"read_only", "theme", "audit_log"})
        audit = self.string(data, "audit_log", "console", None)
        theme = self.string(data, "theme", "console", "ops-dark")
        if not theme.strip():
            raise self.fail("console.theme", "expected a theme name, got an empty string")
        return ConsoleSettings(
            read_only=self.boolean(data, "read_only", "console", False),
            theme=theme,
            audit_log=Path(audit).expanduser() if audit else default_audit_log(),
        )

    def check_unique_names(self, servers: tuple[ServerConfig, ...]) -> None:
        seen: set[str] = set()
        for i, server in enumerate(servers):
            if server.name in seen:
                raise self.fail(f"servers[{i}].name",
                                f"server name {server.name!r} is used twice; names must be unique")
            seen.add(server.name)

    def server(self, raw: Any, where: str) -> ServerConfig:
        data = self.table(raw, where)
        self.no_unknown(data, where, {
            "name", "host", "port", "user", "identity_file", "known_hosts", "docker_socket",
            "compose_project", "protected", "health", "secrets", "logs", "actions",
            "connect", "idle_close_s", "prometheus_instance",
        })
        name = self.string(data, "name", where)
        if not _SERVER_NAME.match(name):
            raise self.fail(f"{where}.name", "expected letters, digits, '.', '_' or '-' "
                            f"(at most 63, starting with a letter or digit), got {name!r}")
        host = self.string(data, "host", where, "local")
        if not host.strip():
            raise self.fail(f"{where}.host", "expected a host name, address or \"local\"")
        socket = self.string(data, "docker_socket", where, "/var/run/docker.sock")
        if not socket.startswith("/"):
            raise self.fail(f"{where}.docker_socket",
                            f"expected an absolute path on the server, got {socket!r}")
        actions = self.table(data.get("actions", {}), f"{where}.actions")
        self.no_unknown(actions, f"{where}.actions", {"migrate", "test_login"})
        raw_health = data.get("health", [])
        if not isinstance(raw_health, list):
            raise self.fail(f"{where}.health", "expected [[servers.health]] tables")
        health = tuple(self.health(h, f"{where}.health[{i}]") for i, h in enumerate(raw_health))
        names = [h.name for h in health]
        for i, hname in enumerate(names):
            if names.index(hname) != i:
                raise self.fail(f"{where}.health[{i}].name",
                                f"health check name {hname!r} is used twice on this server")
        return ServerConfig(
            name=name,
            host=host,
            port=self.integer(data, "port", where, 22, 1, 65535),
            user=self.string(data, "user", where, None),
            identity_file=self.string(data, "identity_file", where, None),
            known_hosts=self.string(data, "known_hosts", where, None),
            docker_socket=socket,
            compose_project=self.string(data, "compose_project", where, None),
            protected=self.boolean(data, "protected", where, False),
            health=health,
            secrets=self.secrets(data.get("secrets", {}), f"{where}.secrets"),
            logs=self.logs(data.get("logs", {}), f"{where}.logs"),
            migrate=self.migrate(actions.get("migrate"), f"{where}.actions.migrate"),
            test_login=self.test_login(actions.get("test_login"), f"{where}.actions.test_login"),
            connect=self.choice(data, "connect", where, CONNECT_CHOICES, "always"),
            idle_close_s=self.number(data, "idle_close_s", where, 300.0, 1.0, False),
            prometheus_instance=self.string(data, "prometheus_instance", where, None),
        )

    def health(self, raw: Any, where: str) -> HealthCheck:
        data = self.table(raw, where)
        self.no_unknown(data, where, {"name", "url", "from", "expect_status", "expect_json",
                                      "timeout", "interval", "max_latency_ms"})
        url = self.string(data, "url", where)
        self.check_url(url, f"{where}.url")
        expect_json = data.get("expect_json")
        if expect_json is not None and not isinstance(expect_json, dict):
            raise self.fail(f"{where}.expect_json",
                            f"expected an inline table like {{ status = \"ok\" }}, "
                            f"got {_kind(expect_json)}")
        max_latency = data.get("max_latency_ms")
        return HealthCheck(
            name=self.string(data, "name", where),
            url=url,
            from_=self.choice(data, "from", where, FROM_CHOICES, "server"),
            expect_status=self.integer(data, "expect_status", where, 200, 100, 599),
            expect_json=expect_json,
            timeout=self.number(data, "timeout", where, 5.0),
            interval=self.number(data, "interval", where, 10.0),
            max_latency_ms=None if max_latency is None
            else self.number(data, "max_latency_ms", where, 0.0),
        )

    def check_url(self, url: str, where: str) -> None:
        if not re.match(r"^https?://[^/\s]+", url):
            raise self.fail(where, f"expected an http:// or https:// URL, got {url!r}")

    def secrets(self, raw: Any, where: str) -> SecretsConfig:
        data = self.table(raw, where)
        self.no_unknown(data, where, {"env_files", "containers", "required", "consistent"})
        required = self.strings(data, "required", where) or ()
        consistent = self.strings(data, "consistent", where) or ()
        return SecretsConfig(
            env_files=self.strings(data, "env_files", where) or (),
            containers=self.strings(data, "containers", where) or (),
            required=required,
            consistent=consistent,
        )

    def logs(self, raw: Any, where: str) -> LogsConfig:
        data = self.table(raw, where)
        self.no_unknown(data, where, {"containers", "files", "rules", "buffer_lines"})
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            raise self.fail(f"{where}.rules", "expected [[servers.logs.rules]] tables")
        return LogsConfig(
            containers=self.strings(data, "containers", where, None),
            files=self.strings(data, "files", where) or (),
            rules=tuple(self.rule(r, f"{where}.rules[{i}]") for i, r in enumerate(raw_rules)),
            buffer_lines=self.integer(data, "buffer_lines", where, 10_000, 100, 10_000_000),
        )

    def rule(self, raw: Any, where: str) -> LogRuleConfig:
        """A rule that adds to the built-ins, or replaces or disables one by its id."""
        from console.engine.rules.builtin import BUILTIN_RULES, RENAMED  # rules import us

        data = self.table(raw, where)
        self.no_unknown(data, where, {"name", "pattern", "severity", "disabled"})
        name = self.string(data, "name", where)
        builtin = {r.name: r.severity.label for r in BUILTIN_RULES}
        disabled = self.boolean(data, "disabled", where, False)
        if name not in builtin and (disabled or "pattern" not in data):
            renamed = f" (it is now {RENAMED[name]!r})" if name in RENAMED else ""
            if disabled:
                raise self.fail(f"{where}.disabled", f"no built-in rule is named {name!r}"
                                f"{renamed}; built-ins: {', '.join(builtin)}")
            raise self.fail(f"{where}.pattern", "required key is missing (expected a string; "
                            f"only a built-in rule's id may omit it){renamed}")
        if disabled:
            extra = sorted({"pattern", "severity"} & data.keys())
            if extra:
                raise self.fail(f"{where}.{extra[0]}",
                                "a disabled rule takes no pattern or severity")
            return LogRuleConfig(name=name, pattern=None, disabled=True)
        pattern = self.string(data, "pattern", where, None)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise self.fail(f"{where}.pattern",
                                f"expected a valid regular expression: {exc}") from None
        return LogRuleConfig(
            name=name,
            pattern=pattern,
            severity=self.choice(data, "severity", where, SEVERITIES,
                                 builtin.get(name, "warning")),
        )

    def migrate(self, raw: Any, where: str) -> MigrateAction | None:
        if raw is None:
            return None
        data = self.table(raw, where)
        self.no_unknown(data, where, {"container", "command", "timeout"})
        command = self.strings(data, "command", where, None)
        if not command:
            raise self.fail(f"{where}.command",
                            "expected a non-empty list like [\"alembic\", \"upgrade\", \"head\"]")
        return MigrateAction(
            command=command,
            container=self.string(data, "container", where, None),
            timeout=self.number(data, "timeout", where, 600.0),
        )

    def test_login(self, raw: Any, where: str) -> TestLoginAction | None:
        if raw is None:
            return None
        data = self.table(raw, where)
        self.no_unknown(data, where, {"url", "from", "json", "token_field",
                                      "verify_with_secret", "timeout"})
        url = self.string(data, "url", where)
        self.check_url(url, f"{where}.url")
        body = data.get("json", {})
        if not isinstance(body, dict):
            raise self.fail(f"{where}.json", f"expected an inline table, got {_kind(body)}")
        return TestLoginAction(
            url=url,
            json=body,
            from_=self.choice(data, "from", where, FROM_CHOICES, "server"),
            token_field=self.string(data, "token_field", where, "access_token"),
            verify_with_secret=self.string(data, "verify_with_secret", where, None),
            timeout=self.number(data, "timeout", where, 10.0),
        )


def _kind(value: Any) -> str:
    """Names a TOML value's type the way the operator wrote it."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) < 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__
