"""The connection status every host reports, and waiting for it to be up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from console.engine.host_api import StatusListener
from console.engine.listeners import Listeners
from console.models import ConnectionStatus, ConnState, utcnow

__all__ = ["StatusMixin"]


class StatusMixin:
    """Listener bookkeeping shared by both hosts: call every listener, survive bad ones."""

    name: str
    _status: ConnectionStatus
    _closed: bool

    def _init_status(self, status: ConnectionStatus) -> None:
        self._status = status
        self._listeners: Listeners[ConnectionStatus] = Listeners(f"host {self.name} status")
        self._up_event = asyncio.Event()

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    def add_status_listener(self, listener: StatusListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def _set_status(self, state: ConnState, detail: str, *, since: datetime | None = None,
                    retry_at: datetime | None = None) -> None:
        self._status = ConnectionStatus(state, detail, since or utcnow(), retry_at)
        if state is ConnState.UP:
            self._up_event.set()
        else:
            self._up_event.clear()
        self._listeners.emit(self._status)

    async def wait_up(self, timeout: float | None = None) -> bool:
        if self._status.is_up:
            return True
        if self._closed:
            return False
        try:
            await asyncio.wait_for(self._up_event.wait(), timeout)
        except TimeoutError:
            return False
        return self._status.is_up

