"""Benchmarks for ops-console; not run by pytest. ``bench/run`` runs them all.

Every ``bench/bench_*.py`` module exposes ``run() -> dict`` (optionally ``run(quick=...)``).
The harness (``bench.run_all``) prints each figure with its baseline, target and verdict.

Why a shared figure shape: a number alone says nothing on a 2-core deploy host versus a
laptop, so each figure carries the baseline measured *in the same run* and the target it is
judged against. A module may return ``{"figures": [figure(...), ...], ...}``; for modules
that return flat keys (``cycle_warm_ratio`` next to ``cycle_target_ratio``) the harness
infers the figures (see ``bench.run_all.infer_figures``).
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
