"""Helpers for the fault suite: wait for a state, time a keypress, read the screen as text.

Every fault test asks the same four questions of the running app (the issue's contract):
does a key still answer within 200 ms, does the affected pane say what is wrong in words,
does it come back by itself, and did a traceback reach the screen. The answers are computed
here once so each test reads as the incident it stages.
"""

from __future__ import annotations

import asyncio
import html
import io
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

KEY_BUDGET_S = 0.2
_TAG = re.compile(r"<[^>]+>")


async def until(pilot: Any, predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait for a condition while the app runs; returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what}\n--- screen ---\n"
                                 f"{screen_text(pilot.app)}")
        await pilot.pause(0.05)
    return time.monotonic() - start


def _send_key(app: Any, key: str, char: str | None) -> None:
    """Feed one key the way the terminal driver does (no idle-waiting, unlike ``pilot.press``).

    ``pilot.press`` waits until *this process* looks idle by CPU time, which counts the
    fault's own helper threads and the test itself; timing through it would measure the
    harness. Sending the event straight to the driver and polling for the result measures
    what the operator feels: how long the event loop takes to act on a key.
    """
    from textual import events

    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


async def _wait_screen(app: Any, predicate: Callable[[], bool], start: float) -> None:
    while not predicate():
        await asyncio.sleep(0.002)
        if time.perf_counter() - start > 5:
            raise AssertionError("no reaction to a keypress within 5s")


async def key_round_trips(pilot: Any, samples: int = 6) -> list[float]:
    """Seconds from pressing ``?`` until the help screen is up, and from ``escape`` until
    it is gone again: one sample per keypress.

    A key that has to wait behind a blocked event loop (a docker call made on the loop, a
    huge synchronous redraw) shows up here as a long round trip.
    """
    app = pilot.app
    base = app.screen
    times: list[float] = []
    for _ in range(samples):
        start = time.perf_counter()
        _send_key(app, "question_mark", "?")
        await _wait_screen(app, lambda: type(app.screen).__name__ == "HelpScreen", start)
        times.append(time.perf_counter() - start)
        await asyncio.sleep(0.03)
        start = time.perf_counter()
        _send_key(app, "escape", "\x1b")
        await _wait_screen(app, lambda: app.screen is base, start)
        times.append(time.perf_counter() - start)
        await asyncio.sleep(0.03)
    return times


async def assert_responsive(pilot: Any, samples: int = 10, rounds: int = 3) -> None:
    """The issue's bar: keypress round trips under 200 ms during the fault (p90 of 10).

    The CI machine has two cores shared with dockerd, sshd and the lab's containers, so a
    single sample can be late because this process was simply not scheduled. A console that
    blocks its own event loop is slow in every round; the scheduler's noise is not. So a
    round of ``samples`` keypresses passes when its 90th percentile is under budget, and a
    failing round is measured again up to ``rounds`` times before the test fails.
    """
    report = []
    for _ in range(rounds):
        times = sorted(await key_round_trips(pilot, samples // 2))
        p90 = times[max(0, int(len(times) * 0.9) - 1)]
        if p90 < KEY_BUDGET_S:
            return
        report.append(f"p90 {p90 * 1000:.0f} ms, median {statistics.median(times) * 1000:.0f} "
                      f"ms, samples {[round(t * 1000) for t in times]}")
        await asyncio.sleep(0.5)
    raise AssertionError("keypress round trip too slow during the fault, every round: "
                         + "; ".join(report))


def screen_text(app: Any) -> str:
    """What the terminal shows right now, as plain text (the screenshot's own pipeline)."""
    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def screenshot_text(app: Any) -> str:
    """The text nodes of ``app.export_screenshot()`` (the SVG an operator would share)."""
    svg = app.export_screenshot()
    return html.unescape(_TAG.sub("", svg.split("</style>", 1)[-1])).replace("\xa0", " ")


def notification_texts(app: Any) -> list[str]:
    """Every toast shown so far (their text may hold server-sent strings)."""
    return [str(n.message) for n in list(app._notifications)]


def assert_no_traceback(app: Any) -> None:
    """No Python traceback on the screen or in a toast, and the app did not crash."""
    shown = screen_text(app) + screenshot_text(app)
    for marker in ("Traceback", "File \"/", "most recent call last"):
        assert marker not in shown, f"{marker!r} reached the screen:\n{shown}"
        for toast in notification_texts(app):
            assert marker not in toast, f"{marker!r} reached a notification: {toast}"
    assert getattr(app, "_exception", None) is None, f"app crashed: {app._exception!r}"


def write_config(path: Path, body: str) -> Path:
    """A config file for one fault (its own servers, never the lab's crm projects)."""
    path.write_text(body)
    return path


@pytest.fixture
def audit_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the default audit log of a test config out of the real home directory."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


class FaultHTTPServer:
    """A local HTTP server whose paths misbehave on demand, then heal when told to.

    Paths: ``/forever-slow`` (200, a chunked body that gains a chunk every 50 ms and never
    ends), ``/forever-fast`` (200, a chunked body as fast as the socket takes it, never
    ends), ``/trickle`` (a complete, valid answer sent one byte every 40 ms). Setting
    ``healthy = True`` makes every path answer a normal ``{"status": "ok"}`` at once, which
    is how a test checks recovery. ``open_connections`` counts sockets still held open, so
    a console that never lets go of a stuck endpoint is caught.
    """

    OK_BODY = b'{"status": "ok"}'

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.healthy = False
        self.open_connections = 0
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            if hasattr(self._server, "close_clients"):
                self._server.close_clients()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1].decode("ascii", "replace")
            self.requests.append(path)
            if self.healthy:
                await self._ok(writer)
            elif path == "/forever-slow":
                await self._forever(writer, b"x" * 16, 0.05)
            elif path == "/forever-fast":
                await self._forever(writer, b"y" * 4096, 0)
            elif path == "/trickle":
                await self._trickle(writer)
            else:
                await self._ok(writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client hung up: exactly what a deadline should do
        except asyncio.CancelledError:
            pass  # the test's loop is shutting down with a forever-stream still open
        finally:
            self.open_connections -= 1
            writer.close()

    async def _ok(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(self.OK_BODY), self.OK_BODY))
        await writer.drain()

    async def _forever(self, writer: asyncio.StreamWriter, chunk: bytes, pause: float) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        while not self.healthy:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            await asyncio.sleep(pause)

    async def _trickle(self, writer: asyncio.StreamWriter) -> None:
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(self.OK_BODY), self.OK_BODY))
        for i in range(len(answer)):
            writer.write(answer[i:i + 1])
            await writer.drain()
            await asyncio.sleep(0.04)
