"""Textual's crash report, but without local variables.

Textual renders the traceback with ``show_locals=True``, so a crash in code that holds a
secret value (an env file's text, a login password) would print it to the terminal
(tests/faults/test_crash_leaks.py). Same report: frames and message only.
"""

from __future__ import annotations

from typing import Any

from textual.app import App

__all__ = ["crash_report_without_locals"]


def crash_report_without_locals(app: App[Any]) -> None:
    """What ``App._fatal_error`` does, with ``show_locals=False``: ring the bell, queue the
    traceback for printing after exit, and close the app's message loop."""
    import rich
    from rich.segment import Segments
    from rich.traceback import Traceback

    app.bell()
    traceback = Traceback(show_locals=False, width=None, suppress=[rich])
    app._exit_renderables.append(
        Segments(app.console.render(traceback, app.console.options)))
    app._close_messages_no_wait()
