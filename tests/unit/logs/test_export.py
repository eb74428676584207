"""Export: redacted again, escaped, private."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime

from console.engine.logs import export_lines
from console.models import LogLine, Severity


def test_export_is_redacted_escaped_and_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    when = datetime(2026, 11, 24, 12, tzinfo=UTC)
    lines = [LogLine("alpha", "crm-backend-1", when, "password=hunter2 \x1b]52;c;x\x07 [b]",
                     "failed_login", Severity.WARNING, 1),
             LogLine("alpha", "/var/log/x", when, "plain", None, None, 2)]
    target = tmp_path / "sub" / "out.log"
    assert export_lines(lines, target) == 2
    text = target.read_text()
    assert "hunter2" not in text and "\x1b" not in text and "\x07" not in text
    assert "\\x1b]52;c;x\\x07 [b]" in text
    assert text.splitlines()[0].startswith(
        "2026-11-24T12:00:00.000000Z alpha crm-backend-1 [failed_login] password=[redacted]")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
