"""The fleet sources against the lab's real Prometheus, blackbox_exporter and Alertmanager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.config import load_config
from console.engine.fleet_sources import FleetSourceService
from tests.lab.monitoring import PROBES, Monitoring


@pytest.fixture
def config_file(tmp_path: Path, monitoring: Monitoring) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f"""
[console]
audit_log = "{tmp_path / 'audit.jsonl'}"

[[prometheus]]
name = "lab"
url = "{monitoring.prometheus_url}"
alertmanager_url = "{monitoring.alertmanager_url}"
timeout = 3
""")
    return path


async def _round(config_file: Path) -> FleetSourceService:
    service = FleetSourceService(load_config(config_file))
    await service.refresh()
    await service.stop()
    return service


async def test_every_probe_class_is_shown_in_words(config_file: Path) -> None:
    snap = (await _round(config_file)).snapshot()
    assert snap.sources[0].state == "up", snap.sources[0].detail
    got = {r.instance: r.klass for r in snap.targets if r.is_probe}
    assert got == {instance: klass for instance, (_module, klass) in PROBES.items()}
    reasons = {r.instance: r.reason for r in snap.targets}
    assert all(reasons[i] for i in PROBES)


async def test_a_firing_alert_reaches_the_view_from_alertmanager(config_file: Path) -> None:
    snap = (await _round(config_file)).snapshot()
    assert snap.sources[0].alerts_from == "alertmanager"
    firing = {a.instance for a in snap.alerts if a.name == "ProbeFailing"}
    failing = {i for i, (_m, klass) in PROBES.items() if klass not in ("ok", "cert_expiring")}
    assert failing <= firing
    assert "http://127.0.0.1:18090/ok" not in firing


def test_check_json_carries_alerts_and_probes_and_exits_1(config_file: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "console", "check", "--json", "--config",
                           str(config_file)], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["fleet_sources"][0]["state"] == "up"
    assert any(a["name"] == "ProbeFailing" and a["severity"] == "critical"
               and a["labels"]["instance"] == "http://127.0.0.1:18090/502" for a in doc["alerts"])
    alert_findings = [f for f in doc["findings"] if f["id"] == "alert_firing"]
    assert alert_findings and alert_findings[0]["target"] == "ProbeFailing"
    assert any(e["pane"] == "fleet" and "probe failing" in e["text"]
               for e in alert_findings[0]["evidence"])
    by_instance = {p["instance"]: p for p in doc["probes"]}
    assert by_instance["http://127.0.0.1:18091/"]["class"] == "refused"
    assert by_instance["http://127.0.0.1:18090/ok"]["ok"] is True
    from jsonschema import validate

    schema = json.loads((Path(__file__).parents[2] / "console" / "schema" /
                         "check-v1.json").read_text())
    validate(doc, schema)
    table = subprocess.run([sys.executable, "-m", "console", "check", "--config",
                            str(config_file)], capture_output=True, text=True, timeout=120,
                           env=env)
    assert "ProbeFailing" in table.stdout and "refused" in table.stdout


async def test_a_killed_prometheus_is_shown_and_recovers(config_file: Path,
                                                         monitoring: Monitoring) -> None:
    service = FleetSourceService(load_config(config_file))
    await service.refresh()
    rows = service.snapshot().targets
    monitoring.kill("prometheus")
    try:
        await service.refresh()
        down = service.snapshot()
        assert down.sources[0].state == "error"
        # refused, or (on the pool's kept-alive connection) broken: both in words
        assert down.sources[0].detail in (
            "connection refused", "the connection broke (the engine stopped or restarted?)")
        assert down.targets == rows  # the last known fleet stays on screen
    finally:
        monitoring.start_prometheus()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        await service.refresh()
        if service.snapshot().sources[0].state == "up" and service.snapshot().targets:
            break
        time.sleep(1)
    await service.stop()
    assert service.snapshot().sources[0].state == "up"
