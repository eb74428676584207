"""Export: lines written to a file an operator can ``cat``, redacted again on the way out."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path

from console.engine.logs.framing import MAX_LINE_BYTES
from console.engine.redact import redact
from console.models import LogLine
from console.textsafe import make_visible

__all__ = ["export_lines", "format_line"]


def format_line(line: LogLine) -> str:
    """One exported line: time, server, source, rule, then the text made printable."""
    rule = f"[{line.rule}]" if line.rule else "-"
    stamp = line.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    text = make_visible(redact(line.text), MAX_LINE_BYTES + 64)
    return f"{stamp} {line.server} {make_visible(line.source, 256)} {rule} {text}"


def export_lines(lines: Iterable[LogLine], path: str | os.PathLike[str]) -> int:
    """Write lines to ``path`` (created 0600: logs name people); returns how many.

    Redacted again on the way out and control characters escaped, so the file is safe to
    ``cat`` and holds no secret even if one slipped past ingest.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as out:
        for line in lines:
            out.write(format_line(line) + "\n")
            count += 1
    return count
