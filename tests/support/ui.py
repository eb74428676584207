"""Driving the Textual UI in tests: one pane alone in an app, and waiting on what it shows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from textual.app import App, ComposeResult
from textual.widget import Widget

from console.ui.widgets.diagnosis_strip import DiagnosisStrip

# Pane classes for OpsConsoleApp that force the logs, health and secrets panes to their
# "not built yet" stand-ins, so a shell test depends on the containers pane only.
PLACEHOLDERS: dict[str, Any] = {"logs": None, "health": None, "secrets": None}


class PaneApp(App[None]):
    """One pane alone over a fleet (the app shell is tested elsewhere).

    ``make_pane(fleet)`` builds the pane; ``clock``, when given, is the app's clock the
    panes read "now" from; ``start(fleet)`` runs on mount (to start the fleet or one of
    its services); with ``focus`` the pane takes the focus once mounted. ``focus_pane``
    actions the pane asks of the app are recorded in ``focused_panes``.
    """

    def __init__(self, fleet: Any, make_pane: Callable[[Any], Widget], *,
                 clock: Callable[[], datetime] | None = None,
                 start: Callable[[Any], Awaitable[None]] | None = None,
                 focus: bool = False) -> None:
        super().__init__()
        self.fleet = fleet
        self._make_pane = make_pane
        if clock is not None:
            self.clock = clock
        self._start = start
        self._focus = focus
        self.focused_panes: list[str] = []

    def compose(self) -> ComposeResult:
        self.pane = self._make_pane(self.fleet)
        yield self.pane

    async def on_mount(self) -> None:
        if self._start is not None:
            await self._start(self.fleet)
        if self._focus:
            self.pane.focus()

    def action_focus_pane(self, key: str) -> None:
        self.focused_panes.append(key)


class Harness(App[None]):
    """Just enough app to host one action screen over a fake fleet."""

    def __init__(self, fleet: Any, make_screen: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fleet = fleet
        self.config = fleet.config
        self.make_screen = make_screen
        self.dismissed: list[Any] = []

    def on_mount(self) -> None:
        screen = self.make_screen(self.fleet)
        if screen is not None:
            self.push_screen(screen, callback=self.dismissed.append)


async def until(pilot: Any, predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    """Let the app run until ``predicate()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.02)


def messages(app: App[Any]) -> list[str]:
    """The notifications the app has shown, oldest first."""
    return [str(n.message) for n in app._notifications]


async def loaded(pilot: Any) -> Any:
    """The containers pane once every fake server has been listed."""
    app = pilot.app
    pane = app.pane("containers")
    await until(pilot, lambda: all(s.state == "ok"
                                   for s in app.fleet.containers.snapshot().values()))
    # Every server's rows, not only the first's: the pane redraws after the change event,
    # so a listed server's rows can lag its state by one frame.
    names = [c.name for part in app.fleet.containers.snapshot().values()
             for c in part.containers]
    await until(pilot, lambda: all(any(name in row[0] for row in pane.row_texts())
                                   for name in names))
    return pane


async def wait_loaded(pilot: Any) -> None:
    """Until the containers pane shows every server that is up (for snapshots: the rows
    are redrawn once more and the diagnosis strip has settled)."""
    app = pilot.app
    expected = {name for name, host in app.fleet.hosts.items() if host.status.is_up}
    for _ in range(500):
        snapshot = app.fleet.containers.snapshot()
        if all(snapshot[name].state == "ok" for name in expected):
            break
        await asyncio.sleep(0.01)
    await pilot.pause(0.1)
    app.pane("containers").update_rows()
    await pilot.pause()
    await strip_settled(pilot)


async def strip_settled(pilot: Any) -> None:
    """Until the diagnosis strip has diagnosed every change it was told of (it waits
    ``COALESCE_S`` after a change), so the shot never catches it mid-way."""
    strip = pilot.app.query_one(DiagnosisStrip)
    for _ in range(500):
        if not strip.pending and strip.runs:
            break
        await asyncio.sleep(0.01)
    await pilot.pause()

