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

from console.config.env import expand_env, expand_env_tree
from console.config.load import find_config, load_config, load_or_default, zero_config
from console.config.model import (
    CONNECT_CHOICES,
    FROM_CHOICES,
    SEVERITIES,
    Config,
    ConfigError,
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

__all__ = [
    "CONNECT_CHOICES",
    "FROM_CHOICES",
    "SEVERITIES",
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
    "expand_env_tree",
    "find_config",
    "load_config",
    "load_or_default",
    "zero_config",
]
