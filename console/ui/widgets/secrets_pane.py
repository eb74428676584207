"""The secrets pane: which required secrets exist where, which disagree, and the volumes.

A matrix: one row per secret name, one column per server and place (an env file or a
container), each cell a glyph *and* a word so it reads without colour (NO_COLOR):
``✓ present``, ``✗ missing``, ``∅ empty``, ``! weak``, ``↻ restart`` (set in the file, not
in the running container), ``≠ differs`` (file and container disagree), ``? unreadable``,
``·`` (not checked there). A row whose places disagree is marked ``≠ drift``. Below it,
"why" lines for every cell that is not fine, the volumes each compose project uses or
declares, and places that could not be read.

Why one scrolling view of Rich tables rather than a DataTable: the operator needs every
reason on screen at once (and in a screenshot or report), not one per cursor position.

The pane holds no secret value: the engine hands it statuses, never values. Everything
that comes from a server or the config (names, paths, error text) goes through
``safe_text.safe``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from rich import box
from rich.console import RenderableType
from rich.measure import Measurement
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.engine.secrets import split_drift
from console.models import SecretStatus
from console.ui.safe_text import safe
from console.ui.themes import state_style
from console.ui.widgets.live import FleetWatcher

if TYPE_CHECKING:
    from console.engine.fleet import FleetView
    from console.engine.secrets import SecretService, ServerSecrets

    Snapshot = dict[str, ServerSecrets]

__all__ = ["CELLS", "SecretsPane", "short_place"]

# status -> (glyph, word, state word for the theme colour)
CELLS: dict[str, tuple[str, str, str]] = {
    "present": ("✓", "present", "healthy"),
    "missing": ("✗", "missing", "unhealthy"),
    "empty": ("∅", "empty", "unhealthy"),
    "weak": ("!", "weak", "starting"),
    "not_in_container": ("↻", "restart", "starting"),
    "stale": ("↻", "recreate", "starting"),
    "differs_from_file": ("≠", "differs", "unhealthy"),
}
UNREADABLE = ("?", "unreadable", "unhealthy")
NOT_HERE = ("·", "", "muted")
DRIFT_GLYPH = "≠"
DRIFT_MARK = f"{DRIFT_GLYPH} drift"
SECTIONS = ("servers", "matrix", "why", "volumes", "problems")
NAME_WIDTH = 40
CELL_WIDTH = 9  # "↻ restart": cells are never cut; the pane scrolls sideways instead


def short_place(place: str) -> str:
    """A column label: the container's name, or the env file's last two path parts."""
    if place.startswith("container:"):
        return place.removeprefix("container:")
    parts = [p for p in place.split("/") if p]
    return "/".join(parts[-2:]) if len(parts) > 1 else place


class SecretsPane(FleetWatcher, VerticalScroll, can_focus=True):
    """``SecretsPane(fleet)``: the secrets matrix and volumes of every server, live."""

    BINDINGS = [
        Binding("home", "scroll_home", "Top", show=False, id="secrets.top",
                tooltip="Scroll to the top"),
        Binding("end", "scroll_end", "Bottom", show=False, id="secrets.bottom",
                tooltip="Scroll to the bottom"),
        Binding("f5", "recheck", "Re-check", show=False, id="secrets.recheck",
                tooltip="Check every server's secrets and volumes now"),
    ]
    help_text = ("Per secret and place: ✓ present ✗ missing ∅ empty ! weak ↻ restart "
                 "≠ differs; '≠ drift' rows disagree between places. f5 re-checks.")

    DEFAULT_CSS = """
    SecretsPane {
        height: 1fr;
        width: 1fr;
        padding: 0 1;
    }
    SecretsPane {
        overflow-x: auto;
    }
    SecretsPane > Static {
        width: 1fr;
        height: auto;
        margin-bottom: 1;
    }
    SecretsPane > Static.-servers {
        margin-bottom: 0;
    }
    SecretsPane > Static.-matrix, SecretsPane > Static.-volumes {
        width: 1fr;
    }
    """

    def __init__(self, fleet: FleetView, *, clock: Callable[[], datetime] | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self._init_watcher(fleet, clock)
        # A fleet without the service (a partial test fake) shows "not available".
        self.service: SecretService | None = fleet.secrets
        self._sections = {name: Static(id=f"secrets-{name}", classes=f"-{name}")
                          for name in SECTIONS}
        self._shown: list[RenderableType] = []
        self._drawn: dict[str, list[str]] = {}  # section -> [theme, *plain lines] on screen

    # -- life cycle ----------------------------------------------------------------------

    def compose(self) -> Iterable[Static]:
        yield from self._sections.values()

    def watched(self) -> SecretService | None:
        return self.service

    def on_mount(self) -> None:
        self.follow_service()

    def action_recheck(self) -> None:
        if self.service is not None:
            self.service.request_refresh()
            self.app.notify("Re-checking secrets and volumes…", timeout=3)

    def selected_server(self) -> str | None:
        """No row selection here: the app falls back to its default server."""
        return None

    # -- drawing -------------------------------------------------------------------------

    def plain_lines(self) -> list[str]:
        """What the pane shows, as plain text lines (tests, report parity)."""
        return _plain(self._shown)

    def redraw(self) -> None:
        """Repaint only the sections whose text changed, and re-lay them out only when
        their shape did: a secrets check every few seconds that finds the same thing (the
        usual case) costs no repaint at all, and a new "checked" time no layout pass."""
        self._pending = False
        built = self._build()
        self._shown = [r for r in built.values() if r is not None]
        for name, widget in self._sections.items():
            renderable = built.get(name)
            widget.display = renderable is not None
            if renderable is None:
                self._drawn.pop(name, None)
                continue
            lines = [self.app.theme, *_plain([renderable])]
            before = self._drawn.get(name)
            if lines == before:
                continue
            self._drawn[name] = lines
            if isinstance(renderable, Table):
                widget.styles.min_width = self._minimum_width(renderable)
            same_shape = before is not None and [len(x) for x in before] == [
                len(x) for x in lines]
            widget.update(renderable, layout=not same_shape)

    def _minimum_width(self, table: Table) -> int:
        """Tables take the pane's width but never squeeze a cell: below their minimum the
        pane scrolls sideways instead of cutting "↻ restart" to "↻ re…"."""
        console = self.app.console
        return Measurement.get(console, console.options, table).minimum

    def _build(self) -> dict[str, RenderableType | None]:
        if self.service is None:
            return {"servers": Text("secrets service not available", style="italic")}
        read = self.service.snapshot()
        snapshot = dict(read.servers)
        if not snapshot:
            return {"servers": Text("no servers configured", style="italic")}
        why = self._why(snapshot, dict(read.drift))
        problems = self._problems(snapshot)
        return {
            "servers": self._server_lines(snapshot, self.now()),
            "matrix": self._matrix(snapshot),
            "why": why if why.plain else None,
            "volumes": self._volumes(snapshot),
            "problems": problems if problems.plain else None,
        }

    def _style(self, state: str) -> Style:
        return state_style(self.app, state)

    def _server_lines(self, snapshot: Snapshot, now: datetime) -> Text:
        text = Text()
        for index, (server, result) in enumerate(snapshot.items()):
            if index:
                text.append("\n")
            text.append_text(safe(server, "bold"))
            text.append("  ")
            host = self.fleet.hosts.get(server)
            status = host.status if host is not None else None
            if status is not None and not status.is_up:
                word = status.describe(now)
                text.append(word, self._style(status.state.value))
                if status.detail:
                    text.append(": ")
                    text.append_text(safe(status.detail, max_chars=200))
                text.append(" · secrets not checked yet" if result.checked_at is None
                            else " · showing the last check, "
                                 f"{_clock(result.checked_at)} UTC")
            elif result.state == "connecting":
                text.append("checking…", self._style("connecting"))
            elif result.state == "unavailable":
                text.append("unavailable: ", self._style("unavailable"))
                text.append_text(safe(result.error or "unknown error", max_chars=200))
                if result.stale:
                    text.append(f" · showing the last check, {_clock(result.checked_at)} UTC")
            else:
                text.append_text(self._summary(result))
        return text

    def _summary(self, result: ServerSecrets) -> Text:
        bad = sum(1 for s in result.statuses if not s.ok)
        missing_volumes = sum(1 for v in result.volumes if not v.ok)
        text = Text()
        if bad or missing_volumes:
            word = f"{bad} secret finding{'s' if bad != 1 else ''}"
            if missing_volumes:
                word += f", {missing_volumes} missing volume{'s' if missing_volumes != 1 else ''}"
            text.append(word, self._style("unhealthy"))
        else:
            text.append("all required secrets fine", self._style("healthy"))
        names = len(result.names)
        text.append(f" · {names} name{'s' if names != 1 else ''} in "
                    f"{len(result.places)} place{'s' if len(result.places) != 1 else ''}"
                    f"{' (inferred)' if result.inferred else ''}"
                    f" · checked {_clock(result.checked_at)} UTC")
        return text

    def _matrix(self, snapshot: Snapshot) -> Table | None:
        columns = [(server, place) for server, result in snapshot.items()
                   for place in result.places]
        names = list(dict.fromkeys(s.name for r in snapshot.values() for s in r.statuses))
        if not columns or not names:
            return None
        cells: dict[tuple[str, str, str], SecretStatus] = {
            (s.server, s.place, s.name): s for r in snapshot.values() for s in r.statuses}
        unreadable = {(server, p.place) for server, r in snapshot.items()
                      for p in r.problems if p.fatal}
        stale = self._stale_servers(snapshot)
        rows: list[list[Text]] = []
        for name in names:
            row_statuses = [s for s in cells.values() if s.name == name]
            drift = any(s.drift or s.status == "differs_from_file" for s in row_statuses)
            label = safe(name, max_chars=NAME_WIDTH)
            if drift:
                label.append(f" {DRIFT_MARK}", self._style("unhealthy"))
            rows.append([label] + [
                self._cell(cells.get((server, place, name)), (server, place) in unreadable,
                           server in stale) for server, place in columns])
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False,
                      expand=False, show_edge=False)
        # Minimum widths are the longest name and the longest cell: headers may fold onto
        # more lines, but a name or a "? unreadable" is never cut; when even that does not
        # fit, the pane scrolls sideways.
        longest_name = max(len(name) for name in names)
        table.add_column(Text("secret", style="bold"), max_width=NAME_WIDTH,
                         min_width=min(longest_name, NAME_WIDTH), overflow="fold")
        for index, (server, place) in enumerate(columns, start=1):
            header = Text.assemble(safe(server, "bold", max_chars=40), "\n",
                                   safe(short_place(place), max_chars=40), overflow="fold")
            widest = max(row[index].cell_len for row in rows)
            table.add_column(header, min_width=max(widest, CELL_WIDTH), overflow="fold")
        for row in rows:
            table.add_row(*row)
        return table

    def _stale_servers(self, snapshot: Snapshot) -> set[str]:
        """Servers whose rows are a past check: the service said so, or the link is down."""
        hosts = self.fleet.hosts
        return {server for server, r in snapshot.items()
                if r.stale or (server in hosts and not hosts[server].status.is_up)}

    def _cell(self, status: SecretStatus | None, unreadable: bool, stale: bool) -> Text:
        if status is not None:
            glyph, word, state = CELLS.get(status.status, ("?", status.status, "muted"))
        elif unreadable:
            glyph, word, state = UNREADABLE
        else:
            glyph, word, state = NOT_HERE
        cell = Text(f"{glyph} {word}".rstrip(), style=self._style(state), no_wrap=True)
        if status is not None and status.drift and status.status == "present":
            cell = Text(f"{DRIFT_GLYPH} {word}", style=self._style("unhealthy"), no_wrap=True)
        if stale:
            cell.stylize(Style(dim=True))
        return cell

    def _why(self, snapshot: Snapshot, drift: dict[str, str]) -> Text:
        """The reasons, in words: one line per drifting name, then one per cell that is
        not fine for a reason of its own. Never a value."""
        lines: list[Text] = []
        for name, summary in drift.items():
            line = Text.assemble((f"{DRIFT_GLYPH} ", self._style("unhealthy")))
            line.append_text(safe(name, "bold", max_chars=NAME_WIDTH))
            line.append(" drift: ")
            line.append_text(safe(summary, max_chars=600))
            lines.append(line)
        for server, result in snapshot.items():
            for status in result.statuses:
                reason, _ = split_drift(status.detail)
                if status.ok or (status.drift and status.status == "present"):
                    continue
                glyph, _, state = CELLS.get(status.status, ("?", status.status, "muted"))
                line = Text.assemble((f"{glyph} ", self._style(state)))
                line.append_text(safe(status.name, "bold", max_chars=NAME_WIDTH))
                line.append(" · ")
                line.append_text(safe(f"{server} {short_place(status.place)}", max_chars=120))
                line.append(f": {status.status.replace('_', ' ')}")
                if reason:
                    line.append(" — ")
                    line.append_text(safe(reason, max_chars=600))
                lines.append(line)
        return Text("\n").join(lines)

    def _volumes(self, snapshot: Snapshot) -> RenderableType:
        rows = [v for r in snapshot.values() for v in r.volumes]
        if not rows:
            return Text("Volumes: none used or declared by a compose project", style="dim")
        table = Table(title=Text("Volumes", style="bold"), title_justify="left",
                      box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
        for label in ("server", "project", "volume", "state", "detail"):
            table.add_column(label, no_wrap=label != "detail")
        stale = self._stale_servers(snapshot)
        for volume in rows:
            glyph, state = ("✓", "healthy") if volume.ok else ("✗", "unhealthy")
            cells = [safe(volume.server, max_chars=40),
                     safe(volume.project or "-", max_chars=40),
                     safe(volume.name, max_chars=80),
                     Text(f"{glyph} {volume.status}", style=self._style(state)),
                     safe(volume.detail, max_chars=300)]
            if volume.server in stale:
                for cell in cells:
                    cell.stylize(Style(dim=True))
            table.add_row(*cells)
        return table

    def _problems(self, snapshot: Snapshot) -> Text:
        text = Text()
        for server, result in snapshot.items():
            for problem in result.problems:
                if text.plain:
                    text.append("\n")
                mark, state = ("?", "unhealthy") if problem.fatal else ("i", "starting")
                text.append(f"{mark} ", self._style(state))
                text.append_text(safe(f"{server} {problem.place}: {problem.message}",
                                      max_chars=400))
        return text


def _clock(moment: datetime | None) -> str:
    return f"{moment:%H:%M:%S}" if moment else "never"


def _plain(renderables: list[RenderableType]) -> list[str]:
    """Render to plain text at a generous width (no styles), for tests and parity checks."""
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None, force_terminal=False,
                      file=io.StringIO())
    for renderable in renderables:
        console.print(renderable)
    return [line.rstrip() for line in console.export_text().splitlines()]
