"""The ``d`` screen: every finding with its evidence, its fix, and what recovered.

Each finding is a row, followed by its evidence rows and its fix. ``enter`` on an evidence
row closes the screen and jumps to that pane and row (``select_container_row`` /
``select_endpoint`` when the pane offers it; the pane is focused in any case). The fix key
of the highlighted finding (``r``, ``R``, ``m``, ``t``) runs that fix on the finding's target
through the app's confirmed and audited path; a manual fix only shows its words. Findings
cleared in the last hour are listed last, greyed, with how long they held.

The screen follows the strip: it is redrawn after every diagnosis, never on a timer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from console.engine.diagnosis import DiagnosisView, Evidence, Finding, Tracked
from console.ui.safe_text import safe
from console.ui.widgets.containers_pane import ContainersPane
from console.ui.widgets.diagnosis_strip import DiagnosisStrip, severity_style
from console.ui.widgets.health_pane import HealthPane

if TYPE_CHECKING:
    from console.ui.app import OpsConsoleApp

__all__ = ["DiagnosisScreen", "jump_to"]

# Which pane (by its id in the app) shows each evidence pane's rows.
_PANE_OF = {"containers": "containers", "connection": "containers", "health": "health",
            "secrets": "secrets", "volumes": "secrets", "logs": "logs",
            "actions": "containers", "fleet": "fleet"}


@dataclass(frozen=True, slots=True)
class _Row:
    finding: Finding
    evidence: Evidence | None = None


def jump_to(app: OpsConsoleApp, evidence: Evidence) -> bool:
    """Focus the evidence's pane and, where the pane can, select its row."""
    pane_id = _PANE_OF.get(evidence.pane, "containers")
    spec = next((s for s in app.panes if s.id == pane_id), None)
    if spec is None:
        return False
    app.action_focus_pane(spec.key)
    if len(evidence.row) < 2:
        return False
    pane, (server, name) = app.pane(pane_id), evidence.row[:2]
    # The logs and secrets panes have no row selection: the jump focuses them.
    if isinstance(pane, ContainersPane):
        return pane.select_container_row(server, name)
    if isinstance(pane, HealthPane):
        return pane.select_endpoint(server, name)
    return False


