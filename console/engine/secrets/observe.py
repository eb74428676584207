"""Observations: all that is kept of a secret once its value is gone.

A value lives in a local variable for the few microseconds between parsing and
``observe``; what survives is an ``Observation`` (a state word, a weakness reason, and a
keyed fingerprint). Fingerprints are HMAC-SHA256 under a key drawn from
``secrets.token_bytes`` when the service is built: equal values give equal fingerprints
within one run, and a fingerprint says nothing about the value to anyone without the key,
which never leaves the process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from console.engine.envfile import EnvFile
from console.engine.secrets.weakness import weakness

__all__ = [
    "ABSENT",
    "Fingerprinter",
    "Observation",
    "Place",
    "Unclassifiable",
    "classify_value",
    "env_list_to_dict",
    "observe",
]

class Fingerprinter:
    """HMAC-SHA256 under a per-run random key; never a plain hash (a plain hash of a weak
    secret is as good as the secret to anyone with a word list)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else _random.token_bytes(32)

    def __call__(self, name: str, value: str) -> str:
        message = name.encode("utf-8", "surrogateescape") + b"\0" + \
            value.encode("utf-8", "surrogateescape")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:24]

    def __repr__(self) -> str:
        return "Fingerprinter(<per-run key>)"


@dataclass(frozen=True, slots=True)
class Observation:
    """All that is kept of one name in one place once its value is gone.

    ``state``: ``absent`` (no such name), ``bare`` (``NAME`` without ``=``), ``empty``, or
    ``value``; ``weak`` says why a value is weak; ``unresolved``: the value refers to the
    deploying shell (``${X}``), so it is not compared.
    """

    state: str
    fingerprint: str | None = None
    weak: str | None = None
    unresolved: bool = False

    @property
    def has_value(self) -> bool:
        return self.state == "value"

    @property
    def comparable(self) -> bool:
        return self.state == "value" and not self.unresolved


ABSENT = Observation("absent")


def classify_value(name: str, value: str | None, fingerprint: Fingerprinter,
                   unresolved: bool = False) -> Observation:
    """Turn a value into an Observation; the caller drops the value right after."""
    if value is None:
        return Observation("bare")
    if not value.strip():
        return Observation("empty")
    return Observation("value", fingerprint(name, value), weakness(name, value), unresolved)


def observe(names: Iterable[str], values: Mapping[str, str | None],
             fingerprint: Fingerprinter, unresolved: frozenset[str] = frozenset()
             ) -> dict[str, Observation]:
    """Observations for ``names``; any failure is re-raised without its (value-bearing) text."""
    result: dict[str, Observation] = {}
    for name in names:
        if name not in values:
            result[name] = ABSENT
            continue
        try:
            result[name] = classify_value(name, values[name], fingerprint, name in unresolved)
        except Exception:  # noqa: BLE001 - a message here could quote the value
            raise Unclassifiable(name) from None
    return result


class Unclassifiable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: the value could not be classified")


@dataclass(slots=True)
class Place:
    """A place as read, before and after classification (``values`` is cleared)."""

    label: str
    kind: str  # file | container
    values: dict[str, str | None] | EnvFile | None = None
    assigned: frozenset[str] = frozenset()
    unresolved: frozenset[str] = frozenset()
    directory: str | None = None  # compose working_dir (containers) / parent dir (files)
    observations: dict[str, Observation] = field(default_factory=dict)
    readable: bool = True
    missing_file: bool = False

    def drop_values(self) -> None:
        if isinstance(self.values, dict):
            self.values.clear()
        elif isinstance(self.values, EnvFile):
            self.values.discard()
        self.values = None


def env_list_to_dict(env: Iterable[object]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for item in env or ():
        text = str(item)
        name, sep, value = text.partition("=")
        values[name] = value if sep else None
    return values

