"""``t``: test-login on a server, and what its answer and token say.

``TestLoginScreen(fleet, server_name)`` runs ``fleet.actions.test_login`` in a worker as
soon as it opens (a login is not a change, so there is no confirmation; it is audited) and
shows:

- the request: URL, and whether it was sent from the console or from the server;
- the classification (accepted, rejected 401, forbidden, proxy 502, 5xx, refused,
  timeout, ...) with its reason, the HTTP status and the latency;
- the token: a 12-character preview, the algorithm, and every claim in a table, with
  issued-at and expiry as times and the time left counting down live;
- the signature verdict when ``verify_with_secret`` is set: "signature valid" or
  "signature INVALID: the secret differs", naming the place that disagrees.

The password and the secret are never in anything this screen gets. Claim values, reasons
and bodies come from the server and are rendered through ``safe()``.
``r`` sends the login again; ``esc`` or ``q`` closes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import DataTable, Static

from console.engine.actions import ActionRefused, LoginResult, TokenInfo
from console.models import utcnow
from console.ui.console_app import AppClock
from console.ui.safe_text import safe
from console.ui.themes import severity_style, state_style

if TYPE_CHECKING:
    from console.engine.fleet import FleetView

__all__ = ["TestLoginScreen", "format_time_left"]

CLASS_LABELS = {
    "accepted": "accepted",
    "rejected_401": "rejected (401)",
    "forbidden": "forbidden (403)",
    "proxy_502": "proxy 502",
    "app_5xx": "5xx from the app",
    "refused": "connection refused",
    "timeout": "timeout",
    "unreachable": "server unreachable",
    "no_token": "no token in the answer",
    "bad_token": "unreadable token",
}
TIME_CLAIMS = ("iat", "exp", "nbf", "auth_time")


def format_time_left(seconds: float | None) -> str:
    """'14m 32s left', '2h 05m left', 'expired 3m 10s ago', 'no expiry'."""
    if seconds is None:
        return "no expiry"
    past = seconds <= 0
    total = int(abs(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 48:
        span = f"{hours // 24}d {hours % 24:02d}h"
    elif hours:
        span = f"{hours}h {minutes:02d}m"
    elif minutes:
        span = f"{minutes}m {secs:02d}s"
    else:
        span = f"{secs}s"
    return f"expired {span} ago" if past else f"{span} left"


def _iso(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class TestLoginScreen(ModalScreen[LoginResult | None]):
    """The result of one test-login; dismisses with the last LoginResult."""

    __test__ = False  # a screen, not a pytest test class

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="test_login.close",
                tooltip="Close this window"),
        Binding("r", "again", "Send again", id="test_login.again",
                tooltip="POST the credentials again and inspect the new token"),
    ]

    DEFAULT_CSS = """
    TestLoginScreen {
        align: center middle;
    }
    TestLoginScreen > #dialog {
        width: 100;
        max-width: 95%;
        height: auto;
        max-height: 95%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    TestLoginScreen #title {
        text-style: bold;
    }
    TestLoginScreen Static {
        height: auto;
    }
    TestLoginScreen #claims {
        height: auto;
        max-height: 14;
        margin: 1 0;
    }
    TestLoginScreen #hint {
        color: $text-muted;
    }
    """

    def __init__(self, fleet: FleetView, server_name: str) -> None:
        super().__init__()
        self.fleet = fleet
        self.server_name = server_name
        self.actions = fleet.actions
        self.result: LoginResult | None = None
        self.refusal = ""
        self.busy = False
        self._timer: Timer | None = None

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.app.clock if isinstance(self.app, AppClock) else utcnow

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text.assemble("Test login on ", safe(self.server_name, "bold")),
                         id="title", markup=False)
            yield Static(self._request_text(), id="request", markup=False)
            yield Static("", id="outcome", markup=False)
            yield Static("", id="token", markup=False)
            table: DataTable[Text] = DataTable(id="claims", cursor_type="row",
                                               show_cursor=False, zebra_stripes=True)
            table.display = False
            yield table
            yield Static("", id="expiry", markup=False)
            yield Static("", id="signature", markup=False)
            yield Static("", id="body", markup=False)
            yield Static(Text("r: send again · esc or q: close"), id="hint", markup=False)

    def _request_text(self) -> Text:
        config = self.fleet.config
        try:
            login = config.server(self.server_name).test_login if config else None
        except KeyError:
            login = None
        if login is None:
            return Text("")
        where = ("from the server, through its connection" if login.from_ == "server"
                 else "from this console")
        return Text.assemble("POST ", safe(login.url, "bold"), f" {where}; credentials from "
                             "the console's environment (never shown)")

    def on_mount(self) -> None:
        self._timer = self.set_interval(1.0, self._tick, pause=True)
        self.action_again()

    # -- running -------------------------------------------------------------------------

    def action_again(self) -> None:
        if self.busy:
            self.app.bell()
            return
        if self.actions is None:
            self._show_refusal("Test login is not available: this console has no actions "
                               "service.")
            return
        self.busy = True
        self.query_one("#outcome", Static).update(Text("Sending the login…"))
        self.run_worker(self._run(), name=f"test-login {self.server_name}",
                        group="test_login", exclusive=True, exit_on_error=False)

    async def _run(self) -> None:
        actions = self.actions
        if actions is None:
            return  # action_again said so: this console has no actions service
        try:
            result = await actions.test_login(self.server_name)
        except ActionRefused as exc:
            self._show_refusal(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown here, never fatal
            self._show_refusal(f"Test login failed to run: {type(exc).__name__}: {exc}")
            return
        finally:
            self.busy = False
        self.show_result(result)

    def _show_refusal(self, message: str) -> None:
        self.refusal = message
        self.query_one("#outcome", Static).update(
            safe(message, severity_style(self.app, "warning"), keep_newlines=True))

    def show_result(self, result: LoginResult) -> None:
        self.result = result
        self.refusal = ""
        self.query_one("#outcome", Static).update(self._outcome_text(result))
        self.query_one("#token", Static).update(self._token_text(result))
        self._fill_claims(result.token)
        self._tick()
        if self._timer is not None:
            if result.token is not None and result.token.exp is not None:
                self._timer.resume()
            else:
                self._timer.pause()
        signature = Text("")
        if result.signature is not None:
            good = result.signature.verdict == "valid"
            style = state_style(self.app, "running") if good else (
                severity_style(self.app, "error") if result.signature.verdict == "invalid"
                else severity_style(self.app, "warning"))
            signature = Text.assemble("Signature: ", safe(result.signature.text, style))
        self.query_one("#signature", Static).update(signature)
        body = Text("")
        if not result.ok and result.body_preview:
            # Shown as the page reads (make_visible turns CRLF into line breaks); other
            # controls and escapes stay visible.
            body = Text.assemble("Answer:\n", safe(result.body_preview, "dim", max_chars=300,
                                                   keep_newlines=True))
        self.query_one("#body", Static).update(body)

    def _outcome_text(self, result: LoginResult) -> Text:
        label = CLASS_LABELS.get(result.klass, result.klass.replace("_", " "))
        good = result.klass == "accepted"
        style = state_style(self.app, "running") if good else severity_style(self.app, "error")
        text = Text.assemble((label, style), " — ", safe(result.reason))
        facts = []
        if result.status is not None:
            facts.append(f"HTTP {result.status}")
        if result.latency_ms is not None:
            facts.append(f"{result.latency_ms:.0f} ms")
        facts.append("sent from the server" if result.from_ == "server" else "sent from here")
        text.append("\n" + " · ".join(facts))
        return text

    def _token_text(self, result: LoginResult) -> Text:
        if not result.token_preview:
            return Text("")
        text = Text.assemble("Token: ", safe(result.token_preview, "bold"))
        if result.token is not None:
            text.append_text(Text.assemble("  alg ", safe(result.token.alg, "bold")))
            if result.token.typ:
                text.append_text(Text.assemble("  typ ", safe(result.token.typ)))
        return text

    def _fill_claims(self, token: TokenInfo | None) -> None:
        table = self.query_one("#claims", DataTable)
        table.clear(columns=True)
        table.display = token is not None
        if token is None:
            return
        table.add_columns("claim", "value")
        times = {"iat": token.iat, "exp": token.exp, "nbf": token.nbf}
        for name, value in token.claims:
            shown = safe(value, max_chars=120)
            if name in times and times[name] is not None:
                shown = Text.assemble(_iso(times[name]), (f"  ({value})", "dim"))
            table.add_row(safe(name, "bold"), shown)

    def _tick(self) -> None:
        result = self.result
        token = result.token if result else None
        if token is None:
            self.query_one("#expiry", Static).update(Text(""))
            return
        left = token.time_left(self.clock())
        style = severity_style(self.app, "error") if left is not None and left <= 0 else (
            severity_style(self.app, "warning") if left is not None and left < 120 else "")
        self.query_one("#expiry", Static).update(Text.assemble(
            "Expires: ", _iso(token.exp), "  ", (format_time_left(left), style)))

    def action_close(self) -> None:
        self.dismiss(self.result)
