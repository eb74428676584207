"""The panes of the main screen.

``PANES`` lists the four panes in SPEC order (keys 1-4), each with its class. The contract
a pane class follows:

- constructed as ``XPane(fleet)``; focusable (``can_focus=True``) or holding a focusable child;
- subscribes to its service in ``on_mount`` through a listener that only posts a message
  (``console.ui.messages``), and unsubscribes in ``on_unmount``;
- ``selected_server() -> str | None``: the server of its selected row, used by the app's
  ``m`` / ``t`` / ``r`` keys (``App.selected_server()``);
- optional ``help_text``: one line shown under its title in the help screen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textual.widget import Widget

from console.ui.widgets.containers_pane import ContainersPane
from console.ui.widgets.fleet_pane import FleetPane
from console.ui.widgets.health_pane import HealthPane
from console.ui.widgets.logs import LogsPane
from console.ui.widgets.secrets_pane import SecretsPane

if TYPE_CHECKING:
    from console.engine.fleet import FleetView

__all__ = ["PANES", "PaneFactory", "PaneSpec", "SelectsServer"]

PaneFactory = Callable[["FleetView"], Widget]  # a pane class: XPane(fleet)


@runtime_checkable
class SelectsServer(Protocol):
    """A pane (or any widget) whose selected row belongs to a server."""

    def selected_server(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PaneSpec:
    id: str  # DOM id of the pane's frame: "containers", "logs", ...
    title: str  # shown in the frame's border and tabs
    pane: PaneFactory
    key: str  # the focus key, "1".."4"


PANES: tuple[PaneSpec, ...] = (
    PaneSpec("containers", "Containers", ContainersPane, "1"),
    PaneSpec("logs", "Logs", LogsPane, "2"),
    PaneSpec("health", "Health", HealthPane, "3"),
    PaneSpec("secrets", "Secrets", SecretsPane, "4"),
    # Shown only when the config has [[prometheus]] blocks (App.panes).
    PaneSpec("fleet", "Fleet", FleetPane, "5"),
)
