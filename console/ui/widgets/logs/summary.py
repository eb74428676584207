"""The logs pane's two summary lines, built from the log service's read side.

The counts line (top): auth events per rule in the last 15 minutes, busiest first, each in
its severity's colour. The status line (bottom): the mode, pause, filter and search, lines
the engine had to shed, and sources in trouble. Both are plain functions of what they are
given, so the pane only decides *when* to rebuild them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from re import Pattern
from typing import Protocol

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Sparkline, Static

from console.models import LogLine, Severity
from console.ui.safe_text import make_visible

__all__ = ["RuleCounts", "SourceLike", "StatusFacts", "StatusLine", "counts_text",
           "status_text", "troubled"]

SPARK_MINUTES = 30


class SourceLike(Protocol):
    """What the status line reads of one log source."""

    @property
    def server(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def detail(self) -> str: ...


def counts_text(counts: dict[str, int], recent_events: Sequence[LogLine],
                style_of: Callable[[Severity], Style]) -> Text:
    """``bad_gateway 3 · failed_login 1``; the severity of a rule is its latest event's."""
    text = Text(no_wrap=True, end="", overflow="ellipsis")
    if not counts:
        text.append("no auth events in the last 15 min", "dim")
    rules: dict[str | None, Severity | None] = {}
    for line in reversed(recent_events):
        rules.setdefault(line.rule, line.severity)
    for i, (rule, count) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
        if i:
            text.append(" · ", "dim")
        severity = rules.get(rule) or Severity.WARNING
        text.append(make_visible(rule, 40), style_of(severity))
        text.append(f" {count:,}")
    return text


def troubled(sources: Iterable[SourceLike]) -> list[str]:
    """The first three sources that are lost, failing or missing, in words."""
    out = []
    for src in sources:
        if src.state in ("lost", "error", "missing"):
            detail = f": {src.detail}" if src.detail else ""
            out.append(make_visible(f"{src.server}/{src.name} {src.state}{detail}", 160))
    return out[:3]


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """Everything the status line states."""

    show_all: bool
    paused: bool
    new_while_paused: int
    scrolled: bool
    filter: Pattern[str] | None
    search: Pattern[str] | None
    skipped: int
    shown: int
    wrap: bool
    trouble: tuple[str, ...] = ()


def status_text(facts: StatusFacts) -> tuple[Text, bool]:
    """The status line, and whether it is a warning (lines shed, a source in trouble)."""
    parts: list[str] = ["all lines" if facts.show_all else "auth events"]
    warn = False
    if facts.paused:
        parts.append(f"⏸ paused — {facts.new_while_paused:,} new")
    elif facts.scrolled:
        parts.append("scrolled (end: follow)")
    if facts.filter is not None:
        parts.append(f"filter /{make_visible(facts.filter.pattern, 60)}/")
    if facts.search is not None:
        parts.append(f"search /{make_visible(facts.search.pattern, 60)}/")
    if facts.skipped:
        parts.append(f"{facts.skipped:,} lines skipped")
        warn = True
    parts.append(f"{facts.shown:,} shown")
    if not facts.wrap:
        parts.append("no wrap (w)")
    for source in facts.trouble:
        parts.append(source)
        warn = True
    return Text(" · ".join(parts), no_wrap=True, overflow="ellipsis"), warn


class CountsSource(Protocol):
    """What the counts line reads of the log service."""

    def rule_counts(self, window_s: float = ..., /) -> dict[str, int]: ...

    def buffered(self, *, auth_only: bool = ...) -> Sequence[LogLine]: ...

    def rate_per_minute(self, minutes: int = ..., /) -> Sequence[int]: ...


class RuleCounts(Horizontal):
    """The top line: counts per rule, and a sparkline of auth events per minute."""

    def compose(self) -> ComposeResult:
        yield Static(id="logs-counts", markup=False)
        yield Sparkline([0], id="logs-spark")

    def show(self, service: CountsSource, window_s: float,
             style_of: Callable[[Severity], Style]) -> None:
        text = counts_text(service.rule_counts(window_s),
                           service.buffered(auth_only=True)[-500:], style_of)
        counts_line = self.query_one("#logs-counts", Static)
        if counts_line.content != text:  # unchanged: no repaint, no reflow (idle CPU)
            counts_line.update(text, layout=False)  # a fixed 1fr x 1 box: no reflow
        data = service.rate_per_minute(SPARK_MINUTES)
        spark = self.query_one(Sparkline)
        spark.data = [float(n) for n in data]
        spark.tooltip = f"auth events per minute, last {SPARK_MINUTES} min (now: {data[-1]})"


class StatusLine(Static):
    """The bottom line of the pane: ``status_text`` of the pane's facts."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)

    def show(self, facts: StatusFacts) -> None:
        line, warn = status_text(facts)
        if self.content != line:  # unchanged: no repaint, no reflow (idle CPU)
            self.update(line, layout=False)  # a fixed one-row box: no reflow
        self.set_class(warn, "-warn")
