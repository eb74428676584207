"""check / report / init against the real lab: exit codes, the JSON schema, report content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

pytestmark = pytest.mark.lab


def ops(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy())


def schema() -> dict:
    return json.loads(resources.files("console").joinpath("schema/check-v1.json").read_text())


def test_check_all_good_exits_0_and_json_matches_schema(lab_clean) -> None:
    proc = ops("--config", str(lab_clean.config_path), "check", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, schema())
    assert doc["ok"] is True
    names = {s["name"] for s in doc["servers"]}
    assert names == {"alpha", "bravo"}
    alpha = next(s for s in doc["servers"] if s["name"] == "alpha")
    assert alpha["connection"]["state"] == "up"
    assert {c["name"] for c in alpha["containers"]} >= {"crm-backend-1", "crm-nginx-1"}
    assert all(h["ok"] for h in alpha["health"])
    assert {s["name"] for s in alpha["secrets"]} == {"JWT_SECRET", "DATABASE_URL",
                                                     "SERVICE_SECRET"}


def test_check_backend_down_exits_1_and_says_why(lab_clean) -> None:
    lab_clean.scenario("backend-down")
    proc = ops("--config", str(lab_clean.config_path), "check", "--json", "--server", "alpha")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, schema())
    (alpha,) = doc["servers"]
    backend = next(c for c in alpha["containers"] if c["name"] == "crm-backend-1")
    assert backend["state"] == "exited" and backend["ok"] is False
    via_nginx = next(h for h in alpha["health"] if h["name"] == "login via nginx")
    assert via_nginx["status"] == 502 and via_nginx["class"] == "proxy_bad_gateway"
    # the diagnosis: one finding for the one cause, the stopped backend, fixed by a restart
    (finding,) = [f for f in doc["findings"] if f["server"] == "alpha"]
    assert finding["id"] == "backend_down_behind_proxy" and finding["target"] == "crm-backend-1"
    assert finding["fix"]["action"] == "restart" and finding["fix"]["key"] == "r"
    table = ops("--config", str(lab_clean.config_path), "check", "--server", "alpha")
    assert table.returncode == 1
    assert "PROBLEMS FOUND" in table.stdout and "proxy_bad_gateway" in table.stdout
    assert table.stdout.index("crm-backend-1 exited") < table.stdout.index("== alpha")


def test_check_bad_config_and_unknown_server_exit_2(lab, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[servers]]\nname = "x"\nport = 0\n')
    proc = ops("--config", str(bad), "check")
    assert proc.returncode == 2 and "servers[0].port" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = ops("--config", str(lab.config_path), "check", "--server", "nope")
    assert proc.returncode == 2 and "alpha" in proc.stderr


def test_report_states_the_facts_without_secret_values(lab_clean, tmp_path: Path) -> None:
    lab_clean.scenario("backend-down")
    out = tmp_path / "incident.md"
    proc = ops("--config", str(lab_clean.config_path), "report", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    for fact in ("## alpha", "## bravo", "crm-backend-1", "exited", "proxy_bad_gateway",
                 "JWT_SECRET", "### Auth events", "## Actions taken"):
        assert fact in text, fact
    values = _env_values(lab_clean.env_files.values())
    assert values, "the lab env files hold values to look for"
    for value in values:
        assert value not in text


def _env_values(paths) -> list[str]:
    from console.engine.envfile import parse_env

    found = []
    for path in paths:
        env = parse_env(Path(path).read_bytes(), str(path))
        found += [v for v in env.values() if v and len(v) >= 8]
    return found


def test_init_against_the_lab_engine_writes_a_loadable_config(lab, tmp_path: Path) -> None:
    out = tmp_path / "starter.toml"
    proc = ops("init", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    from console.config import load_config

    config = load_config(out)
    projects = {s.compose_project for s in config.servers}
    assert {"crm", "crm2"} <= projects
    crm = next(s for s in config.servers if s.compose_project == "crm")
    assert "JWT_SECRET" in crm.secrets.required
    again = ops("init", "-o", str(out))
    assert again.returncode == 2 and "--force" in again.stderr


async def test_report_key_in_the_tui_writes_markdown_and_svg(lab_clean, tmp_path: Path) -> None:
    import dataclasses

    from console.config import load_config
    from console.ui.app import OpsConsoleApp

    config = load_config(lab_clean.config_path)
    console = dataclasses.replace(config.console, audit_log=tmp_path / "audit.jsonl")
    app = OpsConsoleApp(dataclasses.replace(config, console=console))
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(100):  # wait until the containers pane has both servers
            await pilot.pause(0.1)
            snap = app.fleet.containers.snapshot()
            if all(part.state == "ok" for part in snap.values()) and len(snap) == 2:
                break
        await pilot.press("ctrl+r")
        for _ in range(50):
            await pilot.pause(0.1)
            written = sorted((tmp_path / "reports").glob("incident-*"))
            if len(written) == 2:
                break
    assert [p.suffix for p in written] == [".md", ".svg"]
    text = written[0].read_text()
    assert "## alpha" in text and "crm-backend-1" in text
    assert "<svg" in written[1].read_text()[:2000]
