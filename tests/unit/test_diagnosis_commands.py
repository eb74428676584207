"""The diagnosis in check (table and JSON) and report: findings first, schema-valid."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import jsonschema

from console.commands.check import render_table
from console.commands.report import render_report
from console.engine.diagnosis import finding_json, serious
from console.models import Severity
from tests.support.diagnosis import NOW, incident_000, incident_002, run
from tests.support.report import document


def _doc_with_findings() -> dict:
    doc = document()
    doc["findings"] = [finding_json(f, NOW) for f in (*run(incident_002()),
                                                       *run(incident_000()))]
    return doc


def test_check_json_findings_match_the_schema() -> None:
    schema = json.loads(resources.files("console").joinpath("schema/check-v1.json").read_text())
    doc = _doc_with_findings()
    jsonschema.validate(doc, schema)
    broken = json.loads(json.dumps(doc))
    broken["findings"][0]["fix"]["action"] = "reboot"
    try:
        jsonschema.validate(broken, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("an unknown fix action must fail the schema")


def test_check_table_prints_findings_first_with_fix_and_evidence() -> None:
    text = render_table(_doc_with_findings())
    first_server = text.index("== prod")
    block = text[:first_server]
    assert "findings (2, most severe first)" in block
    assert "CRITICAL crm-prod: crm-backend-1 is crash-looping" in block
    assert "fix by hand: Set JWT_SECRET in /srv/crm/.env" in block
    assert "fix: restart crm-backend-1 (key r in the console)" in block
    assert "[held for 4 min]" in block
    assert "- logs: crm-nginx-1:" in block
    assert block.index("crash-looping") < block.index("fix: restart")


def test_check_table_says_none_when_all_is_well() -> None:
    doc = document()
    doc["findings"] = []
    assert render_table(doc).splitlines()[2] == "findings: none"


def test_report_opens_with_the_diagnosis() -> None:
    text = render_report(_doc_with_findings())
    assert text.index("## Diagnosis") < text.index("## Servers")
    section = text[text.index("## Diagnosis"):text.index("## Servers")]
    assert "1. **critical** crm-prod: crm-backend-1 is crash-looping" in section
    assert "   - fix, by hand: Set JWT\\_SECRET in /srv/crm/.env" not in section  # greppable
    assert "   - fix, by hand: Set JWT_SECRET in /srv/crm/.env" in section
    assert "   - fix: restart crm-backend-1 (key `r`)" in section
    assert "(held for 4 min)" in section
    assert "   - evidence, containers: crm-backend-1 restarting, 7 restarts" in section


def test_report_escapes_server_text_in_findings() -> None:
    doc = _doc_with_findings()
    doc["findings"][0]["summary"] = "x\n# Fake heading [link](http://evil)"
    text = render_report(doc)
    assert "\n# Fake heading" not in text and "\\[link]" in text


def test_report_without_findings_says_so() -> None:
    doc = document()
    doc["findings"] = []
    assert "No findings: every rule is satisfied." in render_report(doc)


def test_serious_means_warning_or_worse() -> None:
    finding = run(incident_000())[0]
    assert serious([finding])
    assert serious([dataclasses.replace(finding, severity=Severity.WARNING)])
    assert not serious([dataclasses.replace(finding, severity=Severity.INFO)])
    assert not serious([])
