"""The confirmation modal every mutating action goes through (restart, migrate, ...).

``ConfirmScreen(title, body_lines, typed_name=None)`` dismisses with True (go) or False.

- Focus starts on the safe choice (Cancel); ``n`` or ``esc`` cancels, ``y`` confirms.
- With ``typed_name`` (a protected server) ``y`` is not enough: the operator types that
  name in the box and presses ``enter``; a wrong name is refused with a message and the
  screen stays. ``esc`` still cancels.

The body says exactly what will happen. Lines may be plain strings or ``Text``; strings
are rendered literally (``safe``), so a container name can never inject markup.

Use it with a callback, not ``await push_screen_wait`` inside a handler (textual #5596)::

    self.app.push_screen(ConfirmScreen("Restart crm-backend-1?", lines, typed_name="prod"),
                         callback=lambda ok: ok and self.do_it())
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from console.ui.safe_text import safe

__all__ = ["ConfirmScreen"]


def _as_text(line: str | Text) -> Text:
    return line if isinstance(line, Text) else safe(line, keep_newlines=True)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; optionally the operator must type a name to say yes."""

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm.yes", tooltip="Confirm and go ahead"),
        Binding("n", "cancel", "No", id="confirm.no", tooltip="Cancel; nothing happens"),
        Binding("escape", "cancel", "Cancel", id="confirm.cancel",
                tooltip="Cancel; nothing happens"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen > #dialog {
        width: 72;
        max-width: 95%;
        height: auto;
        max-height: 95%;
        border: thick $warning;
        background: $surface;
        padding: 1 2;
    }
    ConfirmScreen #title {
        text-style: bold;
        margin-bottom: 1;
    }
    ConfirmScreen #body {
        margin-bottom: 1;
    }
    ConfirmScreen #typed {
        margin-bottom: 1;
    }
    ConfirmScreen #problem {
        color: $error;
        height: auto;
    }
    ConfirmScreen #buttons {
        height: auto;
        align: right middle;
    }
    ConfirmScreen Button {
        margin-left: 2;
    }
    """

    def __init__(self, title: str | Text, body_lines: Sequence[str | Text] = (),
                 typed_name: str | None = None) -> None:
        super().__init__()
        self.title_text = _as_text(title)
        self.body_lines = [_as_text(line) for line in body_lines]
        self.typed_name = typed_name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.title_text, id="title", markup=False)
            if self.body_lines:
                yield Static(Text("\n").join(self.body_lines), id="body", markup=False)
            if self.typed_name is not None:
                yield Static(Text.assemble(
                    "This server is protected. Type ", safe(self.typed_name, "bold"),
                    " and press enter to confirm."), markup=False)
                yield Input(placeholder=self.typed_name, id="typed", select_on_focus=False)
            yield Static("", id="problem", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel (n)", id="cancel", variant="primary")
                yield Button("Confirm (y)" if self.typed_name is None else "Confirm",
                             id="confirm", variant="warning")

    def on_mount(self) -> None:
        # The safe choice first. With a typed name, typing is the only way to say yes,
        # so the box can take focus: enter on an empty or wrong name does nothing.
        target = "#typed" if self.typed_name is not None else "#cancel"
        self.query_one(target).focus()

    def action_confirm(self) -> None:
        if self.typed_name is not None:
            self._refuse("Type the server name and press enter to confirm.")
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.dismiss(False)
        elif self.typed_name is None:
            self.dismiss(True)
        else:
            self._check_typed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._check_typed()

    def _check_typed(self) -> None:
        typed = self.query_one("#typed", Input).value.strip()
        if typed == self.typed_name:
            self.dismiss(True)
        else:
            self._refuse(Text.assemble("That is not ", safe(self.typed_name or "", "bold"),
                                       "; nothing was done."))

    def _refuse(self, message: str | Text) -> None:
        self.query_one("#problem", Static).update(_as_text(message))
        self.app.bell()