class DiagnosisScreen(ModalScreen[None]):
    """``DiagnosisScreen(strip)``: the strip's view in full."""

    BINDINGS = [
        Binding("escape,d,q", "close", "Close", id="diagnosis.close",
                tooltip="Close the diagnosis"),
        Binding("enter", "jump", "Jump", id="diagnosis.jump",
                tooltip="Go to the pane and row of the highlighted evidence"),
        Binding("r", "fix('restart')", "Restart", show=False, id="diagnosis.restart"),
        Binding("R", "fix('recreate')", "Recreate", show=False, id="diagnosis.recreate"),
        Binding("m", "fix('migrate')", "Migrate", show=False, id="diagnosis.migrate"),
        Binding("t", "fix('test_login')", "Test login", show=False, id="diagnosis.test_login"),
    ]

    DEFAULT_CSS = """
    DiagnosisScreen {
        align: center middle;
    }
    DiagnosisScreen > #diagnosis {
        width: 120;
        max-width: 100%;
        height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    DiagnosisScreen #diagnosis-title {
        text-style: bold;
    }
    DiagnosisScreen OptionList {
        height: 1fr;
    }
    """

    def __init__(self, strip: DiagnosisStrip) -> None:
        super().__init__()
        self.strip = strip
        self._rows: list[_Row] = []
        self._unfollow: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="diagnosis"):
            yield Static("Diagnosis", id="diagnosis-title", markup=False)
            yield OptionList(id="diagnosis-list")
            yield Static("enter: go to the evidence   r R m t: run the highlighted finding's "
                         "fix (confirmed, audited)   esc: close", id="diagnosis-keys",
                         markup=False)

    def on_mount(self) -> None:
        self._unfollow = self.strip.add_listener(self.show)
        self.show(self.strip.view)
        self.query_one(OptionList).focus()

    def on_unmount(self) -> None:
        if self._unfollow is not None:
            self._unfollow()

    # -- drawing -------------------------------------------------------------------------

    def show(self, view: DiagnosisView) -> None:
        options = self.query_one(OptionList)
        highlighted = options.highlighted
        options.clear_options()
        self._rows = []
        title = f"Diagnosis: {len(view.active)} finding{'s' if len(view.active) != 1 else ''}"
        if view.cleared:
            title += f", {len(view.cleared)} recovered in the last hour"
        self.query_one("#diagnosis-title", Static).update(title)
        if not view.active and not view.cleared:
            options.add_option(Option(Text("No findings: every rule is satisfied."),
                                      disabled=True))
            return
        for item in view.active:
            self._add(options, item, view, greyed=False)
        for item in view.cleared:
            self._add(options, item, view, greyed=True)
        options.highlighted = highlighted if highlighted is not None and \
            highlighted < len(self._rows) else 0

    def _add(self, options: OptionList, item: Tracked, view: DiagnosisView,
             greyed: bool) -> None:
        finding = item.finding
        held = item.held_for(view.now)
        state = f"recovered, held {held}" if greyed else f"held for {held}"
        head = Text.assemble(
            (f"{finding.severity.label.upper():<8} ",
             "dim" if greyed else severity_style(finding.severity)),
            safe(f"{finding.server}: {finding.summary}", "dim" if greyed else "bold"),
            (f"  ({state})", "dim"), end="")
        options.add_option(Option(head))
        self._rows.append(_Row(finding))
        for evidence in finding.evidence:
            line = Text.assemble(("    ↳ ", "dim"), (f"{evidence.pane}: ", "dim"),
                                 safe(evidence.text, "dim" if greyed else ""), end="")
            options.add_option(Option(line))
            self._rows.append(_Row(finding, evidence))
        fix = finding.fix
        words = f"    fix [{fix.key}] {fix.action.replace('_', '-')} {fix.target}: {fix.why}" \
            if fix.key else f"    fix by hand: {fix.why}"
        options.add_option(Option(safe(words, "dim" if greyed else "italic")))
        self._rows.append(_Row(finding))

    # -- keys ----------------------------------------------------------------------------

    def _current(self) -> _Row | None:
        index = self.query_one(OptionList).highlighted
        if index is None or not 0 <= index < len(self._rows):
            return None
        return self._rows[index]

    def action_close(self) -> None:
        self.dismiss(None)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_jump()

    def action_jump(self) -> None:
        row = self._current()
        if row is None:
            return
        evidence = row.evidence or (row.finding.evidence[0] if row.finding.evidence else None)
        if evidence is None:
            return
        app = self.app
        self.dismiss(None)
        app.call_after_refresh(jump_to, app, evidence)

    def action_fix(self, action: str) -> None:
        row = self._current()
        if row is None:
            return
        finding = row.finding
        fix = finding.fix
        if fix.action == "manual":
            self.app.notify(f"By hand: {fix.why}", markup=False, timeout=20)
            return
        if fix.action != action:
            self.app.notify(f"This finding's fix is {fix.action.replace('_', '-')} "
                            f"({fix.key}), not {action.replace('_', '-')}.", markup=False,
                            severity="warning")
            return
        from console.ui.app import OpsConsoleApp

        if isinstance(self.app, OpsConsoleApp):  # the fixes are the console's own actions
            run_fix(self.app, finding)


def run_fix(app: OpsConsoleApp, finding: Finding) -> None:
    """A finding's fix through the app's own confirmed and audited actions."""
    fix = finding.fix
    server = finding.server
    if fix.action == "restart":
        containers = app.fleet.containers
        info = containers.find(server, fix.target) if containers is not None else None
        if info is None:
            app.notify(f"{fix.target} is no longer listed on {server}.", markup=False,
                       severity="warning")
            return
        app.request_restart(server, info.id)
    elif fix.action == "recreate":
        app.request_recreate(server, fix.target)
    elif fix.action == "migrate":
        app.action_migrate(server)
    elif fix.action == "test_login":
        app.action_test_login(server)
