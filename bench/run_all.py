"""Run every benchmark in ``bench/`` and print each figure against its baseline and target.

    bench/run                    # everything (under 15 minutes on a 2-core host)
    bench/run --quick            # shorter windows and fewer repeats
    bench/run --only startup     # one benchmark (repeatable; ``bench_`` prefix optional)
    bench/run --list             # what would run

Each ``bench/bench_*.py`` module with a ``run()`` runs in its own child process, so one that
crashes, hangs or leaks memory cannot spoil the figures of the next (RSS and idle-CPU
figures need a clean process anyway). A failing benchmark is printed as ERROR with its
reason and the others still run. Results go to ``bench/results/latest.json``; with
``--only`` the other entries already in that file are kept.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import figure, verdict

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "latest.json"
TOTAL_BUDGET_S = 14 * 60.0
"""The whole run must finish in 15 minutes; each child gets at most what is left of this."""
DEFAULT_TIMEOUT_S = 300.0
QUICK_TIMEOUT_S = 150.0
GRACE_S = 10.0
"""After SIGTERM a child gets this long to tear down what it started (sshd fleets, tmux)."""

BASELINE_WORDS = ("baseline", "alone", "single", "bare", "grep", "sequential", "docker_logs")
AT_LEAST_WORDS = ("min", "at_least", "speed", "throughput", "per_s", "lines_s", "rate")
QUALIFIERS = ("_min", "_max", "_at_least", "_at_most")
STRICT_WORDS = ("pct", "cpu", "rss", "_mb", "p95", "latency")


# --------------------------------------------------------------------------- discovery


def discover(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Module names ``bench_*`` in ``bench_dir`` (sorted); whether they define run() is
    checked when they run, so a module that fails to import is reported, not skipped."""
    return sorted(p.stem for p in bench_dir.glob("bench_*.py"))


def select(names: Sequence[str], only: Sequence[str] | None) -> list[str]:
    """``--only`` filter: ``startup`` and ``bench_startup`` both name bench_startup."""
    if not only:
        return list(names)
    wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in only}
    unknown = wanted - set(names)
    if unknown:
        raise SystemExit(f"bench/run: no such benchmark: {', '.join(sorted(unknown))} "
                         f"(have: {', '.join(n.removeprefix('bench_') for n in names)})")
    return [n for n in names if n in wanted]


# --------------------------------------------------------------------------- figures


