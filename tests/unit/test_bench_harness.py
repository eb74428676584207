"""The benchmark harness's bookkeeping: verdicts, figure inference, errors, results file.

No timing here: these check that a figure is judged against the right target in the right
direction, that a failing benchmark becomes ERROR without stopping the others, and that
``--only`` keeps the other entries of ``latest.json``.
"""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest

from bench import figure, run_all, verdict


@pytest.mark.parametrize(("value", "op", "target", "expected"), [
    (1.9, "<=", 2.0, "PASS"),
    (2.0, "<=", 2.0, "PASS"),
    (2.01, "<=", 2.0, "MISS"),
    (1.0, "<", 1.0, "MISS"),
    (0.99, "<", 1.0, "PASS"),
    (0.25, ">=", 0.25, "PASS"),
    (0.24, ">=", 0.25, "MISS"),
    (0.3, ">", 0.3, "MISS"),
    (None, "<=", 1.0, "INFO"),
    (5.0, "<=", None, "INFO"),
])
def test_verdict(value, op, target, expected):
    assert verdict(value, op, target) == expected


def test_verdict_rejects_unknown_comparison():
    with pytest.raises(ValueError):
        verdict(1.0, "=~", 1.0)


def test_figure_carries_its_verdict_and_baseline():
    fig = figure("fill 50/1", 2.4, "x", target=2.0, baseline=1.1, baseline_label="1 server")
    assert fig["verdict"] == "MISS"
    assert fig["baseline"] == 1.1 and fig["baseline_label"] == "1 server"


def test_explicit_figures_are_rejudged():
    """A module's own verdict string is not trusted: the harness recomputes it."""
    raw = {"figures": [dict(figure("x", 3.0, "s", target=1.0), verdict="PASS")]}
    (fig,) = run_all.infer_figures(raw)
    assert fig["verdict"] == "MISS"


def test_infer_flat_keys_like_bench_health():
    raw = {"slowest_single_probe_ms": 300.0, "cycle_cold_ratio": 1.2,
           "cycle_warm_ratio": 1.7, "cycle_target_ratio": 1.5,
           "idle_cpu_baseline_pct": 0.1, "idle_cpu_pct": 0.5, "idle_cpu_target_pct": 2.0,
           "endpoints": 200, "ok": False}
    figs = {f["name"]: f for f in run_all.infer_figures(raw)}
    assert figs["cycle_cold_ratio"]["verdict"] == "PASS"
    assert figs["cycle_warm_ratio"]["verdict"] == "MISS"
    assert figs["cycle_warm_ratio"]["baseline_label"] == "slowest_single_probe_ms"
    assert figs["idle_cpu_pct"]["op"] == "<"
    assert figs["idle_cpu_pct"]["baseline_label"] == "idle_cpu_baseline_pct"
    assert "endpoints" not in figs
    assert figs["module's own verdict (ok)"]["verdict"] == "MISS"


def test_infer_at_least_targets():
    raw = {"grep_lines_per_s": 4e6, "match_lines_per_s": 1.5e6,
           "match_target_min_ratio": 0.25, "match_speed_ratio": 0.375}
    figs = {f["name"]: f for f in run_all.infer_figures(raw)}
    assert figs["match_speed_ratio"]["op"] == ">="
    assert figs["match_speed_ratio"]["verdict"] == "PASS"


def test_target_without_a_figure_is_shown_not_dropped():
    figs = run_all.infer_figures({"rss_target_mb": 150.0})
    assert figs[0]["value"] is None and "no figure" in figs[0]["note"]


def test_summary_and_table_show_errors():
    results = {
        "bench_a": {"status": "ok", "figures": [figure("a", 1.0, "s", target=2.0),
                                                figure("b", 3.0, "s", target=2.0)]},
        "bench_b": {"status": "error", "error": "RuntimeError: boom", "figures": []},
    }
    assert run_all.summarize(results) == {"PASS": 1, "MISS": 1, "INFO": 0, "ERROR": 1}
    text = run_all.table(results)
    assert "ERROR: RuntimeError: boom" in text
    assert "MISS" in text and "PASS" in text


def test_select_accepts_short_names_and_rejects_unknown():
    names = ["bench_fanout", "bench_startup"]
    assert run_all.select(names, ["startup"]) == ["bench_startup"]
    assert run_all.select(names, None) == names
    with pytest.raises(SystemExit):
        run_all.select(names, ["nope"])


def test_discover_finds_bench_modules(tmp_path):
    for name in ("bench_b.py", "bench_a.py", "helper.py"):
        (tmp_path / name).write_text("")
    assert run_all.discover(tmp_path) == ["bench_a", "bench_b"]


