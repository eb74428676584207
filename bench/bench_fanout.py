"""Benchmark: 50 SSH servers. Time until every containers pane is filled, and RSS.

A fleet of 50 real sshd on 127.0.0.1:2400-2449 (``bench.fleet50``), each reaching this
machine's Docker socket over its SSH connection, like 50 deploy hosts.

- **fill**: the engine as the app runs it (one ``Host`` per server from ``make_host``, the
  ``ContainerService`` following each) from a cold start (no connection open) until every
  server's state is ``ok`` with its containers listed. Baseline, same run and same process:
  the same for one server of the fleet alone. Target: 50 servers <= 2x one server.
- **vs ssh loop**: the same 50 servers fetched by a sequential loop of OpenSSH
  ``ssh -p PORT root@127.0.0.1 docker ps`` (same key, same known_hosts), for reference.
- **CPU floor** (information, the evidence for the fill figure): the CPU seconds that the
  console, the 50 sshd (with their sessions) and dockerd each used during the 50-server
  fill, summed and divided by the cores. Here the "servers" share this host's cores with
  the console, so a fill cannot beat that floor; on a real fleet their share runs elsewhere.
- **RSS**: the real ``ops-console`` with the 50-server config, in a tmux pty, after it has
  settled (45 s: the log backlog of 50 servers is ingested first). Target: under 250 MB.
  Baseline: the same app with one server of the fleet.

    python -m bench.bench_fanout
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import figure, is_quick
from bench.bench_idle import TmuxApp, console_argv
from bench.fleet50 import Fleet50, pids_named, proc_cpu

SERVERS = 50
FILL_TARGET_RATIO = 2.0
RSS_TARGET_MB = 250.0
FILL_TIMEOUT_S = 90.0
RSS_SETTLE_S = 45.0
QUICK_RSS_SETTLE_S = 30.0
"""Each of the 50 servers first pours its containers' log backlog into the console (the
log pane follows every container); CPU is high for ~30 s, then settles. The CPU figure
is the last third of this; RSS is read at its end, with every buffer full."""
Clocks = dict[str, Callable[[], float]]


def cpu_clocks(fleet: Fleet50) -> Clocks:
    """CPU-second clocks of everything a fill runs on this one machine: the console (this
    process, all threads), the 50 sshd with their sessions, and dockerd."""
    dockerds = pids_named("dockerd")
    return {"console": time.process_time,
            "sshd": fleet.cpu_seconds,
            "dockerd": lambda: sum(proc_cpu(pid) for pid in dockerds)}


async def fill_time(config_path: Path, clocks: Clocks | None = None
                    ) -> tuple[float, dict[str, float]]:
    """(seconds, CPU seconds per clock) from nothing connected to every server's
    containers listed. The CPU split is the evidence of where a fill's time goes: on a
    2-core box hosting all 50 "servers" too, their sshd and dockerd share the cores."""
    from console.config import load_config
    from console.engine.containers import ContainerService
    from console.engine.hosts import make_host

    clocks = clocks or {}
    config = load_config(config_path)
    hosts = {server.name: make_host(server) for server in config.servers}
    service = ContainerService(config, hosts)
    filled = asyncio.Event()

    def check(_change: object) -> None:
        snap = service.snapshot()
        if all(s.state == "ok" and s.containers for s in snap.values()):
            filled.set()

    service.subscribe(check)
    # the console's own clock is read innermost, so reading the others (a /proc walk)
    # is not billed to the console
    others = {name: clock for name, clock in clocks.items() if name != "console"}
    before = {name: clock() for name, clock in others.items()}
    before.update({name: clock() for name, clock in clocks.items() if name == "console"})
    started = time.perf_counter()
    try:
        for host in hosts.values():
            await host.start()
        await service.start()
        await asyncio.wait_for(filled.wait(), FILL_TIMEOUT_S)
        took = time.perf_counter() - started
        after = {name: clock() for name, clock in clocks.items() if name == "console"}
        after.update({name: clock() for name, clock in others.items()})
        return took, {name: after[name] - before[name] for name in clocks}
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
        clocks = cpu_clocks(fleet)
        asyncio.run(fill_time(one))  # warm-up: lazy imports, docker SDK; not counted
        singles = [asyncio.run(fill_time(one, clocks)) for _ in range(3)]
        fleets = [asyncio.run(fill_time(fleet.config_path, clocks)) for _ in range(repeats)]
        loop_s = ssh_loop(fleet)
        big, small, big_cpu, small_cpu = app_memory(
            fleet, QUICK_RSS_SETTLE_S if quick else RSS_SETTLE_S)
    single = statistics.median(t for t, _ in singles)
    many, cpu = sorted(fleets)[(len(fleets) - 1) // 2]  # the median run and its CPU split
    floor = sum(cpu.values()) / (os.cpu_count() or 1)
    split = ", ".join(f"{name} {seconds:.2f}" for name, seconds in cpu.items())
    return {
        "figures": [
            figure(f"containers filled, {SERVERS} servers / 1 server", round(many / single, 3),
                   "x", target=FILL_TARGET_RATIO, op="<=", baseline=round(single, 3),
                   baseline_label="1 server, s",
                   note=f"{SERVERS} servers in {many:.2f} s"),
            figure(f"containers filled, {SERVERS} servers / sequential ssh docker ps",
                   round(many / loop_s, 3), "x", baseline=round(loop_s, 2),
                   baseline_label="ssh loop, s"),
            figure(f"{SERVERS}-server fill / its CPU floor on this host",
                   round(many / floor, 2) if floor else None, "x", baseline=round(floor, 2),
                   baseline_label=f"CPU s / {os.cpu_count()} cores",
                   note=f"CPU s during the fill: {split}"),
            figure(f"console CPU per server during the {SERVERS}-server fill",
                   round(1000 * cpu["console"] / SERVERS, 1), "ms",
                   baseline=round(1000 * statistics.median(c["console"] for _, c in singles),
                                  1),
                   baseline_label="1 server alone, ms"),
            figure(f"RSS, {SERVERS} servers", round(big.get("VmRSS", 0), 1), "MB",
                   target=RSS_TARGET_MB, op="<", baseline=round(small.get("VmRSS", 0), 1),
                   baseline_label="1 server, MB", note=f"peak {big.get('VmHWM', 0):.0f} MB"),
            figure(f"CPU after settling, {SERVERS} servers", round(big_cpu, 2), "% core",
                   baseline=round(small_cpu, 2), baseline_label="1 server, %",
                   note=f"over {(QUICK_RSS_SETTLE_S if quick else RSS_SETTLE_S) / 3:.0f} s"),
        ],
        "fill_cpu_s": {name: round(v, 3) for name, v in cpu.items()},
        "fleet_up_s": round(up_s, 2),
        "single_fill_s": [round(t, 3) for t, _ in singles],
        "fleet_fill_s": [round(t, 3) for t, _ in fleets],
        "ssh_loop_s": round(loop_s, 2),
        "rss_mb": {"fleet": big, "one": small},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
