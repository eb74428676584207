"""Benchmark: the fleet view over 500 blackbox targets, read from a real Prometheus.

A second Prometheus (port 19190, its own data dir) scrapes 500 blackbox probes of the lab's
target server (``/t/0`` .. ``/t/499``) through the lab's blackbox_exporter, every 5 s.

- **First full frame beyond the queries' own time.** Baseline: a bare script in a fresh
  process that makes the same requests with httpx (the four instant queries, the targets
  list and the alert list) and decodes them. Console: a fresh process running the real
  ``OpsConsoleApp`` (headless, 160x50) with only the ``[[prometheus]]`` block, until the
  frame drawn after the fleet pane lists all 500 targets. Both clocks start at spawn.
  Target: console - bare <= 1.0 s (medians).
- **RSS** of that console once filled: < 200 MB.
- **Idle CPU** of that console over 30 s (10 s with --quick) while it refreshes every scrape
  interval: < 1 % of a core. Baseline: the same window's CPU of the bare script's kind is
  not meaningful (it exits), so the figure stands alone against its target.

    python -m bench.bench_fleet_sources
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import figure, is_quick

REPO = Path(__file__).resolve().parent.parent
PORT = 19190
TARGETS = 500
SCRAPE_S = 5
BEYOND_TARGET_S = 1.0
RSS_TARGET_MB = 200.0
IDLE_TARGET_PCT = 1.0


def _probes() -> dict[str, tuple[str, str]]:
    from tests.lab.monitoring import TARGETS_HTTP_PORT

    return {f"http://127.0.0.1:{TARGETS_HTTP_PORT}/t/{i}": ("http_2xx", "ok")
            for i in range(TARGETS)}


class BenchPrometheus:
    """The 500-target Prometheus, started beside the lab's engines and stopped after."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ops-bench-prom-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{PORT}"

    def __enter__(self) -> BenchPrometheus:
        from tests.lab.monitoring import BINARIES, Monitoring, prometheus_yml

        Monitoring().up()  # targets server, blackbox_exporter, alertmanager
        rules = self.dir / "rules.yml"
        rules.write_text("groups: []\n")
        text = prometheus_yml(_probes(), rules).replace(
            "scrape_interval: 2s", f"scrape_interval: {SCRAPE_S}s").replace(
            "scrape_timeout: 2s", "scrape_timeout: 4s")
        (self.dir / "prometheus.yml").write_text(text)
        self.proc = subprocess.Popen(
            [BINARIES["prometheus"], f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{PORT}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._wait_scraped()
        return self

    def _wait_scraped(self, timeout: float = 90.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{self.url}/api/v1/query",
                                   params={"query": "count(probe_success)"}, timeout=2).json()
                result = answer["data"]["result"]
                if result and int(float(result[0]["value"][1])) >= TARGETS:
                    return
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the bench Prometheus did not scrape {TARGETS} targets in time")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        subprocess.run(["rm", "-rf", str(self.dir)], check=False)

    def config(self) -> Path:
        path = self.dir / "config.toml"
        path.write_text(f'[console]\naudit_log = "{self.dir / "audit.jsonl"}"\n\n'
                        f'[[prometheus]]\nname = "bench"\nurl = "{self.url}"\n'
                        f'alertmanager_url = "http://127.0.0.1:19093"\ntimeout = 10\n')
        return path


# --------------------------------------------------------------------------- children


def child_bare(url: str) -> None:
    """The same requests as one round of the console, with httpx alone."""
    import httpx

    from console.engine.fleet_sources.prometheus import QUERY_GROUPS

    async def main() -> int:
        async with httpx.AsyncClient(timeout=30) as client:
            requests = [client.get(f"{url}/api/v1/query", params={"query": group.expr()})
                        for group in QUERY_GROUPS]
            requests.append(client.get(f"{url}/api/v1/targets", params={"state": "active"}))
            requests.append(client.get("http://127.0.0.1:19093/api/v2/alerts"))
            answers = await asyncio.gather(*requests)
            return sum(len(json.dumps(a.json())) for a in answers)

    size = asyncio.run(main())
    print("RESULT " + json.dumps({"done_at": time.time(), "bytes": size}), flush=True)


def child_app(config_path: str, idle_s: float) -> None:
    from textual.widgets import DataTable

    from console.cli import tui_app
    from console.config import load_config

    app = tui_app(load_config(config_path))  # as ops-console starts it
    result: dict[str, Any] = {}

    def filled() -> bool:
        snap = app.fleet.fleet_sources.snapshot()
        table = app.query_one("#fleet-table", DataTable)
        return len(snap.targets) >= TARGETS and table.row_count >= TARGETS

    async def pilot_fn(pilot: Any) -> None:
        deadline = time.monotonic() + 60
        while not filled():
            if time.monotonic() > deadline:
                result["error"] = "the fleet pane did not list every target within 60 s"
                await app.action_quit()
                return
            await asyncio.sleep(0.01)
        frame: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        app.call_after_refresh(lambda: frame.done() or frame.set_result(time.time()))
        result["frame_at"] = await asyncio.wait_for(frame, 5)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(idle_s)
        result["idle_cpu_pct"] = 100 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
        result["rss_after_idle_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        await app.action_quit()

    app.run(headless=True, size=(160, 50), auto_pilot=pilot_fn)
    print("RESULT " + json.dumps(result), flush=True)


def _spawn(*args: str) -> tuple[float, dict[str, Any]]:
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "bench.bench_fleet_sources", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=150,
                          env={**os.environ, "NO_COLOR": "1"})
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"child {args[0]} failed (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    result = json.loads(line.removeprefix("RESULT "))
    if "error" in result:
        raise RuntimeError(result["error"])
    return started, result


def run(quick: bool | None = None) -> dict[str, Any]:
    quick = is_quick() if quick is None else quick
    repeats = 2 if quick else 3
    idle_s = 10.0 if quick else 30.0
    with BenchPrometheus() as prom:
        config = prom.config()
        _spawn("--child-bare", prom.url)  # warm-up: page cache, .pyc
        bares, consoles, results = [], [], []
        for i in range(repeats):
            started, bare = _spawn("--child-bare", prom.url)
            bares.append(bare["done_at"] - started)
            started, console = _spawn("--child-app", str(config),
                                      str(idle_s if i == 0 else 0.0))
            consoles.append(console["frame_at"] - started)
            results.append(console)
    bare, full = statistics.median(bares), statistics.median(consoles)
    first = results[0]
    return {
        "figures": [
            figure(f"fleet view, {TARGETS} targets: first full frame beyond the queries' time",
                   round(full - bare, 3), "s", target=BEYOND_TARGET_S, op="<=",
                   baseline=round(bare, 3), baseline_label="bare httpx queries, s",
                   note=f"console {full:.2f} s"),
            figure(f"fleet view, {TARGETS} targets: RSS", round(first["rss_after_idle_mb"], 1),
                   "MB", target=RSS_TARGET_MB, op="<"),
            figure(f"fleet view, {TARGETS} targets: idle CPU, refreshing every {SCRAPE_S} s",
                   round(first["idle_cpu_pct"], 3), "% of a core", target=IDLE_TARGET_PCT,
                   op="<", note=f"over {idle_s:.0f} s"),
        ],
        "bare_s": [round(x, 3) for x in bares],
        "console_s": [round(x, 3) for x in consoles],
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child-bare":
        child_bare(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "--child-app":
        child_app(sys.argv[2], float(sys.argv[3]))
    else:
        print(json.dumps(run(), indent=2))
