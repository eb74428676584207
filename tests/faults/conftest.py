"""Fixtures of the fault suite; its helpers live in ``tests.support.live_app`` (the
questions asked of the running app) and ``tests.support.http`` (``FaultHTTPServer``)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def audit_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the default audit log of a test config out of the real home directory."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state