def test_call_run_passes_quick_only_when_accepted():
    with_quick = types.ModuleType("m1")
    with_quick.run = lambda quick=False: {"quick": quick}
    without = types.ModuleType("m2")
    without.run = lambda: {"plain": True}
    assert run_all.call_run(with_quick, True) == {"quick": True}
    assert run_all.call_run(without, True) == {"plain": True}
    broken = types.ModuleType("m3")
    broken.run = lambda: [1, 2]
    with pytest.raises(TypeError):
        run_all.call_run(broken, False)


def test_child_writes_error_instead_of_crashing(tmp_path, monkeypatch):
    module = types.ModuleType("bench.bench_fake_failing")

    def run() -> dict:
        raise RuntimeError("no lab")

    module.run = run
    monkeypatch.setitem(sys.modules, "bench.bench_fake_failing", module)
    out = tmp_path / "out.json"
    run_all.child_main("bench_fake_failing", out, quick=True)
    payload = json.loads(out.read_text())
    assert payload == {"status": "error", "error": "RuntimeError: no lab"}


def test_only_merges_into_existing_results(tmp_path: Path):
    path = tmp_path / "latest.json"
    run_all.write_results({"bench_a": {"status": "ok", "figures": []}}, False, False, path)
    run_all.write_results({"bench_b": {"status": "error", "error": "x", "figures": []}},
                          True, True, path)
    doc = json.loads(path.read_text())
    assert set(doc["benchmarks"]) == {"bench_a", "bench_b"}
    assert doc["summary"]["ERROR"] == 1
    run_all.write_results({"bench_c": {"status": "ok", "figures": []}}, False, False, path)
    assert set(json.loads(path.read_text())["benchmarks"]) == {"bench_c"}


def test_stale_tmux_sessions_are_those_of_dead_runs():
    from bench.bench_idle import stale_sessions

    names = ["bench-100-0", "bench-200-3", "bench-x-1", "other", "bench-300-1"]
    alive = {200}.__contains__
    assert stale_sessions(names, alive) == ["bench-100-0", "bench-300-1"]


def test_stale_fleet_dirs_skip_live_owners(tmp_path: Path):
    import subprocess

    from bench import fleet50

    dead = subprocess.Popen(["true"])
    dead.wait()
    for name, owner in (("ops-bench-fleet-live", os.getppid()),
                        ("ops-bench-fleet-dead", dead.pid),
                        ("ops-bench-fleet-mine", os.getpid()),
                        ("ops-bench-fleet-noowner", None),
                        ("unrelated", dead.pid)):
        (tmp_path / name).mkdir()
        if owner is not None:
            (tmp_path / name / fleet50.OWNER_FILE).write_text(str(owner))
    stale = [p.name for p in fleet50.stale_fleet_dirs(tmp_path)]
    assert stale == ["ops-bench-fleet-dead", "ops-bench-fleet-noowner"]


def test_reap_stale_removes_dead_fleet_dirs_only(tmp_path: Path):
    from bench import fleet50

    (tmp_path / "ops-bench-fleet-gone").mkdir()
    (tmp_path / "ops-bench-fleet-ours").mkdir()
    (tmp_path / "ops-bench-fleet-ours" / fleet50.OWNER_FILE).write_text(str(os.getpid()))
    fleet50.reap_stale(tmp_path)  # no sshd names these dirs: nothing is signalled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ops-bench-fleet-ours"]


def test_proc_cpu_counts_this_process_and_not_the_dead():
    import time

    from bench.fleet50 import proc_cpu

    before = proc_cpu(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert proc_cpu(os.getpid()) > before
    assert proc_cpu(2 ** 22 + 12345) == 0.0


def test_interrupted_run_stops_the_child_group(monkeypatch):
    """Ctrl-C (or SIGTERM) on bench/run must not leave a benchmark and its sshd running."""
    import signal

    signalled: list[tuple[int, int]] = []

    class FakeChild:
        pid = 4242
        returncode = None

        def __init__(self, *args, **kwargs) -> None:
            self.waits = 0

        def wait(self, timeout=None):
            self.waits += 1
            if self.waits == 1:
                raise KeyboardInterrupt
            return 0

    monkeypatch.setattr(run_all.subprocess, "Popen", FakeChild)
    monkeypatch.setattr(run_all.os, "killpg", lambda pid, sig: signalled.append((pid, sig)))
    with pytest.raises(KeyboardInterrupt):
        run_all.run_child("bench_fake", quick=True, timeout=60)
    assert signalled == [(4242, signal.SIGTERM)]
