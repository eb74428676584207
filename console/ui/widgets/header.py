"""The top bar: the app's name and every server's connection state, live.

Driven by each Host's status listeners (no polling): a listener posts ``HostChanged`` and
the bar repaints in its handler. A once-a-second tick runs only while
some server is not up, to count "lost 12s ago, retry in 4s" down; an all-green fleet costs
nothing. With more servers than fit, it says how many are up and names the ones that are not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget

from console.engine.contracts import Unsubscribe
from console.models import ConnectionStatus, ConnState, utcnow
from console.ui.messages import HostChanged, post_host_change
from console.ui.safe_text import make_visible
from console.ui.themes import state_style

if TYPE_CHECKING:
    from console.engine.fleet import FleetView

__all__ = ["ServerStatusBar"]

_ICONS = {ConnState.UP: "●", ConnState.CONNECTING: "○", ConnState.LOST: "✖",
          ConnState.RETRYING: "✖", ConnState.IDLE: "◌"}


class ServerStatusBar(Widget):
    """One line: ``ops-console  ● alpha up  ✖ bravo lost 12s ago, retry in 4s  READ-ONLY``."""

    DEFAULT_CSS = """
    ServerStatusBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def __init__(self, fleet: FleetView, *, clock: Callable[[], datetime] = utcnow,
                 read_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fleet = fleet
        self.clock = clock
        self.read_only = read_only
        self._unsubscribe: list[Unsubscribe] = []
        self._ticker: Timer | None = None

    def on_mount(self) -> None:
        for name, host in self.fleet.hosts.items():
            self._unsubscribe.append(host.add_status_listener(post_host_change(self, name)))
        self._ticker = self.set_interval(1.0, self.refresh, pause=True)
        self._sync_ticker()

    def on_unmount(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def on_host_changed(self, message: HostChanged) -> None:
        self._sync_ticker()
        self.refresh()

    def _sync_ticker(self) -> None:
        if self._ticker is None:
            return
        if not any(host.status.counts_time for host in self.fleet.hosts.values()):
            self._ticker.pause()
        else:
            self._ticker.resume()

    def statuses(self) -> list[tuple[str, ConnectionStatus]]:
        return [(name, host.status) for name, host in self.fleet.hosts.items()]

    def render(self) -> Text:
        now = self.clock()
        width = max(self.size.width, 20)
        title = Text("ops-console", style="bold")
        tail = Text("  READ-ONLY", style="bold reverse") if self.read_only else Text()
        full = self._detailed(now)
        room = width - cell_len(title.plain) - cell_len(tail.plain) - 2
        body = full if cell_len(full.plain) <= room else self._summary(now)
        body.truncate(max(room, 0), overflow="ellipsis")
        return Text.assemble(title, "  ", body, tail)

    def _detailed(self, now: datetime) -> Text:
        text = Text()
        for name, status in self.statuses():
            if text:
                text.append("  ")
            style = state_style(self.app, status.state.value)
            text.append(f"{_ICONS[status.state]} ", style=style)
            text.append(make_visible(name, 64), style="bold")
            text.append(f" {status.describe(now)}", style=style)
        return text

    def _summary(self, now: datetime) -> Text:
        statuses = self.statuses()
        idle = sum(1 for _, status in statuses if status.state is ConnState.IDLE)
        up = sum(1 for _, status in statuses if status.is_up)
        text = Text(f"{up}/{len(statuses) - idle} up", style=state_style(self.app, "up"))
        if idle:
            text.append(f", {idle} not connected (on demand)")
        down = [(n, s) for n, s in statuses if not s.is_up and s.state is not ConnState.IDLE]
        if down:
            text.append("  not up: ")
            for i, (name, status) in enumerate(down):
                if i:
                    text.append(", ")
                text.append(make_visible(name, 64), style="bold")
                text.append(f" ({status.describe(now)})", style=state_style(self.app,
                                                                            status.state.value))
        return text
