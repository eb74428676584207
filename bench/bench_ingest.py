"""Benchmark (b): end-to-end ingest of a 500k-line container log, with the pane on screen.

A throwaway lab container (``ops-lab-busybox:1``) writes 500,000 numbered auth-event lines
to its log, then idles. Baseline, same run, same container: ``docker logs <c> 2>&1 | grep -c
'Login failed'`` (the shell pipeline an operator would type). Measured: the console's
engine and logs pane - a ``LogService`` over a ``LocalHost`` and the ``ContainerService``,
the ``LogsPane`` mounted in a headless Textual app showing every line - from the service's
start until all 500,000 lines are ingested (read through the Docker API, decoded,
classified, redacted, buffered, delivered to the pane in batches).

While the flood is ingested, keys are pressed in the pane (cursor up/down) and the time
from the key to the screen's next refresh is measured: the key event goes to the driver
the way a terminal's would (``pilot.press`` is not used: it waits until the whole process
looks idle, which a flood never lets it, so it would time the harness), and the sample
ends when the compositor redraws the row the cursor moved to.

Figures: ingest speed as a ratio of the baseline's time (target >= 0.9), and keypress
latency p95 during the flood (target < 100 ms).

    python -m bench.bench_ingest [--lines N]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import subprocess
import time
from typing import Any

from bench import figure, is_quick

LINES = 500_000
QUICK_LINES = 50_000
IMAGE = "ops-lab-busybox:1"


def start_flood(client: Any, lines: int) -> Any:
    script = (f'i=1; while [ $i -le {lines} ]; do echo "flood line $i/{lines} tag=bench '
              f'[AUTH] Login failed: invalid password for u$i@example.com"; i=$((i+1)); '
              "done; sleep 3600")
    name = f"ops-bench-flood-{secrets.token_hex(3)}"
    return client.containers.run(IMAGE, ["sh", "-c", script], name=name, detach=True,
                                 network_mode="none", labels={"ops-bench": "ingest"})


def wait_written(container: Any, lines: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    last = f"flood line {lines}/{lines} ".encode()
    while time.monotonic() < deadline:
        if last in container.logs(tail=1):
            return
        time.sleep(0.5)
    raise RuntimeError("the flood container did not finish writing in time")


def time_docker_logs(name: str) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(f"docker logs {name} 2>&1 | grep -c 'Login failed'", shell=True,
                          capture_output=True, text=True, check=False)
    return time.perf_counter() - start, int(proc.stdout.strip() or 0)


async def time_console(name: str, lines: int) -> dict[str, Any]:
    from textual.app import App, ComposeResult

    from console.config import Config, ConsoleSettings, LogsConfig, ServerConfig
    from console.engine.containers import ContainerService
    from console.engine.hosts import make_host
    from console.engine.logs import LogService
    from console.ui.widgets.logs_pane import LogsPane, LogView

    server = ServerConfig(name="local", logs=LogsConfig(containers=(name,)))
    config = Config(ConsoleSettings(), (server,))

    class Fleet:
        def __init__(self) -> None:
            self.config = config
            self.hosts = {"local": make_host(server)}
            self.containers = ContainerService(config, self.hosts)
            self.logs = LogService(config, self.hosts, containers=self.containers,
                                   initial_tail=None, initial_window_s=7 * 86400)

    fleet = Fleet()

    class BenchApp(App[None]):
        def compose(self) -> ComposeResult:
            yield LogsPane(fleet)

    app = BenchApp()
    latencies: list[float] = []
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.query_one(LogsPane)
        pane.show_all = True
        view = app.query_one(LogView)
        await pilot.pause()
        for host in fleet.hosts.values():
            await host.start()
        start = time.perf_counter()
        await fleet.containers.start()
        await fleet.logs.start()

        def ingested() -> int:
            return sum(s.lines for s in fleet.logs.sources())

        view.focus()
        probe = KeyProbe(app, view)
        key = "up"
        while ingested() < lines and time.perf_counter() - start < 600:
            if not view.lines:  # nothing on screen yet: a cursor key has nothing to move
                await asyncio.sleep(0.01)
                continue
            latency = await probe.press(key)
            latencies.append(latency if latency is not None else 5.0)  # a lost key counts
            key = "down" if key == "up" else "up"
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - start
        probe.close()
        await pilot.pause(0.3)
        shown = len(view.lines)
        skipped = pane.skipped
        events = fleet.logs.rule_counts(7 * 86400).get("failed_login", 0)
        await fleet.logs.stop()
        await fleet.containers.stop()
        for host in fleet.hosts.values():
            await host.close()
    return {"seconds": elapsed, "ingested": ingested(), "events": events, "shown": shown,
            "skipped_in_pane": skipped, "latencies": latencies}


class KeyProbe:
    """Keypress-to-screen latency on a ``LogView``.

    ``press`` hands a Key event to the app's driver (as a terminal would) and waits until
    the compositor has drawn the cursor's row after the key's action ran; the view's own
    ``render_line`` is wrapped to see that draw. Returns seconds, or None after 5 s.
    """

    def __init__(self, app: Any, view: Any) -> None:
        self.app = app
        self.view = view
        self._original = view.render_line
        self._acted_at: float | None = None
        self._drawn_at: float | None = None
        self._action = view.action_cursor
        view.render_line = self._render_line
        view.action_cursor = self._action_cursor

    def _action_cursor(self, delta: int) -> None:
        self._action(delta)
        self._acted_at = time.perf_counter()

    def _render_line(self, y: int) -> Any:
        strip = self._original(y)
        view = self.view
        if (self._acted_at is not None and self._drawn_at is None
                and view.cursor is not None and int(view.scroll_y) + y == view.cursor):
            self._drawn_at = time.perf_counter()
        return strip

    async def press(self, key: str) -> float | None:
        from textual import events

        self._acted_at = self._drawn_at = None
        event = events.Key(key, None)
        event.set_sender(self.app)
        pressed = time.perf_counter()
        self.app._driver.send_message(event)
        while self._drawn_at is None:
            await asyncio.sleep(0.001)
            if time.perf_counter() - pressed > 5.0:
                return None
        return self._drawn_at - pressed

    def close(self) -> None:
        del self.view.render_line
        del self.view.action_cursor


def p95(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) < 20:
        return max(values)
    return statistics.quantiles(values, n=20)[-1]


def run(lines: int | None = None) -> dict[str, Any]:
    import docker

    from tests.lab import ensure_lab

    lines = lines or (QUICK_LINES if is_quick() else LINES)
    ensure_lab()
    client = docker.from_env()
    container = start_flood(client, lines)
    try:
        wait_written(container, lines)
        base_s, base_count = min((time_docker_logs(container.name) for _ in range(2)),
                                 key=lambda r: r[0])
        ours = asyncio.run(time_console(container.name, lines))
    finally:
        container.remove(force=True)
    ratio = base_s / ours["seconds"] if ours["seconds"] else None
    latency = p95(ours["latencies"])
    note = (f"{lines:,} lines; ingested {ours['ingested']:,}, failed_login events "
            f"{ours['events']:,}, baseline counted {base_count:,}; pane kept "
            f"{ours['shown']:,}, announced {ours['skipped_in_pane']:,} skipped")
    return {
        "lines": lines,
        "docker_logs_grep_s": round(base_s, 3),
        "console_s": round(ours["seconds"], 3),
        "ingested": ours["ingested"],
        "events": ours["events"],
        "keypresses": len(ours["latencies"]),
        "keypress_p95_ms": round(latency * 1000, 1) if latency is not None else None,
        "figures": [
            figure("ingest vs docker logs | grep -c (speed ratio)",
                   round(ratio, 3) if ratio else None, "x", target=0.9, op=">=",
                   baseline=round(base_s, 3), baseline_label="docker logs | grep -c s",
                   note=note),
            figure("keypress-to-update p95 during the flood",
                   round(latency * 1000, 1) if latency is not None else None, "ms",
                   target=100.0, op="<",
                   note=f"{len(ours['latencies'])} keypresses, median "
                        f"{statistics.median(ours['latencies']) * 1000:.1f} ms"
                   if ours["latencies"] else "no keypress measured"),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=None)
    result = run(parser.parse_args().lines)
    for fig in result["figures"]:
        print(f"{fig['name']}: {fig['value']} {fig['unit']} (target {fig['op']} "
              f"{fig['target']}) -> {fig['verdict']}  [{fig['note']}]")
    print(f"docker logs | grep -c: {result['docker_logs_grep_s']} s; "
          f"console: {result['console_s']} s")


if __name__ == "__main__":
    main()
