"""A probe's evidence: what was asked, what came back, the headers and the body, literally.

When a probe fails the operator's next question is "what did it actually say?". This view
shows the verdict (state and reason), the request (URL, sent from where), and the response
headers and the first 2 KB of the body exactly as received: every character through
``safe_text.safe(..., keep_newlines=True)``, so an HTML error page, a ``[bold]`` or an
escape sequence is shown as text and never interpreted. Cookie values were already
replaced by their length in the engine.

It is a snapshot of the result the operator selected (the time is in the title); ``esc``
closes it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.engine.health import BODY_PREVIEW_BYTES, KLASS_LABELS, EndpointState, severity
from console.models import utcnow
from console.ui.safe_text import safe

__all__ = ["HealthDetailScreen", "detail_sections"]

_SEVERITY_STYLE = {"ok": "bold green", "warning": "bold yellow", "error": "bold red",
                   "unknown": "dim"}
# A severity word -> the state word whose theme colour it borrows (themes.state_style).
_STATE_WORD = {"ok": "healthy", "warning": "starting", "error": "unhealthy",
               "unknown": "pending"}


def detail_sections(state: EndpointState, now: datetime | None = None,
                    style_for: Callable[[str], Any] = _SEVERITY_STYLE.__getitem__,
                    ) -> list[tuple[str, Text]]:
    """``(section id, Text)`` pairs: summary, headers, body. Plain data, easy to test.

    ``style_for`` maps a severity (ok, warning, error, unknown) to a style; the screen
    passes the theme's colours.
    """
    result = state.result
    assert result is not None
    checked = result.checked_at.astimezone().strftime("%H:%M:%S")
    age = int(((now or utcnow()) - result.checked_at).total_seconds())
    summary = Text()
    summary.append_text(Text.assemble(safe(state.server, "bold"), " · ",
                                      safe(state.name, "bold")))
    summary.append("\n")
    rows: list[tuple[str, Text]] = [
        ("state", Text(KLASS_LABELS.get(result.klass, result.klass),
                       style=style_for(severity(result.klass)))),
        ("why", safe(result.reason, max_chars=600)),
        ("url", safe(state.url, max_chars=600)),
        ("sent from", Text("the server, through its SSH connection" if state.from_ == "server"
                           else "this console")),
        ("status", Text(str(result.status) if result.status is not None
                        else "no HTTP answer")),
        ("latency", Text("-" if result.latency_ms is None else f"{result.latency_ms:.1f} ms")),
        ("checked", Text(f"{checked} ({max(0, age)}s ago)")),
    ]
    if result.cert_days_left is not None:
        rows.append(("certificate", Text(f"expires in {result.cert_days_left} days")))
    for label, value in rows:
        summary.append(f"{label:>12}  ", style="dim")
        summary.append_text(value)
        summary.append("\n")
    sections = [("summary", summary)]
    if result.status is None:
        sections.append(("headers", Text("No response: the request failed before an HTTP "
                                          "answer arrived (see why, above).", style="italic")))
        return sections
    headers = Text()
    headers.append("Response headers\n", style="bold underline")
    for name, header_value in result.headers:
        headers.append_text(safe(name, "bold", max_chars=200))
        headers.append(": ")
        headers.append_text(safe(header_value, max_chars=2000))
        headers.append("\n")
    if not result.headers:
        headers.append("(none)\n", style="dim")
    body = Text()
    size = len(result.body_preview)
    body.append(f"Body (first {BODY_PREVIEW_BYTES // 1024} KB: {size} bytes shown)\n",
                style="bold underline")
    if result.body_preview:
        body.append_text(safe(result.body_preview, keep_newlines=True,
                              max_chars=BODY_PREVIEW_BYTES))
    else:
        body.append("(empty)", style="dim")
    sections += [("headers", headers), ("body", body)]
    return sections


class HealthDetailScreen(ModalScreen[None]):
    """``HealthDetailScreen(state)``: the selected probe's headers and body. ``esc`` closes."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="health_detail.close",
                tooltip="Back to the console"),
    ]

    DEFAULT_CSS = """
    HealthDetailScreen {
        align: center middle;
    }
    HealthDetailScreen > #health-detail {
        width: 110;
        max-width: 95%;
        height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    HealthDetailScreen Static {
        width: 100%;
        margin: 0 0 1 0;
    }
    """

    def __init__(self, state: EndpointState, *, now: datetime | None = None) -> None:
        super().__init__()
        if state.result is None:
            raise ValueError("no result to show yet")
        self.state = state
        self._now = now

    def compose(self) -> ComposeResult:
        scroll = VerticalScroll(id="health-detail", can_focus=True)
        scroll.border_title = "Probe detail"
        with scroll:
            for section, text in detail_sections(self.state, self._now, self._style):
                yield Static(text, id=f"detail-{section}", markup=False)

    def _style(self, level: str) -> Any:
        from console.ui.themes import state_style

        return state_style(self.app, _STATE_WORD[level])

    def on_mount(self) -> None:
        self.query_one("#health-detail").focus()

    def action_close(self) -> None:
        self.dismiss(None)
