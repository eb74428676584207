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
- the action keys hand over to ``ActionFlow`` (``action_flow.py``): which row or server,
  the read-only refusal, the confirmation and the engine call; ``r`` goes through
  ``fleet.actions.restart(server, container_id)``, always: a restart is audited or not run;
- the global bindings and help's rows are in ``keys.py``, the crash report without local
  variables in ``crash.py``;
- the palette takes extra command sources (``console.ui.commands.register_command_source``);
- ``clock`` (a ``() -> datetime``) is what every time-dependent text uses, frozen in tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.dom import DOMNode
from textual.events import DescendantFocus
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Tab, Tabs
from textual.worker import Worker, WorkerState

from console.engine.diagnosis import DiagnosisView
from console.engine.diagnosis.targets import container_target
from console.models import utcnow
from console.ui.action_flow import ActionFlow
from console.ui.commands import OpsCommands
from console.ui.crash import crash_report_without_locals
from console.ui.keys import APP_BINDINGS, help_entries, key_display_name
from console.ui.safe_text import make_visible
from console.ui.screens import (
    audit_view,  # noqa: F401 - registers its palette entries
    recreate,  # noqa: F401 - registers its palette entries
)
from console.ui.screens.diagnosis import DiagnosisScreen
from console.ui.screens.help import HelpScreen
from console.ui.screens.migrate import MigrateScreen
from console.ui.screens.test_login import TestLoginScreen
from console.ui.themes import install_themes, theme_variable_defaults
from console.ui.widgets import PANES, PaneFactory, PaneSpec, SelectsServer
from console.ui.widgets.containers_pane import ContainersPane
from console.ui.widgets.diagnosis_strip import DiagnosisStrip
from console.ui.widgets.header import ServerStatusBar
from console.ui.widgets.placeholder import NotBuiltPane

if TYPE_CHECKING:
    from console.config import Config
    from console.engine.fleet import FleetView

__all__ = ["OpsConsoleApp"]

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 5.0

PaneClasses = dict[str, PaneFactory | None]


def make_pane(spec: PaneSpec, overrides: PaneClasses, fleet: FleetView) -> Widget:
    """The pane if it constructs; otherwise an honest stand-in with the error."""
    pane_id = f"pane-{spec.id}"
    try:
        pane_class = overrides.get(spec.id, spec.pane)
        if pane_class is None:
            return NotBuiltPane(spec.title, id=pane_id)
        pane = pane_class(fleet)
    except Exception as exc:  # noqa: BLE001 - one broken pane must not stop the console
        log.exception("pane %s failed", spec.id)
        return NotBuiltPane(spec.title, error=f"{type(exc).__name__}: {exc}", id=pane_id)
    if pane.id is None:
        pane.id = pane_id
    return pane


class PaneTabs(Tabs, can_focus=False):
    """The pane switcher shown in the compact layout; mouse-clickable, keys are 1-4."""


