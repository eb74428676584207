"""Benchmark: 50 SSH servers set to ``connect = "on_demand"`` cost nothing at start-up.

- **Start-up with 50 on-demand servers.** The lab's config (two servers, connected at
  start) plus 50 real sshd on loopback (``bench/fleet50.py``) with ``connect =
  "on_demand"``, against the lab's config alone: process start to the first full frame
  (bench_startup's measure, which waits for the servers connected at start). Target: ratio
  <= 1.2 (medians).
- **Opening one on-demand server.** In that running console, ``Fleet.activate("s00")`` to
  the frame after s00's containers are listed in the containers pane; against a
  single-server start: a fresh process with a config of s00 alone (connected at start) to
  its first frame with the containers listed. Target: ratio <= 1.5.

    python -m bench.bench_on_demand
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import figure, is_quick
from bench.bench_startup import FILL_TIMEOUT_S, LAB_CONFIG, _next_frame, filled

REPO = Path(__file__).resolve().parent.parent
START_TARGET = 1.2
OPEN_TARGET = 1.5


def _containers_listed(app: Any, server: str) -> bool:
    part = app.fleet.containers.snapshot().servers.get(server)
    if part is None or part.state != "ok" or not part.containers:
        return False
    rows = "\n".join(" ".join(r) for r in app.pane("containers").row_texts())
    return all(c.name in rows for c in part.containers)


def child(config_path: str, mode: str) -> None:
    """``full``: time to the full frame, then (if s00 is on demand) time to open s00.
    ``single``: time to the frame with s00's containers listed."""
    from console.cli import tui_app
    from console.config import load_config

    app = tui_app(load_config(config_path))  # as ops-console starts it
    result: dict[str, Any] = {}

    async def until(predicate: Any) -> bool:
        deadline = time.monotonic() + FILL_TIMEOUT_S
        while not predicate():
            if time.monotonic() > deadline:
                return False
            # filled() renders the secrets pane to text: polled every 10 ms with 52
            # servers it took more CPU than the start-up it measures
            await asyncio.sleep(0.05)
        return True

    async def pilot_fn(pilot: Any) -> None:
        if mode == "single":
            ok = await until(lambda: _containers_listed(app, "s00"))
        else:
            ok = await until(lambda: all(v is not False for v in filled(app).values()))
        if not ok:
            result["error"] = f"{mode}: not filled within {FILL_TIMEOUT_S:.0f} s"
            await app.action_quit()
            return
        result["frame_at"] = await asyncio.wait_for(_next_frame(app), 5)
        if mode == "full" and "s00" in app.fleet.hosts:
            started = time.time()
            await app.fleet.activate("s00")
            if not await until(lambda: _containers_listed(app, "s00")):
                result["error"] = "s00 not listed after activation"
            else:
                result["open_s"] = await asyncio.wait_for(_next_frame(app), 5) - started
        await app.action_quit()

    app.run(headless=True, size=(160, 50), auto_pilot=pilot_fn)
    print("RESULT " + json.dumps(result), flush=True)


def _spawn(config: Path, mode: str) -> tuple[float, dict[str, Any]]:
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "bench.bench_on_demand", str(config), mode],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{mode} child failed (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    result = json.loads(line.removeprefix("RESULT "))
    if "error" in result:
        raise RuntimeError(result["error"])
    return result["frame_at"] - started, result


def _configs(fleet: Any) -> tuple[Path, Path]:
    lab = LAB_CONFIG.read_text()
    extra = []
    for name, port in zip(fleet.names, fleet.ports, strict=True):
        extra.append(f'\n[[servers]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\n'
                     f'user = "root"\nidentity_file = "{fleet.key}"\n'
                     f'known_hosts = "{fleet.known_hosts}"\nconnect = "on_demand"\n')
    with_fleet = fleet.dir / "lab-plus-50-on-demand.toml"
    with_fleet.write_text(lab + "".join(extra))
    single = fleet.write_config(count=1, path=fleet.dir / "single.toml")
    return with_fleet, single


def run(quick: bool | None = None) -> dict[str, Any]:
    from bench.fleet50 import Fleet50

    quick = is_quick() if quick is None else quick
    repeats = 2 if quick else 3
    if not LAB_CONFIG.exists():
        raise RuntimeError(f"no lab config at {LAB_CONFIG}: run `python -m tests.lab up`")
    with Fleet50(count=50) as fleet:
        with_fleet, single = _configs(fleet)
        _spawn(LAB_CONFIG, "full")  # warm-up
        lab_s, fleet_s, open_s, single_s = [], [], [], []
        for _ in range(repeats):  # alternate, so drift hits every kind alike
            lab_s.append(_spawn(LAB_CONFIG, "full")[0])
            took, result = _spawn(with_fleet, "full")
            fleet_s.append(took)
            open_s.append(result["open_s"])
            single_s.append(_spawn(single, "single")[0])
    lab, with_50 = statistics.median(lab_s), statistics.median(fleet_s)
    opened, alone = statistics.median(open_s), statistics.median(single_s)
    return {
        "figures": [
            figure("start-up with 50 on-demand SSH servers / without them",
                   round(with_50 / lab, 3), "x", target=START_TARGET, op="<=",
                   baseline=round(lab, 3), baseline_label="lab config alone, s",
                   note=f"with them {with_50:.2f} s"),
            figure("opening one on-demand server / a single-server start",
                   round(opened / alone, 3), "x", target=OPEN_TARGET, op="<=",
                   baseline=round(alone, 3), baseline_label="single-server start, s",
                   note=f"opening {opened:.2f} s"),
        ],
        "lab_s": lab_s, "with_fleet_s": fleet_s, "open_s": open_s, "single_s": single_s,
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[2] in ("full", "single"):
        child(sys.argv[1], sys.argv[2])
    else:
        print(json.dumps(run(), indent=2))
