"""The contracts every engine service keeps: its life cycle, its read model, its change event.

A service's state leaves it in one shape only: ``snapshot()`` returns a frozen dataclass, the
service's *read model*. ``check``, ``report``, the panes and the diagnosis all read those
objects and nothing else, so a field added to a read model reaches every consumer at once,
and no consumer can mutate a service's state by accident.

Services tell their listeners that something changed with one typed event, ``Change`` (or a
subclass that carries a payload the listener needs at once, such as a batch of log lines).
A listener re-reads the read model it cares about; the event says only where to look.

What one service needs of another is a ``Protocol`` declared next to the consumer (the
secret service declares what it reads of the container service), so services never hold
each other as ``Any`` and never probe each other with ``getattr``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, runtime_checkable

__all__ = [
    "Change",
    "ChangeListener",
    "ServiceName",
    "Service",
    "Unsubscribe",
]

ServiceName = Literal["containers", "logs", "health", "secrets", "actions", "fleet_sources"]

Unsubscribe = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Change:
    """Something in ``service``'s read model changed, for ``server`` (None: several or all).

    The event carries no state of its own: the listener reads ``snapshot()``. Subclasses may
    add a payload that cannot be re-read later (new log lines leave the ring buffer).
    """

    service: ServiceName
    server: str | None = None


ChangeListener = Callable[[Change], None]

SnapshotT_co = TypeVar("SnapshotT_co", covariant=True)


@runtime_checkable
class Service(Protocol[SnapshotT_co]):
    """What the Fleet, ``check``, ``report`` and the UI may rely on for every service.

    - ``start()``: begin live mode (follow, poll); returns at once.
    - ``refresh()``: one full round now, for the headless commands.
    - ``stop()``: end live mode; never raises for a server that is down.
    - ``snapshot()``: the current read model, with no I/O; cheap enough to call per frame.
    - ``subscribe(listener)``: ``listener(change)`` on the event loop; returns an unsubscribe.
    """

    async def start(self) -> None: ...

    async def refresh(self) -> None: ...

    async def stop(self) -> None: ...

    def snapshot(self) -> SnapshotT_co: ...

    def subscribe(self, listener: ChangeListener) -> Unsubscribe: ...
