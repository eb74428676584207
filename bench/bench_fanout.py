"""Benchmark: 50 SSH servers. Time until every containers pane is filled, and RSS.

A fleet of 50 real sshd on 127.0.0.1:2400-2449 (``bench.fleet50``), each reaching this
machine's Docker socket over its SSH connection, like 50 deploy hosts.

- **fill**: the engine as the app runs it (one ``Host`` per server from ``make_host``, the
  ``ContainerService`` following each) from a cold start (no connection open) until every
  server's state is ``ok`` with its containers listed. Baseline, same run and same process:
  the same for one server of the fleet alone. Target: 50 servers <= 2x one server.
- **vs ssh loop**: the same 50 servers fetched by a sequential loop of OpenSSH
  ``ssh -p PORT root@127.0.0.1 docker ps`` (same key, same known_hosts), for reference.
- **RSS**: the real ``ops-console`` with the 50-server config, in a tmux pty, after it has
  settled. Target: under 250 MB. Baseline: the same app with one server of the fleet.

    python -m bench.bench_fanout
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import figure, is_quick
from bench.bench_idle import TmuxApp, console_argv
from bench.fleet50 import Fleet50

SERVERS = 50
FILL_TARGET_RATIO = 2.0
RSS_TARGET_MB = 250.0
FILL_TIMEOUT_S = 90.0
RSS_SETTLE_S = 20.0
QUICK_RSS_SETTLE_S = 12.0


async def fill_time(config_path: Path) -> float:
    """Seconds from nothing connected to every server's containers listed."""
    from console.config import load_config
    from console.engine.containers import ContainerService
    from console.engine.hosts import make_host

    config = load_config(config_path)
    hosts = {server.name: make_host(server) for server in config.servers}
    service = ContainerService(config, hosts)
    filled = asyncio.Event()

    def check(_server: str) -> None:
        snap = service.snapshot()
        if all(s.state == "ok" and s.containers for s in snap.values()):
            filled.set()

    service.subscribe(check)
    started = time.perf_counter()
    try:
        for host in hosts.values():
            await host.start()
        await service.start()
        await asyncio.wait_for(filled.wait(), FILL_TIMEOUT_S)
        return time.perf_counter() - started
    except TimeoutError:
        snap = service.snapshot()
        bad = [f"{n}: {s.state} {s.error}" for n, s in snap.items() if s.state != "ok"]
        raise TimeoutError(f"{len(bad)} servers not filled after {FILL_TIMEOUT_S:.0f} s, "
                           f"e.g. {bad[:2]}") from None
    finally:
        await service.stop()
        await asyncio.gather(*(h.close() for h in hosts.values()), return_exceptions=True)


def ssh_loop(fleet: Fleet50) -> float:
    """Wall seconds of a sequential ``ssh ... docker ps`` over every server of the fleet."""
    started = time.perf_counter()
    for port in fleet.ports:
        proc = subprocess.run(fleet.ssh_argv(port, "docker", "ps"), capture_output=True,
                              text=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"ssh to port {port} failed: {proc.stderr.strip()[:200]}")
    return time.perf_counter() - started


def app_memory(fleet: Fleet50, settle: float) -> tuple[dict[str, float], dict[str, float],
                                                      float, float]:
    """RSS of the real app with the whole fleet, and with one server (run side by side).

    Also the CPU share of each over the last third of the settle time (information).
    """
    one = fleet.write_config(1, fleet.dir / "one.toml")
    env = {"TERM": "xterm-256color"}
    with TmuxApp(console_argv(fleet.config_path), env=env) as big, \
            TmuxApp(console_argv(one), env=env) as small:
        big.wait_for(["s00", "s01"], timeout=60)
        small.wait_for(["s00"], timeout=60)
        time.sleep(settle * 2 / 3)
        before = (big.cpu_seconds(), small.cpu_seconds())
        time.sleep(settle / 3)
        big_cpu = 100 * (big.cpu_seconds() - before[0]) / (settle / 3)
        small_cpu = 100 * (small.cpu_seconds() - before[1]) / (settle / 3)
        if not big.alive():
            raise RuntimeError("the console with 50 servers exited")
        return big.memory_mb(), small.memory_mb(), big_cpu, small_cpu


def run(quick: bool | None = None) -> dict[str, Any]:
    quick = is_quick() if quick is None else quick
    repeats = 1 if quick else 2
    started = time.perf_counter()
    with Fleet50(SERVERS) as fleet:
        up_s = time.perf_counter() - started
        one = fleet.write_config(1, fleet.dir / "one.toml")
        asyncio.run(fill_time(one))  # warm-up: lazy imports, docker SDK; not counted
        singles = [asyncio.run(fill_time(one)) for _ in range(3)]
        fleets = [asyncio.run(fill_time(fleet.config_path)) for _ in range(repeats)]
        loop_s = ssh_loop(fleet)
        big, small, big_cpu, small_cpu = app_memory(
            fleet, QUICK_RSS_SETTLE_S if quick else RSS_SETTLE_S)
    single, many = statistics.median(singles), statistics.median(fleets)
    return {
        "figures": [
            figure(f"containers filled, {SERVERS} servers / 1 server", round(many / single, 3),
                   "x", target=FILL_TARGET_RATIO, op="<=", baseline=round(single, 3),
                   baseline_label="1 server, s",
                   note=f"{SERVERS} servers in {many:.2f} s"),
            figure(f"containers filled, {SERVERS} servers / sequential ssh docker ps",
                   round(many / loop_s, 3), "x", baseline=round(loop_s, 2),
                   baseline_label="ssh loop, s"),
            figure(f"RSS, {SERVERS} servers", round(big.get("VmRSS", 0), 1), "MB",
                   target=RSS_TARGET_MB, op="<", baseline=round(small.get("VmRSS", 0), 1),
                   baseline_label="1 server, MB", note=f"peak {big.get('VmHWM', 0):.0f} MB"),
            figure(f"CPU after settling, {SERVERS} servers", round(big_cpu, 2), "% core",
                   baseline=round(small_cpu, 2), baseline_label="1 server, %",
                   note=f"over {(QUICK_RSS_SETTLE_S if quick else RSS_SETTLE_S) / 3:.0f} s"),
        ],
        "fleet_up_s": round(up_s, 2),
        "single_fill_s": [round(s, 3) for s in singles],
        "fleet_fill_s": [round(s, 3) for s in fleets],
        "ssh_loop_s": round(loop_s, 2),
        "rss_mb": {"fleet": big, "one": small},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
