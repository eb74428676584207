"""Firing alerts from the fleet sources become findings, with their own summary."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from console.engine.diagnosis import diagnose
from console.engine.diagnosis.model import DiagnosisInput
from console.engine.fleet_sources.model import Alert
from console.models import Severity

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def alert(instance: str, severity: Severity = Severity.CRITICAL, state: str = "firing",
          name: str = "ProbeFailing", minutes: int = 4) -> Alert:
    return Alert(source="eu", name=name, severity=severity, state=state,
                 labels={"alertname": name, "instance": instance},
                 starts_at=NOW - timedelta(minutes=minutes), summary=f"{instance} probe failing")


def test_one_finding_per_alert_name_with_every_instance_as_evidence() -> None:
    findings = diagnose(DiagnosisInput((), NOW, alerts=(
        alert("http://a/"), alert("http://b/", Severity.WARNING, minutes=9),
        alert("http://c/", state="pending"))))
    (finding,) = findings
    assert finding.id == "alert_firing" and finding.severity is Severity.CRITICAL
    assert finding.summary == ("eu: ProbeFailing firing for http://a/ and 1 more: "
                               "http://a/ probe failing")
    assert [e.row for e in finding.evidence] == [("eu", "http://a/"), ("eu", "http://b/")]
    assert all(e.pane == "fleet" for e in finding.evidence)
    assert finding.fix.action == "manual" and "fleet view" in finding.fix.why
    assert finding.since == NOW - timedelta(minutes=9)


def test_pending_alerts_and_no_alerts_give_no_finding() -> None:
    assert diagnose(DiagnosisInput((), NOW, alerts=(alert("x", state="pending"),))) == ()
    assert diagnose(DiagnosisInput((), NOW)) == ()


def test_two_alert_names_are_two_findings_most_severe_first() -> None:
    findings = diagnose(DiagnosisInput((), NOW, alerts=(
        alert("x", Severity.WARNING, name="HighLatency"), alert("y", name="ProbeFailing"))))
    assert [f.target for f in findings] == ["ProbeFailing", "HighLatency"]


def test_the_diagnosis_still_imports_no_network_library() -> None:
    code = ("import sys, console.engine.diagnosis; "
            "print(sorted({'asyncio', 'httpx', 'textual'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
