"""Times the lab tests measure as they pass (an incident's time to finding), printed at the
end of the run so a CI log carries them, not only the failures' output."""

from __future__ import annotations

TIMES: dict[str, list[float]] = {}


def record(name: str, seconds: float) -> None:
    TIMES.setdefault(name, []).append(seconds)


def summary() -> list[str]:
    """One line per name, its times in the order measured."""
    return [f"time-to-finding {name}: " + ", ".join(f"{t:.1f} s" for t in times)
            for name, times in sorted(TIMES.items())]