def _numeric(raw: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in raw.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def _is_baseline(key: str) -> bool:
    return any(word in key for word in BASELINE_WORDS)


def guess_op(*keys: str) -> str:
    """Direction of a target named only by keys: "at least" for speeds, else "at most"."""
    text = " ".join(keys)
    if any(word in text for word in AT_LEAST_WORDS):
        return ">="
    if any(word in text for word in STRICT_WORDS):
        return "<"
    return "<="


def infer_figures(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures of a result dict.

    A ``figures`` list is taken as it is (verdicts recomputed). Otherwise every key holding
    ``_target`` (``cycle_target_ratio``) judges the keys that share its prefix and suffix
    (``cycle_cold_ratio``, ``cycle_warm_ratio``); the baseline is a baseline-like key with
    the same prefix, else one no other target claimed. The module's own ``ok`` is shown
    as a figure too, so a wrongly guessed direction cannot turn a miss into a pass.
    """
    if isinstance(raw.get("figures"), list):
        out = []
        for fig in raw["figures"]:
            fig = dict(fig)
            fig.setdefault("op", "<=")
            if fig.get("verdict") not in ("ERROR",):
                fig["verdict"] = verdict(fig.get("value"), fig["op"], fig.get("target"))
            out.append(fig)
        return out
    numbers = _numeric(raw)
    targets = [k for k in numbers if "_target" in k or k.startswith("target_")]
    baselines = [k for k in numbers if _is_baseline(k) and k not in targets]
    plan: list[tuple[str, str, str, list[str], str | None]] = []
    claimed: set[str] = set()
    for target in targets:
        prefix, _, suffix = target.partition("_target")
        if target.startswith("target_"):
            prefix, suffix = "", target.removeprefix("target")
        for qualifier in QUALIFIERS:  # cycle_target_max_ratio judges cycle_*_ratio
            if suffix.startswith(qualifier + "_"):
                suffix = suffix.removeprefix(qualifier)
        subjects = [k for k in numbers if k not in targets and not _is_baseline(k)
                    and k.startswith(prefix) and k.endswith(suffix)]
        base = next((b for b in baselines if prefix and b.startswith(prefix.split("_")[0])),
                    None)
        if base:
            claimed.add(base)
        plan.append((target, prefix, suffix, subjects, base))
    figures = []
    for target, _prefix, _suffix, subjects, base in plan:
        if base is None:
            free = [b for b in baselines if b not in claimed]
            base = free[0] if len(free) == 1 else None
        if not subjects:
            figures.append(figure(target, None, "", target=numbers[target],
                                  note="no figure found for this target"))
            continue
        for subject in subjects:
            figures.append(figure(subject, numbers[subject], _unit(subject),
                                  target=numbers[target], op=guess_op(target, subject),
                                  baseline=numbers.get(base) if base else None,
                                  baseline_label=base or ""))
    if isinstance(raw.get("ok"), bool):
        own = figure("module's own verdict (ok)", None, "")
        own["verdict"] = "PASS" if raw["ok"] else "MISS"
        figures.append(own)
    return figures


def _unit(key: str) -> str:
    for suffix, unit in (("_ratio", "x"), ("_pct", "%"), ("_ms", "ms"), ("_s", "s"),
                         ("_mb", "MB")):
        if key.endswith(suffix):
            return unit
    return ""


def summarize(results: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Counts of PASS / MISS / INFO figures and ERROR benchmarks."""
    counts = {"PASS": 0, "MISS": 0, "INFO": 0, "ERROR": 0}
    for entry in results.values():
        if entry["status"] != "ok":
            counts["ERROR"] += 1
            continue
        for fig in entry["figures"]:
            counts[fig["verdict"]] = counts.get(fig["verdict"], 0) + 1
    return counts


# --------------------------------------------------------------------------- printing


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip() if unit else text


def table(results: dict[str, dict[str, Any]]) -> str:
    """The printed table: one line per figure, ERROR lines for failed benchmarks."""
    rows = [("benchmark", "figure", "value", "baseline (same run)", "target", "verdict")]
    for name, entry in results.items():
        short = name.removeprefix("bench_")
        if entry["status"] != "ok":
            rows.append((short, "-", "-", "-", "-", f"ERROR: {entry['error']}"[:160]))
            continue
        for fig in entry["figures"]:
            unit = fig.get("unit", "")
            base = "-"
            if fig.get("baseline") is not None:
                label = fig.get("baseline_label") or ""
                base = f"{fmt(fig['baseline'])} ({label})" if label else fmt(fig["baseline"])
            target = "-" if fig.get("target") is None else f"{fig['op']} {fmt(fig['target'], unit)}"
            note = f"  [{fig['note']}]" if fig.get("note") else ""
            rows.append((short, fig["name"], fmt(fig.get("value"), unit), base, target,
                         fig["verdict"] + note))
    widths = [min(44, max(len(r[i]) for r in rows)) for i in range(5)]
    lines = []
    for i, row in enumerate(rows):
        cells = [row[c].ljust(widths[c]) for c in range(5)] + [row[5]]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths) + "  -------")
    return "\n".join(lines)


# --------------------------------------------------------------------------- running


def call_run(module: Any, quick: bool) -> dict[str, Any]:
    """``module.run()``, passing ``quick`` when its signature takes it."""
    run = getattr(module, "run", None)
    if not callable(run):
        raise TypeError(f"{module.__name__} has no run()")
    params = inspect.signature(run).parameters
    result = run(quick=quick) if "quick" in params else run()
    if not isinstance(result, dict):
        raise TypeError(f"run() returned {type(result).__name__}, expected dict")
    return result


