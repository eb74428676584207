"""What panes and screens use of the app they run in.

They run inside ``OpsConsoleApp``, but also inside the small apps of their own tests; the
app module imports them, so they cannot import it back. Each need is a protocol of its own,
tested with ``isinstance``, and a widget does without what its app does not offer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from console.ui.widgets.diagnosis_strip import DiagnosisStrip

__all__ = ["AppClock", "AppPanes", "AppStrip"]


@runtime_checkable
class AppClock(Protocol):
    """An app with its own clock (frozen in snapshots and tests)."""

    clock: Callable[[], datetime]


@runtime_checkable
class AppPanes(Protocol):
    """An app whose panes are focused by their key (``1``..``5``)."""

    def action_focus_pane(self, key: str) -> None: ...


@runtime_checkable
class AppStrip(Protocol):
    """An app with a diagnosis strip, whose findings the confirmations quote."""

    strip: DiagnosisStrip