class OpsConsoleApp(App[int]):
    """``OpsConsoleApp(config, fleet=None)``: the operator's one screen."""

    CSS_PATH = "app.tcss"
    TITLE = "ops-console"
    COMMANDS = App.COMMANDS | {OpsCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]

    BINDINGS: ClassVar[list[BindingType]] = list(APP_BINDINGS)

    active_pane: reactive[str] = reactive("containers")
    """The pane shown in the compact (tabbed) layout and focused by default."""

    zoomed: reactive[bool] = reactive(False)
    """True while the active pane fills the panes' area (``z``)."""

    def __init__(self, config: Config, fleet: FleetView | None = None, *,
                 clock: Callable[[], datetime] = utcnow,
                 pane_classes: PaneClasses | None = None,
                 when_ready: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._when_ready = when_ready
        if fleet is None:
            from console.engine.fleet import Fleet

            fleet = Fleet(config)
        self.config = config
        self.fleet: FleetView = fleet
        self.clock = clock
        # The fleet pane (key 5) exists only where [[prometheus]] blocks are configured.
        self.panes: tuple[PaneSpec, ...] = tuple(
            spec for spec in PANES if spec.id != "fleet" or config.prometheus)
        self._pane_overrides = pane_classes or {}
        self._stopped = False
        self._startup_messages: list[tuple[str, str]] = []
        self.flow = ActionFlow(self)
        self.strip = DiagnosisStrip(self.fleet, clock=self.clock, id="diagnosis-strip")
        self._startup_messages += [(problem, "warning") for problem in
                                   install_themes(self, config.console.theme)]

    # -- themes --------------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """Severity/state colours for themes that lack them (Textual's built-ins)."""
        return theme_variable_defaults(self.current_theme)

    def set_theme(self, name: str) -> None:
        self.theme = name

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ServerStatusBar(self.fleet, clock=self.clock,
                              read_only=self.config.console.read_only, id="status-bar")
        yield self.strip
        yield PaneTabs(*(Tab(f"{spec.key} {spec.title}", id=f"tab-{spec.id}")
                         for spec in self.panes), id="pane-tabs")
        with Grid(id="panes", classes="-fleet" if len(self.panes) > 4 else ""):
            for spec in self.panes:
                frame = Vertical(classes="pane-frame", id=f"frame-{spec.id}")
                frame.border_title = f"{spec.key} {spec.title}"
                with frame:
                    yield make_pane(spec, self._pane_overrides, self.fleet)
        yield Footer(show_command_palette=False)

    def pane(self, pane_id: str) -> Widget:
        """The widget inside a pane's frame (real pane or stand-in)."""
        return self.query_one(f"#frame-{pane_id}").children[0]

    def on_mount(self) -> None:
        for message, severity in self._startup_messages:
            self.say(message, severity=severity, timeout=12)
        self.show_active(self.active_pane)
        self.pane(self.active_pane).focus()
        self.strip.add_listener(self._follow_diagnosis)
        self._follow_diagnosis(self.strip.view)
        self.run_worker(self._start_fleet(), name="fleet-start", group="fleet",
                        exit_on_error=False)

    def on_ready(self) -> None:
        """The first screen is drawn: run what the caller wanted done then (``ops-console``
        freezes the start-up heap out of the collector's walks)."""
        if self._when_ready is not None:
            self._when_ready()

    def _follow_diagnosis(self, view: DiagnosisView) -> None:
        """The containers pane's selection on the findings' container, so that the key the
        strip shows acts on the container it names (until the operator picks a row)."""
        pane = self.pane("containers")
        if isinstance(pane, ContainersPane):
            pane.follow(container_target(view.findings, pane.shows))

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
        """Textual's crash report without local variables (see ``console.ui.crash``).
        Overrides a private hook of textual, which is pinned to an exact version."""
        crash_report_without_locals(self)

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
        if self.is_mounted(self.strip):
            self.show_active(pane_id)

    def show_active(self, pane_id: str) -> None:
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
        if not self.is_mounted(self.strip):
            return
        self.query_one("#panes").set_class(zoomed, "-zoomed")
        self.query_one(PaneTabs).set_class(zoomed, "-zoomed")
        self.show_active(self.active_pane)
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
        self.show_active(spec.id)
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
        node: DOMNode | None = self.focused
        while node is not None and not isinstance(node, Screen):
            if node.id and node.id.startswith("frame-"):
                self.active_pane = node.id.removeprefix("frame-")
                return
            node = node.parent

    def selected_server(self) -> str:
        """The server of the row selected in the focused pane, else the first server."""
        node: DOMNode | None = self.focused
        while node is not None and not isinstance(node, Screen | App):
            if isinstance(node, SelectsServer) and (server := node.selected_server()):
                return server
            node = node.parent
        return self.config.servers[0].name

    # -- messages ------------------------------------------------------------------------

    def say(self, message: str, *, severity: str = "information",
            timeout: float | None = None) -> None:
        """A notification whose text is shown literally (it may carry server text)."""
        self.notify(make_visible(message, 600), severity=severity,  # type: ignore[arg-type]
                    timeout=timeout, markup=False)

    # -- help and palette ----------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(help_entries(self, self.get_key_display_name)))

    def get_key_display_name(self, key: str) -> str:
        return key_display_name(key, self.get_key_display(Binding(key, "")))

    # -- actions (the flow is in action_flow.py) ----------------------------------------

    def action_restart(self) -> None:
        self.flow.restart_selected()

    def request_restart(self, server: str, container_id: str) -> None:
        """Confirm, then restart. Also the palette's entry point."""
        self.flow.request_restart(server, container_id)

    def action_recreate(self) -> None:
        self.flow.recreate_selected()

    def request_recreate(self, server: str, container: str) -> None:
        """Confirm, then recreate the container's service. Also the palette's entry point."""
        self.flow.request_recreate(server, container)

    def action_shell(self) -> None:
        self.flow.shell_selected()

    def request_shell(self, server: str, container: str) -> None:
        """A shell in the container, the TUI suspended. Also the palette's entry point."""
        self.flow.request_shell(server, container)

    def action_migrate(self, server: str | None = None) -> None:
        if self.flow.refuse_read_only("migrate"):
            return
        self.push_screen(MigrateScreen(self.fleet, server or self.selected_server()))

    def action_test_login(self, server: str | None = None) -> None:
        self.push_screen(TestLoginScreen(self.fleet, server or self.selected_server()))

    def action_filter(self) -> None:
        pane = self.flow.logs_pane("Log filter", focus=True)
        if pane is not None:
            pane.open_filter()

    def action_pause(self) -> None:
        pane = self.flow.logs_pane("Pause", focus=False)
        if pane is not None:
            pane.toggle_pause()

    def action_wrap(self) -> None:
        pane = self.flow.logs_pane("Wrap", focus=False)
        if pane is not None:
            pane.toggle_wrap()

    def action_diagnosis(self) -> None:
        if not isinstance(self.screen, DiagnosisScreen):
            self.push_screen(DiagnosisScreen(self.strip))

    def action_report(self) -> None:
        self.run_worker(self.flow.write_report(), group="report", exclusive=True,
                        exit_on_error=False)
