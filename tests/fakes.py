"""Small stand-ins shared by the unit and lab tests of the log pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NoContainers:
    """A ContainerService with nothing listed and nothing followed: the LogService under
    test reads only what a test feeds it, or the host files it is configured with."""

    def subscribe(self, callback: Callable[[str], None]) -> Callable[[], None]:
        return lambda: None

    def snapshot(self) -> dict[str, Any]:
        return {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def refresh(self) -> None:
        pass
