"""``${VAR}`` references, filled from the process environment only."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from console.config.model import ConfigError

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: str, where: str = "", source: str = "environment") -> str:
    """Replace ``${VAR}`` from the environment; a missing variable is an error, not ''."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(source, where, f"environment variable {name} is not set")
        return os.environ[name]

    return ENV_REF.sub(sub, value)


def expand_env_tree(value: Any, where: str = "") -> Any:
    """Expand ``${VAR}`` in every string of a JSON-like tree (used for test-login bodies)."""
    if isinstance(value, str):
        return expand_env(value, where)
    if isinstance(value, Mapping):
        return {k: expand_env_tree(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env_tree(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
