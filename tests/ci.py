"""Test helpers that need the machine: under CI nothing may pass by skipping."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def skip_or_fail(reason: str) -> None:
    """Skip locally, but fail under ``CI=true``: CI must never pass by skipping a fault."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A tiny tmpfs at ``mount_point`` (a real "no space left on device"), unmounted after."""
    mount_point.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        skip_or_fail("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           str(mount_point)], capture_output=True, text=True)
    if proc.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
