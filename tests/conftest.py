"""Shared fixtures: the real lab (session) and a freshly reset lab (per test, on request).

The lab is brought up once, right after collection and only if a selected test uses it, so
its first-time cost (debootstrap, a few minutes on a fresh machine) is not charged to one
test's timeout and a unit-only run never touches Docker. Under ``CI=true`` a lab that cannot
start fails the tests that need it; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.ci import skip_or_fail

LAB_FIXTURES = {"lab", "lab_clean"}
_lab_state: dict[str, object] = {}


def _bring_up_lab(config: pytest.Config) -> None:
    from tests.lab import LabUnavailable, ensure_lab

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    started = time.monotonic()
    try:
        if capture is not None:  # show the lab's progress lines live
            with capture.global_and_fixture_disabled():
                _lab_state["info"] = ensure_lab()
        else:
            _lab_state["info"] = ensure_lab()
    except LabUnavailable as exc:
        _lab_state["error"] = str(exc)
    if reporter is not None:
        outcome = "ready" if "info" in _lab_state else f"unavailable: {_lab_state['error']}"
        reporter.write_line(f"lab {outcome} ({time.monotonic() - started:.1f}s)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.support.timings import summary

    for line in summary():
        terminalreporter.write_line(line)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(LAB_FIXTURES & set(getattr(item, "fixturenames", ())) for item in session.items):
        _bring_up_lab(session.config)


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config):
    """The running lab as a ``tests.lab.LabInfo`` (see tests/lab/__init__.py)."""
    if not _lab_state:
        _bring_up_lab(pytestconfig)
    if "error" in _lab_state:
        skip_or_fail(f"lab unavailable: {_lab_state['error']}")
    from tests.lab import LOGIN_PASSWORD, LOGIN_USER

    os.environ.setdefault("OPS_LOGIN_USER", LOGIN_USER)
    os.environ.setdefault("OPS_LOGIN_PASSWORD", LOGIN_PASSWORD)
    return _lab_state["info"]


@pytest.fixture(scope="session")
def monitoring():
    """The lab's Prometheus, blackbox_exporter and Alertmanager (tests/lab/monitoring.py),
    up, every probe scraped and every failing one alerted (``Monitoring.not_ready``). No
    Docker needed."""
    from tests.lab.monitoring import Monitoring
    from tests.lab.system import LabError

    engines = Monitoring()
    try:
        engines.up()
        engines.wait_ready(timeout=120)
    except LabError as exc:
        skip_or_fail(f"monitoring engines unavailable: {exc}")
    return engines


@pytest.fixture
def lab_clean(lab):
    """The lab at its healthy baseline for this test, and put back there after it.

    For tests that run scenarios: the reset afterwards keeps tests that use plain ``lab``
    from inheriting a stopped backend. About a second when nothing changed.
    """
    lab.reset()
    yield lab
    lab.reset()