def child_main(name: str, out: Path, quick: bool) -> int:
    """In the child process: run one benchmark, write its dict (or its error) to ``out``."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run finally: blocks on timeout
    try:
        module = importlib.import_module(f"bench.{name}")
        payload = {"status": "ok", "raw": call_run(module, quick)}
    except BaseException as exc:  # noqa: BLE001 - reported as ERROR by the parent
        payload = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        import traceback

        traceback.print_exc()
    out.write_text(json.dumps(payload, default=str))
    return 0


def run_child(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    """Run one benchmark in a child process and return its entry for the results file."""
    started = time.monotonic()
    with tempfile.NamedTemporaryFile(prefix=f"ops-{name}-", suffix=".json",
                                     delete=False) as handle:
        out = Path(handle.name)
    env = dict(os.environ, OPS_BENCH_QUICK="1" if quick else "0")
    argv = [sys.executable, "-m", "bench.run_all", "--child", name, "--out", str(out)]
    proc = subprocess.Popen(argv + (["--quick"] if quick else []), cwd=REPO, env=env,
                            start_new_session=True)
    error = None
    try:
        proc.wait(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        error = f"timed out after {timeout:.0f} s"
        _stop(proc)
    except KeyboardInterrupt:
        # the child is in its own session, so Ctrl-C reached only us: stop it (it tears
        # down its sshd fleet and tmux apps) before giving up, never leave it running
        _stop(proc)
        out.unlink(missing_ok=True)
        raise
    try:
        payload = json.loads(out.read_text()) if out.stat().st_size else {}
    except (OSError, ValueError):
        payload = {}
    finally:
        out.unlink(missing_ok=True)
    seconds = round(time.monotonic() - started, 1)
    if error or payload.get("status") != "ok":
        reason = error or payload.get("error") or f"exited {proc.returncode} without a result"
        return {"status": "error", "error": reason, "seconds": seconds, "figures": []}
    raw = payload["raw"]
    try:
        figures = infer_figures(raw)
    except Exception as exc:  # noqa: BLE001 - a malformed result is this bench's error
        return {"status": "error", "error": f"bad result: {exc}", "seconds": seconds,
                "figures": [], "raw": raw}
    return {"status": "ok", "seconds": seconds, "figures": figures,
            "raw": {k: v for k, v in raw.items() if k != "figures"}}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child's process group (it cleans up), SIGKILL it after a grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def write_results(results: dict[str, dict[str, Any]], quick: bool, merge: bool,
                  path: Path = RESULTS) -> Path:
    """Write ``latest.json``; with ``merge`` keep entries of benchmarks not run this time."""
    benchmarks: dict[str, Any] = {}
    if merge and path.exists():
        with contextlib.suppress(OSError, ValueError):
            benchmarks = json.loads(path.read_text()).get("benchmarks", {})
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, entry in results.items():
        benchmarks[name] = dict(entry, generated_at=stamp, quick=quick)
    document = {
        "generated_at": stamp,
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "summary": summarize({k: v for k, v in benchmarks.items()}),
        "benchmarks": benchmarks,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows, fewer repeats")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--output", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, args.out, args.quick)
    names = select(discover(), args.only)
    if args.list:
        print("\n".join(n.removeprefix("bench_") for n in names))
        return 0
    for signum in (signal.SIGTERM, signal.SIGHUP):  # `kill`, a closed terminal: as Ctrl-C,
        signal.signal(signum, _interrupt)          # so the running child is stopped too
    deadline = time.monotonic() + TOTAL_BUDGET_S
    per_bench = QUICK_TIMEOUT_S if args.quick else DEFAULT_TIMEOUT_S
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        left = deadline - time.monotonic()
        print(f"== {name.removeprefix('bench_')} "
              f"({'quick, ' if args.quick else ''}limit {min(per_bench, left):.0f} s)",
              flush=True)
        if left < 5:
            results[name] = {"status": "error", "error": "not run: the 15-minute budget is "
                             "used up", "seconds": 0.0, "figures": []}
            continue
        results[name] = run_child(name, args.quick, min(per_bench, left))
        print(f"   done in {results[name]['seconds']} s", flush=True)
    path = write_results(results, args.quick, merge=bool(args.only), path=args.output)
    print()
    print(table(results))
    counts = summarize(results)
    print(f"\n{counts['PASS']} pass, {counts['MISS']} miss, {counts['INFO']} info, "
          f"{counts['ERROR']} error; written to {path}")
    return 0 if counts["MISS"] == 0 and counts["ERROR"] == 0 else 1


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("\nbench/run: interrupted; the running benchmark was stopped, "
              "results not written", file=sys.stderr)
        raise SystemExit(130) from None
