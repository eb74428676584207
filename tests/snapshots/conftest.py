"""Snapshot-test setup: nothing may blink or tick between two runs of the same test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Input, TextArea


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every Input and TextArea is created with a steady cursor (textual #4998 advice)."""
    for widget_class in (Input, TextArea):
        original = widget_class.__init__

        def init(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            self.cursor_blink = False

        monkeypatch.setattr(widget_class, "__init__", init)
    yield
