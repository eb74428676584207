"""The ops-console TUI: a server status bar, the four panes, a footer, and the action keys.

The app does no I/O of its own: it holds a ``Fleet`` and starts it in a worker on mount
(``exit_on_error=False``: a failing server or service is shown, never fatal), stops it on
quit, and routes keys to panes and screens.

Layout: a 2x2 grid when the terminal is at least 120x34; below that the panes collapse to
tabs (one pane at a time, ``1``-``4`` switch), so 80x24 stays readable. The switch is pure
CSS driven by Textual's breakpoint classes on the screen (``-narrow``/``-short``).

``z`` zooms the focused pane to the whole of the panes' area (the grid or the tabs give way),
and ``z`` or ``esc`` gives the grid back. ``w`` wraps long log lines under their row.

How the parts meet:

- the panes are the classes in ``console.ui.widgets.PANES``; a test may replace one
  (``pane_classes``), and None there shows "<Pane> — not built yet";
- ``m`` / ``t`` push ``MigrateScreen(fleet, server)`` / ``TestLoginScreen(fleet, server)``;
- ``/``, ``p`` and ``w`` call ``open_filter()`` / ``toggle_pause()`` / ``toggle_wrap()`` on
  the logs pane;
- ``selected_server()`` asks the focused pane's ``selected_server()``;
- ``r`` goes through ``fleet.actions.restart(server, container_id)``, always: a restart is
  audited or not run;
- the palette takes extra command sources (``console.ui.commands.register_command_source``);
- ``clock`` (a ``() -> datetime``) is what every time-dependent text uses, frozen in tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.events import DescendantFocus
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Tab, Tabs
from textual.worker import Worker, WorkerState

from console.models import ActionResult, ContainerInfo, utcnow
from console.ui.commands import OpsCommands
from console.ui.safe_text import make_visible, safe
from console.ui.screens import audit_view  # noqa: F401 - registers its palette entries
from console.ui.screens import recreate as recreate_screen  # registers its palette entries
from console.ui.screens.confirm import ConfirmScreen
from console.ui.screens.diagnosis import DiagnosisScreen
from console.ui.screens.help import HelpScreen, entries_from_bindings
from console.ui.screens.migrate import MigrateScreen
from console.ui.screens.test_login import TestLoginScreen
from console.ui.themes import load_themes, resolve_theme, theme_variable_defaults
from console.ui.widgets import PANES, PaneSpec
from console.ui.widgets.containers_pane import ContainersPane
from console.ui.widgets.diagnosis_strip import DiagnosisStrip
from console.ui.widgets.header import ServerStatusBar
from console.ui.widgets.logs import LogsPane
from console.ui.widgets.placeholder import NotBuiltPane

if TYPE_CHECKING:
    from console.config import Config
    from console.engine.fleet import Fleet

__all__ = ["OpsConsoleApp"]

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 5.0

PaneClasses = dict[str, type[Widget] | None]


class PaneTabs(Tabs, can_focus=False):
    """The pane switcher shown in the compact layout; mouse-clickable, keys are 1-4."""


class OpsConsoleApp(App[int]):
    """``OpsConsoleApp(config, fleet=None)``: the operator's one screen."""

    CSS_PATH = "app.tcss"
    TITLE = "ops-console"
    COMMANDS = App.COMMANDS | {OpsCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]

    BINDINGS = [
        Binding("r", "restart", "Restart", id="restart",
                tooltip="Restart the selected container (asks for confirmation first)"),
        Binding("R", "recreate", "Recreate", id="recreate",
                tooltip="Recreate the selected container's compose service (docker compose up "
                        "-d --no-deps --force-recreate)"),
        Binding("x", "shell", "Shell", id="shell",
                tooltip="A shell in the selected container (the console suspends meanwhile)"),
        Binding("m", "migrate", "Migrate", id="migrate",
                tooltip="Run the selected server's migration command, output streamed"),
        Binding("t", "test_login", "Test login", id="test_login",
                tooltip="POST real credentials to the selected server's login endpoint"),
        Binding("slash", "filter", "Filter", id="filter",
                tooltip="Edit the log filter (a regex), live; esc clears it"),
        Binding("p", "pause", "Pause", id="pause", tooltip="Pause or resume following the logs"),
        # w and z stay out of the footer, which is full at 80 columns; help lists them.
        Binding("w", "wrap", "Wrap", show=False, id="wrap",
                tooltip="Wrap long log lines under their row, or cut them at the edge"),
        Binding("z", "zoom", "Zoom", show=False, id="zoom",
                tooltip="The focused pane alone, full screen; z or esc: the grid again"),
        Binding("escape", "unzoom", "Back", show=False, id="unzoom",
                tooltip="Back to the grid of panes (when a pane is zoomed)"),
        *(Binding(spec.key, f"focus_pane('{spec.key}')", spec.title, show=False,
                  id=f"focus.{spec.id}", tooltip=f"Focus the {spec.title.lower()} pane")
          for spec in PANES),
        Binding("d", "diagnosis", "Diagnosis", id="diagnosis",
                tooltip="Every finding with its evidence; enter jumps to the pane and row"),
        Binding("ctrl+r", "report", "Report", id="report",
                tooltip="Write an incident report (Markdown) and an SVG screenshot"),
        Binding("question_mark", "help", "Help", id="help", tooltip="Every key binding"),
        Binding("ctrl+p", "command_palette", "Palette", id="palette",
                tooltip="Command palette: every action on every server"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Stop following and quit"),
    ]

    active_pane: reactive[str] = reactive("containers")
    """The pane shown in the compact (tabbed) layout and focused by default."""

    zoomed: reactive[bool] = reactive(False)
    """True while the active pane fills the panes' area (``z``)."""

    def __init__(self, config: Config, fleet: Fleet | None = None, *,
                 clock: Callable[[], datetime] = utcnow,
                 pane_classes: PaneClasses | None = None) -> None:
        super().__init__()
        if fleet is None:
            from console.engine.fleet import Fleet

            fleet = Fleet(config)
        self.config = config
        self.fleet = fleet
        self.clock = clock
        # The fleet pane (key 5) exists only where [[prometheus]] blocks are configured.
        self.panes: tuple[PaneSpec, ...] = tuple(
            spec for spec in PANES if spec.id != "fleet" or config.prometheus)
        self._pane_overrides = pane_classes or {}
        self._stopped = False
        self._startup_messages: list[tuple[str, str]] = []
        self._setup_themes()

    # -- themes --------------------------------------------------------------------------

    def _setup_themes(self) -> None:
        themes, problems = load_themes()
        for theme in themes.values():
            self.register_theme(theme)
        for problem in problems:
            self._startup_messages.append((problem, "warning"))
        name, message = resolve_theme(self.config.console.theme, self.available_themes)
        if message:
            self._startup_messages.append((message, "warning"))
        self.theme = name

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """Severity/state colours for themes that lack them (Textual's built-ins)."""
        return theme_variable_defaults(self.current_theme)

    def set_theme(self, name: str) -> None:
        self.theme = name

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ServerStatusBar(self.fleet, clock=self.clock,
                              read_only=self.config.console.read_only, id="status-bar")
        yield DiagnosisStrip(self.fleet, clock=self.clock, id="diagnosis-strip")
        yield PaneTabs(*(Tab(f"{spec.key} {spec.title}", id=f"tab-{spec.id}")
                         for spec in self.panes), id="pane-tabs")
        with Grid(id="panes", classes="-fleet" if len(self.panes) > 4 else ""):
            for spec in self.panes:
                frame = Vertical(classes="pane-frame", id=f"frame-{spec.id}")
                frame.border_title = f"{spec.key} {spec.title}"
                with frame:
                    yield self._make_pane(spec)
        yield Footer(show_command_palette=False)

    def _make_pane(self, spec: PaneSpec) -> Widget:
        """The pane if it constructs; otherwise an honest stand-in with the error."""
        pane_id = f"pane-{spec.id}"
        try:
            pane_class = self._pane_overrides.get(spec.id, spec.pane)
            if pane_class is None:
                return NotBuiltPane(spec.title, id=pane_id)
            pane = pane_class(self.fleet)  # type: ignore[call-arg]
        except Exception as exc:  # noqa: BLE001 - one broken pane must not stop the console
            log.exception("pane %s failed", spec.id)
            return NotBuiltPane(spec.title, error=f"{type(exc).__name__}: {exc}", id=pane_id)
        if pane.id is None:
            pane.id = pane_id
        return pane

    def pane(self, pane_id: str) -> Widget:
        """The widget inside a pane's frame (real pane or stand-in)."""
        return self.query_one(f"#frame-{pane_id}").children[0]

    def on_mount(self) -> None:
        for message, severity in self._startup_messages:
            self.say(message, severity=severity, timeout=12)
        self._show_active(self.active_pane)
        self.pane(self.active_pane).focus()
        self.run_worker(self._start_fleet(), name="fleet-start", group="fleet",
                        exit_on_error=False)

    def on_resize(self) -> None:
        self.query_one(Footer).compact = self.size.width < 120

    async def _start_fleet(self) -> None:
        await self.fleet.start()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed background job is shown to the operator, never silently dropped."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.say(f"{event.worker.name or 'background task'} failed: "
                     f"{type(error).__name__}: {error}", severity="error", timeout=15)

    def _fatal_error(self) -> None:
        """Textual's crash report, but without local variables.

        Textual renders the traceback with ``show_locals=True``, so a crash in code that
        holds a secret value (an env file's text, a login password) would print it to the
        terminal (tests/faults/test_crash_leaks.py). Same report: frames and message only.
        Overrides a private hook of textual, which is pinned to an exact version.
        """
        import rich
        from rich.segment import Segments
        from rich.traceback import Traceback

        self.bell()
        traceback = Traceback(show_locals=False, width=None, suppress=[rich])
        self._exit_renderables.append(
            Segments(self.console.render(traceback, self.console.options)))
        self._close_messages_no_wait()

    # -- quitting ------------------------------------------------------------------------

    async def action_quit(self) -> None:
        await self._stop_fleet()
        self.exit(0)

    async def _stop_fleet(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            await asyncio.wait_for(self.fleet.stop(), STOP_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - quitting must always work
            log.exception("fleet stop failed")

    async def on_unmount(self) -> None:
        await self._stop_fleet()

    # -- focus and the compact layout ----------------------------------------------------

    def watch_active_pane(self, pane_id: str) -> None:
        if self.is_mounted:
            self._show_active(pane_id)

    def _show_active(self, pane_id: str) -> None:
        for spec in self.panes:
            frame = self.query_one(f"#frame-{spec.id}")
            frame.set_class(spec.id == pane_id, "-active")
            frame.set_class(self.zoomed and spec.id == pane_id, "-zoom")
            frame.border_subtitle = "z / esc: all panes" if self.zoomed and \
                spec.id == pane_id else ""
        self.query_one(PaneTabs).active = f"tab-{pane_id}"

    def action_zoom(self) -> None:
        """``z``: the focused pane alone, as big as the panes' area; ``z`` again: the grid."""
        self.zoomed = not self.zoomed

    def action_unzoom(self) -> None:
        self.zoomed = False

    def watch_zoomed(self, zoomed: bool) -> None:
        if not self.is_mounted:
            return
        self.query_one("#panes").set_class(zoomed, "-zoomed")
        self.query_one(PaneTabs).set_class(zoomed, "-zoomed")
        self._show_active(self.active_pane)
        self.call_after_refresh(self._focus_in, self.pane(self.active_pane))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``esc`` ends a zoom and does nothing else; neither key acts under a dialog."""
        if action in ("zoom", "unzoom", "wrap") and isinstance(self.screen, ModalScreen):
            return False
        if action == "unzoom":
            return self.zoomed
        return True

    def action_focus_pane(self, key: str) -> None:
        spec = next((s for s in self.panes if s.key == key), None)
        if spec is None:
            self.notify("no fleet view: add a [[prometheus]] block to the config",
                        severity="warning", markup=False)
            return
        self.active_pane = spec.id
        self._show_active(spec.id)
        self.call_after_refresh(self._focus_in, self.pane(spec.id))

    def _focus_in(self, widget: Widget) -> None:
        if widget.focusable:
            widget.focus()
            return
        for child in widget.query("*"):
            if child.focusable:
                child.focus()
                return

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        pane_id = event.tab.id.removeprefix("tab-")
        if pane_id != self.active_pane:
            self.action_focus_pane(next(s.key for s in self.panes if s.id == pane_id))

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        """Focus moved by tab or mouse: the pane it landed in becomes the active one."""
        node = self.focused
        while node is not None and not isinstance(node, Screen):
            if node.id and node.id.startswith("frame-"):
                self.active_pane = node.id.removeprefix("frame-")
                return
            node = node.parent

    def selected_server(self) -> str:
        """The server of the row selected in the focused pane, else the first server."""
        node = self.focused
        while node is not None and not isinstance(node, Screen | App):
            ask = getattr(node, "selected_server", None)
            if callable(ask):
                server = ask()
                if server:
                    return server
            node = node.parent
        return self.config.servers[0].name

    # -- messages ------------------------------------------------------------------------

    def say(self, message: str, *, severity: str = "information",
            timeout: float | None = None) -> None:
        """A notification whose text is shown literally (it may carry server text)."""
        self.notify(make_visible(message, 600), severity=severity,  # type: ignore[arg-type]
                    timeout=timeout, markup=False)

    def _refuse_read_only(self, what: str) -> bool:
        if self.config.console.read_only:
            self.say(f"Read-only mode (console.read_only = true): {what} refused.",
                     severity="warning")
            return True
        return False

    # -- help and palette ----------------------------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        entries = entries_from_bindings("global", self.BINDINGS, self.get_key_display_name)
        seen = {binding_id for binding_id in (b.id for b in self.BINDINGS) if binding_id}
        focused_bindings = []
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if active.node is self or (binding.id and binding.id in seen):
                continue
            if not binding.show and not binding.id:
                continue
            focused_bindings.append(binding)
        if focused_bindings:
            entries += entries_from_bindings("focused pane", focused_bindings,
                                             self.get_key_display_name)
        self.push_screen(HelpScreen(entries))

    def get_key_display_name(self, key: str) -> str:
        return {"question_mark": "?", "slash": "/"}.get(key, self.get_key_display(
            Binding(key, "")))

    # -- actions -------------------------------------------------------------------------

    def _containers_pane(self) -> ContainersPane | None:
        pane = self.pane("containers")
        return pane if isinstance(pane, ContainersPane) else None

    def action_restart(self) -> None:
        if self._refuse_read_only("restart"):
            return
        pane = self._containers_pane()
        info: ContainerInfo | None = pane.selected_container() if pane else None
        if info is None:
            self.say("Select a container row in the containers pane (key 1) first.",
                     severity="warning")
            return
        self.request_restart(info.server, info.id)

    def request_restart(self, server: str, container_id: str) -> None:
        """Confirm, then restart. Also the palette's entry point."""
        if self._refuse_read_only("restart"):
            return
        info = self.fleet.containers.find(server, container_id)
        if info is None:
            self.say(f"That container is no longer listed on {server}.", severity="warning")
            return
        protected = self.config.server(server).protected
        title = Text.assemble("Restart ", safe(info.name, "bold"), " on ",
                              safe(server, "bold"), "?")
        body = [
            Text.assemble("Runs docker restart on ", safe(server),
                          ": the container gets 10 s to stop, then it is killed and started."),
            Text.assemble("Now: ", safe(info.state), ", health ", safe(info.health),
                          ", image ", safe(info.image)),
            Text("It serves nothing until it is back up."),
        ]
        body.append(Text("The intent and the outcome go to the audit log."))
        self.push_screen(ConfirmScreen(title, body, typed_name=server if protected else None),
                         callback=partial(self._restart_confirmed, server, container_id,
                                          info.name))

    def _restart_confirmed(self, server: str, container_id: str, name: str,
                           confirmed: bool | None) -> None:
        if not confirmed:
            self.say("Restart cancelled; nothing was done.")
            return
        self.run_worker(self._restart(server, container_id, name), name=f"restart {name}",
                        group="actions", exit_on_error=False)

    async def _restart(self, server: str, container_id: str, name: str) -> None:
        """Through the actions service only: it writes the intent first and refuses when it
        cannot, so no restart happens unaudited."""
        self.say(f"Restarting {name} on {server}…")
        try:
            result = await self.fleet.actions.restart(server, container_id)
        except Exception as exc:  # noqa: BLE001 - shown, the console carries on
            self.say(f"Restart of {name} on {server} failed: {exc}", severity="error",
                     timeout=15)
            return
        if isinstance(result, ActionResult) and not result.ok:
            self.say(f"Restart of {name} on {server} failed: {result.detail}",
                     severity="error", timeout=15)
            return
        self.say(f"{name} on {server} restarted.")

    def _selected_or_say(self) -> ContainerInfo | None:
        pane = self._containers_pane()
        info: ContainerInfo | None = pane.selected_container() if pane else None
        if info is None:
            self.say("Select a container row in the containers pane (key 1) first.",
                     severity="warning")
        return info

    def action_recreate(self) -> None:
        if self._refuse_read_only("recreate"):
            return
        info = self._selected_or_say()
        if info is not None:
            self.request_recreate(info.server, info.name)

    def request_recreate(self, server: str, container: str) -> None:
        """Confirm, then recreate the container's service. Also the palette's entry point."""
        if self._refuse_read_only("recreate"):
            return
        self.push_screen(recreate_screen.RecreateScreen(self.fleet, server, container))

    def action_shell(self) -> None:
        if self._refuse_read_only("shell"):
            return
        info = self._selected_or_say()
        if info is not None:
            self.request_shell(info.server, info.name)

    def request_shell(self, server: str, container: str) -> None:
        """A shell in the container, the TUI suspended. Also the palette's entry point."""
        if self._refuse_read_only("shell"):
            return
        self.run_worker(recreate_screen.open_shell(self, server, container),
                        name=f"shell {container}", group="actions", exit_on_error=False)

    def action_migrate(self, server: str | None = None) -> None:
        if self._refuse_read_only("migrate"):
            return
        self.push_screen(MigrateScreen(self.fleet, server or self.selected_server()))

    def action_test_login(self, server: str | None = None) -> None:
        self.push_screen(TestLoginScreen(self.fleet, server or self.selected_server()))

    def _logs_pane(self, what: str, *, focus: bool) -> LogsPane | None:
        """The logs pane for ``/``, ``p`` and ``w``; shown first when ``focus``."""
        pane = self.pane("logs")
        if not isinstance(pane, LogsPane):
            self.say(f"{what}: the logs pane is not built yet.", severity="warning")
            return None
        if focus and self.active_pane != "logs":
            self.active_pane = "logs"
            self._show_active("logs")
        return pane

    def action_filter(self) -> None:
        pane = self._logs_pane("Log filter", focus=True)
        if pane is not None:
            pane.open_filter()

    def action_pause(self) -> None:
        pane = self._logs_pane("Pause", focus=False)
        if pane is not None:
            pane.toggle_pause()

    def action_wrap(self) -> None:
        pane = self._logs_pane("Wrap", focus=False)
        if pane is not None:
            pane.toggle_wrap()

    def action_diagnosis(self) -> None:
        if not isinstance(self.screen, DiagnosisScreen):
            self.push_screen(DiagnosisScreen(self.query_one(DiagnosisStrip)))

    def action_report(self) -> None:
        self.run_worker(self._write_report(), group="report", exclusive=True,
                        exit_on_error=False)

    async def _write_report(self) -> None:
        """The same Markdown as ``ops-console report``, from what the panes show right now.

        No new probe round: the report states exactly the facts on screen, taken from the
        live services. Files are written off the event loop; a full disk is reported.
        """
        from console.commands.report import render_report, report_paths, write_report
        from console.commands.snapshot import build_document
        from console.engine.audit import read_audit

        document = build_document(self.fleet, window_s=900, errors=[])
        entries = (await asyncio.to_thread(read_audit, self.config.console.audit_log,
                                           limit=20)).entries
        try:
            markdown, svg = await asyncio.to_thread(
                report_paths, self.config.console.audit_log.parent, self.clock())
            await asyncio.to_thread(write_report, markdown, render_report(document, entries))
            await asyncio.to_thread(write_report, svg, self.export_screenshot())
        except OSError as exc:
            self.say(f"Report not written: {exc}", severity="error")
            return
        self.say(f"Report written: {markdown} and {svg.name}")
