"""Benchmark (c): resident memory after 1M log lines ingested, with the pane on screen.

A headless Textual app shows the ``LogsPane`` over a ``LogService`` (default
``buffer_lines`` = 10,000 per source) in all-lines mode. 1,000,000 lines of a realistic mix
(5 % auth events; some long lines) are fed from a thread, spread over 4 sources, in
batches as the Docker readers bring them; every line goes through the whole pipeline (cut,
classified, redacted, ring-buffered, delivered to the pane). RSS is read from
``/proc/self/status`` after a full collection.

Baseline, same run: RSS of the same app with the pane mounted before any line. Target:
RSS after 1M lines under 150 MB. A second figure repeats the run with 100,000-line buffers
(a generous config), for information.

    python -m bench.bench_memory [--lines N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import threading
from typing import Any

from bench import figure, is_quick

LINES = 1_000_000
QUICK_LINES = 200_000
BATCH = 2_000
SOURCES = ("crm-backend-1", "crm-nginx-1", "crm-worker-1", "/var/log/nginx/error.log")


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for row in fh:
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
    return float("nan")


def make_lines(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        roll = rnd.random()
        if roll < 0.05:
            out.append(f"[AUTH] Login failed: invalid password for user{i}@example.com")
        elif roll < 0.06:
            out.append("x" * rnd.randint(2_000, 40_000))
        else:
            out.append(f'172.18.0.{i % 250} - - "GET /api/v1/items?page={i} HTTP/1.1" 200 '
                       f'{rnd.randint(100, 9000)} "-" "Mozilla/5.0"')
    return out


async def measure(lines: int, buffer_lines: int) -> dict[str, Any]:
    from types import SimpleNamespace

    from textual.app import App, ComposeResult

    from console.config import Config, ConsoleSettings, LogsConfig, ServerConfig
    from console.engine.logs import LogService
    from console.ui.widgets.logs import LogsPane

    class NoContainers:
        def subscribe(self, callback: Any) -> Any:
            return lambda: None

        def snapshot(self) -> dict[str, Any]:
            return {}

    server = ServerConfig(name="alpha", logs=LogsConfig(buffer_lines=buffer_lines))
    config = Config(ConsoleSettings(), (server,))
    fleet = SimpleNamespace(config=config, logs=LogService(
        config, {"alpha": SimpleNamespace()}, containers=NoContainers()))

    class MemApp(App[None]):
        def compose(self) -> ComposeResult:
            yield LogsPane(fleet)

    app = MemApp()
    async with app.run_test(size=(160, 40)) as pilot:
        await fleet.logs.start()
        app.query_one(LogsPane).show_all = True
        await pilot.pause(0.2)
        gc.collect()
        before = rss_mb()
        pool = make_lines(50_000, seed=7)

        def feeder() -> None:
            for start in range(0, lines, BATCH):
                # distinct strings, as a real stream brings them
                chunk = [f"{pool[(start + i) % len(pool)]} #{start + i}" for i in range(BATCH)]
                fleet.logs.feed("alpha", SOURCES[(start // BATCH) % len(SOURCES)], chunk)

        thread = threading.Thread(target=feeder)
        thread.start()
        while thread.is_alive():
            await pilot.pause(0.1)
        await pilot.pause(0.5)
        pool.clear()
        gc.collect()
        after = rss_mb()
        ingested = sum(s.lines for s in fleet.logs.sources())
        await fleet.logs.stop()
    return {"before_mb": round(before, 1), "after_mb": round(after, 1), "ingested": ingested}


def run(lines: int | None = None) -> dict[str, Any]:
    lines = lines or (QUICK_LINES if is_quick() else LINES)
    default = asyncio.run(measure(lines, 10_000))
    large = asyncio.run(measure(lines, 100_000))
    return {
        "lines": lines,
        "default": default,
        "large_buffers": large,
        "figures": [
            figure("RSS after 1M lines (buffer_lines 10,000)", default["after_mb"], "MB",
                   target=150.0, op="<", baseline=default["before_mb"],
                   baseline_label="RSS before any line",
                   note=f"{default['ingested']:,} lines ingested over {len(SOURCES)} sources"),
            figure("RSS after 1M lines (buffer_lines 100,000)", large["after_mb"], "MB",
                   baseline=large["before_mb"], baseline_label="RSS before any line",
                   note="information: a generous buffer config"),
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=None)
    result = run(parser.parse_args().lines)
    for fig in result["figures"]:
        print(f"{fig['name']}: {fig['value']} {fig['unit']} (before: {fig['baseline']} MB; "
              f"target {fig['op']} {fig['target']}) -> {fig['verdict']}  [{fig['note']}]")


if __name__ == "__main__":
    main()
