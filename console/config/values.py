"""Typed reads from a TOML tree, each error located by key path and, when it can be
found, by line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from console.config.env import ENV_REF, expand_env
from console.config.model import ConfigError


class ValueReader:
    """Reads one typed value at a key path, so every error says exactly where it is."""

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
            raise self.fail(where, f"expected a table, got {kind_of(data)}")
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
            raise self.fail(path, f"expected a string, got {kind_of(value)}")
        return expand_env(value, path, self.source)

    def boolean(self, data: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}" if where else key,
                            f"expected true or false, got {kind_of(value)}")
        return value

    def number(self, data: Mapping[str, Any], key: str, where: str, default: float,
               minimum: float = 0.0, exclusive: bool = True) -> float:
        value = data.get(key, default)
        path = f"{where}.{key}" if where else key
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(path, f"expected a number, got {kind_of(value)}")
        if value < minimum or (exclusive and value == minimum):
            bound = "greater than" if exclusive else "at least"
            raise self.fail(path, f"expected a number {bound} {minimum:g}, got {value!r}")
        return float(value)

    def integer(self, data: Mapping[str, Any], key: str, where: str, default: int,
                low: int, high: int) -> int:
        value = data.get(key, default)
        path = f"{where}.{key}" if where else key
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"expected a whole number, got {kind_of(value)}")
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
            raise self.fail(path, f"expected a list of strings, got {kind_of(value)}")
        return tuple(expand_env(v, f"{path}[{i}]", self.source) for i, v in enumerate(value))

    def choice(self, data: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...],
               default: str) -> str:
        value = str(self.string(data, key, where, default))
        if value not in choices:
            raise self.fail(f"{where}.{key}",
                            f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def unique(self, names: list[str], where: str, message: str) -> None:
        """The first name used a second time is an error at ``where[i].name``;
        ``message`` is formatted with ``name``."""
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                raise self.fail(f"{where}[{i}].name", message.format(name=name))
            seen.add(name)

    def env_only(self, data: Mapping[str, Any], key: str, where: str) -> str:
        """A credential: only a ``${VAR}`` reference is accepted, never the value itself.

        The reference is kept unexpanded (it is expanded when a request is sent), so the
        value never sits in the config object and a missing variable does not stop start-up.
        """
        value = data.get(key)
        if not isinstance(value, str) or not ENV_REF.fullmatch(value.strip()):
            raise self.fail(f"{where}.{key}", 'expected a reference to an environment '
                            'variable such as "${PROM_TOKEN}" (credentials are never '
                            'written in the config file)')
        return value.strip()


def kind_of(value: Any) -> str:
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
