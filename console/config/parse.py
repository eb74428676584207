"""The config file's sections, each checked and turned into its dataclass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from console.config.model import (
    CONNECT_CHOICES,
    FROM_CHOICES,
    SEVERITIES,
    Config,
    ConsoleSettings,
    HealthCheck,
    LogRuleConfig,
    LogsConfig,
    MigrateAction,
    PrometheusConfig,
    SecretsConfig,
    ServerConfig,
    TestLoginAction,
    default_audit_log,
)
from console.config.values import ValueReader, kind_of

_SERVER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class Parser(ValueReader):
    """Walks the TOML tree section by section; the values are read by ``ValueReader``."""


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
        self.unique([b.name for b in blocks], "prometheus",
                    "prometheus name {name!r} is used twice; names must be unique")
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
        self.unique([s.name for s in servers], "servers",
                    "server name {name!r} is used twice; names must be unique")

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
        self.unique([h.name for h in health], f"{where}.health",
                    "health check name {name!r} is used twice on this server")
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
                            f"got {kind_of(expect_json)}")
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
            raise self.fail(f"{where}.json", f"expected an inline table, got {kind_of(body)}")
        return TestLoginAction(
            url=url,
            json=body,
            from_=self.choice(data, "from", where, FROM_CHOICES, "server"),
            token_field=self.string(data, "token_field", where, "access_token"),
            verify_with_secret=self.string(data, "verify_with_secret", where, None),
            timeout=self.number(data, "timeout", where, 10.0),
        )
