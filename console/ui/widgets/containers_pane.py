"""The containers pane: every server's containers, grouped by compose project, live.

A ``LiveTable`` (see ``live.py``: coalesced redraws, cells updated in place) with three
kinds of rows: a server row (its link or Docker state in words), a project row, and
container rows (state, health, restarts, uptime, image), from
``fleet.containers.snapshot()``.

Everything a server sends (names, images, error text) goes through ``safe_text.safe``.

The selection follows the diagnosis (``follow``) until the operator moves the cursor
himself (a cursor key, a click, or choosing a row through the palette or ``d``): from then
on his row stays where he put it, and the diagnosis never moves it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding

from console.models import ContainerInfo
from console.ui.safe_text import safe
from console.ui.themes import state_style
from console.ui.widgets.live import LiveTable

if TYPE_CHECKING:
    from console.engine.containers import ContainerService, ServerContainers
    from console.engine.fleet import FleetView

__all__ = ["COLUMNS", "ContainersPane", "format_uptime"]

COLUMNS = (("name", "Name"), ("state", "State"), ("health", "Health"),
           ("restarts", "Restarts"), ("uptime", "Uptime"), ("image", "Image"))
NO_PROJECT = "(no project)"
UPTIME_REFRESH_S = 30.0


def format_uptime(seconds: float | None) -> str:
    """'<1m', '42m', '3h 05m', '2d 04h': minute precision, so a 30 s refresh is honest."""
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


@dataclass(frozen=True, slots=True)
class RowRef:
    """What a table row stands for: a server, a project within it, or one container."""

    server: str
    container_id: str | None = None
    project: str | None = None


Row = tuple[str, RowRef, tuple[Text, ...]]


class ContainersPane(LiveTable[RowRef], can_focus=True):
    """``ContainersPane(fleet)``: the live containers of every server in the fleet."""

    COLUMNS = COLUMNS
    REBUILD_COLUMNS = True

    BINDINGS = [
        Binding("home", "scroll_top", "Top", show=False, id="containers.top",
                tooltip="First row"),
        Binding("end", "scroll_bottom", "Bottom", show=False, id="containers.bottom",
                tooltip="Last row"),
    ]
    help_text = "Per server: containers by compose project; r restarts the selected one."

    DEFAULT_CSS = """
    ContainersPane {
        height: 1fr;
        width: 1fr;
    }
    """

    def __init__(self, fleet: FleetView, *, clock: Callable[[], datetime] | None = None,
                 id: str | None = None) -> None:
        super().__init__(fleet, clock=clock, id=id)
        # A fleet without the service (a partial test fake) shows "not available".
        self.service: ContainerService | None = fleet.containers
        self.chosen = False
        """True once the operator has put the cursor somewhere himself."""
        self._follow: tuple[str, str] | None = None

    def watched(self) -> ContainerService | None:
        return self.service

    def on_mount(self) -> None:
        self.follow_service()
        self.set_interval(UPTIME_REFRESH_S, self.update_rows)

    # -- selection -----------------------------------------------------------------------

    def selected_server(self) -> str | None:
        ref = self._ref_at_cursor()
        return ref.server if ref else None

    def selected_container(self) -> ContainerInfo | None:
        ref = self._ref_at_cursor()
        if ref is None or ref.container_id is None or self.service is None:
            return None
        return self.service.find(ref.server, ref.container_id)

    def select_container_row(self, server: str, name: str) -> bool:
        """Put the cursor on a container by name (palette, ``d``'s evidence, tests): the
        operator's choice, which the diagnosis no longer overrides. False if not shown."""
        self.chosen = True
        return self._select(server, name)

    def follow(self, target: tuple[str, str] | None) -> None:
        """The row the diagnosis points at (server, container name), or None. The cursor
        goes there now and after each redraw, until the operator has chosen a row."""
        self._follow = target
        self._apply_follow()

    def _apply_follow(self) -> None:
        if self.chosen or self._follow is None:
            return
        current = self.selected_container()
        if current is not None and (current.server, current.name) == self._follow:
            return
        self._select(*self._follow)

    def _choose(self) -> None:
        self.chosen = True

    # Every way the operator moves the cursor himself: the keys, and a click on a row.
    def action_cursor_up(self) -> None:
        self._choose()
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self._choose()
        super().action_cursor_down()

    def action_page_up(self) -> None:
        self._choose()
        super().action_page_up()

    def action_page_down(self) -> None:
        self._choose()
        super().action_page_down()

    def action_scroll_top(self) -> None:
        self._choose()
        super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        self._choose()
        super().action_scroll_bottom()

    def on_click(self, event: events.Click) -> None:
        row = event.style.meta.get("row")
        if isinstance(row, int) and row >= 0:
            self._choose()

    def shows(self, server: str, name: str) -> bool:
        """The pane lists a container of that name on that server."""
        if self.service is None:
            return False
        part = self.service.snapshot().get(server)
        return part is not None and any(c.name == name for c in part.containers)

    def _select(self, server: str, name: str) -> bool:
        for index, key in enumerate(self._keys):
            ref = self._refs[key]
            if ref.server == server and ref.container_id and self.service is not None:
                info = self.service.find(server, ref.container_id)
                if info is not None and info.name == name:
                    self.move_cursor(row=index, animate=False)
                    return True
        return False

    # -- drawing -------------------------------------------------------------------------

    def update_rows(self) -> None:
        super().update_rows()
        self._apply_follow()

    def _place_cursor(self, previous: list[str], selected: str | None, scroll_y: float) -> None:
        if not any(key.startswith("c|") for key in previous) and self.cursor_row == 0:
            # The first containers to arrive: start on one, so `r` works at once.
            first = next((i for i, key in enumerate(self._keys) if key.startswith("c|")), 0)
            self.move_cursor(row=first, animate=False)
        else:
            super()._place_cursor(previous, selected, scroll_y)

    def _build_rows(self) -> list[Row]:
        if self.service is None:
            return [("none", RowRef(""), (Text("containers service not available"),
                                          *([Text()] * (len(COLUMNS) - 1))))]
        now = self.now()
        rows: list[Row] = []
        for server, snap in self.service.snapshot().items():
            rows.append(self._server_row(server, snap, now))
            project: object = object()
            for info in snap.containers:
                if info.project != project:
                    project = info.project
                    rows.append(self._project_row(server, info.project))
                rows.append(self._container_row(info, now, stale=snap.stale))
        return rows

    def _server_row(self, server: str, snap: ServerContainers, now: datetime) -> Row:
        """Name, link/Docker state in words, a problem count, and why when it is not up."""
        host = self.fleet.hosts.get(server)
        status = host.status if host is not None else None
        problems = Text()
        if status is not None and not status.is_up:
            word = status.state.value
            detail = status.describe(now)
            if status.detail:
                detail += f": {status.detail}"
        elif snap.state == "ok":
            word = "up"
            count = len(snap.containers)
            detail = f"{count} container{'s' if count != 1 else ''}"
            bad = sum(1 for c in snap.containers if not c.ok)
            problems = Text(f"{bad} problem{'s' if bad != 1 else ''}",
                            style=state_style(self.app, "unhealthy")) if bad else \
                Text("all ok", style=state_style(self.app, "healthy"))
        elif snap.state == "connecting":
            word, detail = "connecting", "listing…"
        else:
            word, detail = "unavailable", snap.error or "Docker unreachable"
        if snap.stale:
            detail += " · rows below are the last known state"
        blank = Text()
        return (f"s|{server}", RowRef(server), (
            Text.assemble(("▾ ", "bold"), safe(server, "bold")),
            Text(word, style=state_style(self.app, word)),
            problems, blank, blank,
            safe(detail, state_style(self.app, word) if word != "up" else "", max_chars=200),
        ))

    def _project_row(self, server: str, project: str | None) -> Row:
        label = safe(project, "italic") if project else Text(NO_PROJECT, style="italic dim")
        blank = Text()
        return (f"p|{server}|{project or ''}", RowRef(server, project=project),
                (Text.assemble("  ", label), blank, blank, blank, blank, blank))

    def _container_row(self, info: ContainerInfo, now: datetime, *, stale: bool) -> Row:
        dim = Style(dim=True) if stale else Style()
        state = info.state
        if info.exit_code is not None:
            state = f"{info.state} ({info.exit_code})"
        health = info.health or "none"
        restarts = Text(str(info.restart_count), justify="right",
                        style=state_style(self.app, "restarting") if info.restart_count
                        else "")
        cells = (
            Text.assemble("    ", safe(info.name)),
            Text(state, style=state_style(self.app, info.state)),
            Text(health, style=state_style(self.app, health) if health != "none" else "dim"),
            restarts,
            Text(format_uptime(info.uptime_seconds(now)), justify="right"),
            safe(info.image, max_chars=120),
        )
        if stale:
            for cell in cells:
                cell.stylize(dim)
        return (f"c|{info.server}|{info.id}", RowRef(info.server, info.id, info.project), cells)
