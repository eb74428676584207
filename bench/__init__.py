"""Benchmarks for ops-console; not run by pytest. ``bench/run`` runs them all.

The interface a benchmark module follows (the harness is ``bench.run_all``)
--------------------------------------------------------------------------
- It is a file ``bench/bench_<name>.py``; ``bench/run`` discovers every such file, and
  ``bench/run --only <name>`` runs one. Helper modules (``fleet50.py``) have no prefix.
- It defines ``run() -> dict`` or ``run(quick: bool = False) -> dict``. A ``run`` without a
  ``quick`` parameter reads ``is_quick()`` (``OPS_BENCH_QUICK=1`` under ``--quick``); any
  other parameters must have defaults.
- The dict holds ``"figures"``: a list of ``figure(...)`` dicts, one per printed line, each
  with its value, the baseline measured *in the same run*, the target and the comparison.
  Everything else in the dict is kept under ``raw`` in ``bench/results/latest.json``. A
  module that returns flat keys instead (``cycle_warm_ratio`` next to
  ``cycle_target_ratio``) still works: ``bench.run_all.infer_figures`` pairs them.
- Each ``run()`` is called in its own child process (``python -m bench.run_all --child
  bench_<name>``), so it may assume a fresh interpreter (RSS and CPU figures need one) and
  may crash: a raised exception becomes an ERROR line and the other benchmarks still run.
- On SIGTERM (the per-benchmark time limit, or Ctrl-C on ``bench/run``) the child exits
  through ``SystemExit``, so ``with``/``finally`` blocks run: tear down what you start
  there (containers, sshd, tmux sessions). After 10 s it is SIGKILLed.
- Time: the whole of ``bench/run`` must finish in 15 minutes on a 2-core host; a module
  gets at most 300 s (150 s with ``--quick``). Heavy runs are wrapped by the caller in
  ``flock /tmp/ops-bench.lock`` (shared host); modules do not take that lock themselves.

Why a shared figure shape: a number alone says nothing on a 2-core deploy host versus a
laptop, so each figure carries the baseline measured *in the same run* and the target it is
judged against. The harness recomputes every verdict, so a module cannot pass itself.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["OPS", "figure", "is_quick", "verdict"]

OPS = ("<=", "<", ">=", ">")


def verdict(value: float | None, op: str, target: float | None) -> str:
    """PASS or MISS for ``value op target``; INFO when there is no target to judge against."""
    if target is None or value is None:
        return "INFO"
    if op not in OPS:
        raise ValueError(f"unknown comparison {op!r}; expected one of {OPS}")
    ok = {"<=": value <= target, "<": value < target,
          ">=": value >= target, ">": value > target}[op]
    return "PASS" if ok else "MISS"


def figure(name: str, value: float | None, unit: str, *, target: float | None = None,
           op: str = "<=", baseline: float | None = None, baseline_label: str = "",
           note: str = "") -> dict[str, Any]:
    """One printed figure: its value, the same-run baseline it is compared with, its target.

    ``value`` is what the target applies to (often a ratio or a difference against
    ``baseline``); the baseline is shown so a reader can check the arithmetic.
    """
    return {"name": name, "value": value, "unit": unit, "target": target, "op": op,
            "baseline": baseline, "baseline_label": baseline_label, "note": note,
            "verdict": verdict(value, op, target)}


def is_quick() -> bool:
    """True under ``bench/run --quick`` (the harness sets ``OPS_BENCH_QUICK=1``)."""
    return os.environ.get("OPS_BENCH_QUICK", "") == "1"
