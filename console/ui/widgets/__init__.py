"""The panes of the main screen, one module each, found by name so they can land one by one.

``PANES`` lists the four panes in SPEC order (keys 1-4). ``load_pane_class`` imports a pane
class if its module exists; the app shows a ``NotBuiltPane`` ("Logs — not built yet") for a
pane whose module is absent, and an honest error for one that fails to import. So adding a
pane is creating its module with a ``XPane(fleet)`` class: no change here or in the app.

The contract a pane class follows:

- constructed as ``XPane(fleet)``; focusable (``can_focus=True``) or holding a focusable child;
- subscribes to its service in ``on_mount`` and unsubscribes in ``on_unmount``;
- optional ``selected_server() -> str | None``: the server of its selected row, used by the
  app's ``m`` / ``t`` / ``r`` keys (``App.selected_server()``);
- optional ``help_text``: one line shown under its title in the help screen.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from textual.widget import Widget

__all__ = ["PANES", "PaneSpec", "load_pane_class"]


@dataclass(frozen=True, slots=True)
class PaneSpec:
    id: str  # DOM id of the pane's frame: "containers", "logs", ...
    title: str  # shown in the frame's border and tabs
    module: str
    class_name: str
    key: str  # the focus key, "1".."4"


PANES: tuple[PaneSpec, ...] = (
    PaneSpec("containers", "Containers", "console.ui.widgets.containers_pane",
             "ContainersPane", "1"),
    PaneSpec("logs", "Logs", "console.ui.widgets.logs_pane", "LogsPane", "2"),
    PaneSpec("health", "Health", "console.ui.widgets.health_pane", "HealthPane", "3"),
    PaneSpec("secrets", "Secrets", "console.ui.widgets.secrets_pane", "SecretsPane", "4"),
    # Shown only when the config has [[prometheus]] blocks (App.panes()).
    PaneSpec("fleet", "Fleet", "console.ui.widgets.fleet_pane", "FleetPane", "5"),
)


def load_pane_class(spec: PaneSpec) -> type[Widget] | None:
    """The pane class, or None when its module does not exist yet.

    Only the pane's *own* module being absent means "not built yet"; any other import
    failure (a bug inside the pane) propagates so the app can show it instead of hiding it.
    """
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name == spec.module:
            return None
        raise
    pane = getattr(module, spec.class_name, None)
    if pane is None:
        raise ImportError(f"{spec.module} has no class {spec.class_name}")
    return pane
