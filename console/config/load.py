"""Where the config file is, and reading it: TOML in, a ``Config`` out."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from console.config.model import Config, ConfigError, ConsoleSettings, SecretsConfig, ServerConfig
from console.config.parse import Parser


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
    return Parser(source, text).config(data)
