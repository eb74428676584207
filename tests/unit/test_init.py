"""``ops-console init``: the starter config must load, quote odd names, and not clobber."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from console.commands import init
from console.config import load_config


def discovery(tmp_path: Path) -> init.Discovery:
    (tmp_path / ".env").write_text("JWT_SECRET=abc\nDATABASE_URL=postgres://x\nDEBUG=1\n")
    project = init.ProjectFound(name="crm", working_dir=str(tmp_path),
                                containers=["crm-backend-1", 'we"ird\x1bname'],
                                ports=[("crm-backend-1", 8000)])
    init._read_env_names(project)
    return init.Discovery(socket="/var/run/docker.sock", projects=[project], loose=["solo"])


def test_rendered_config_loads_and_lists_secret_names_only(tmp_path: Path) -> None:
    found = discovery(tmp_path)
    text = init.render_config(found)
    assert "abc" not in text and "postgres://x" not in text  # names, never values
    out = tmp_path / "config.toml"
    out.write_text(text)
    config = load_config(out)
    (server,) = config.servers
    assert server.compose_project == "crm"
    assert server.secrets.required == ("JWT_SECRET", "DATABASE_URL")
    assert server.secrets.consistent == ("JWT_SECRET",)
    assert server.secrets.containers[1] == 'we"ird\x1bname'
    assert server.health[0].url == "http://127.0.0.1:8000/health"


def test_no_engine_still_writes_a_loadable_config(tmp_path: Path) -> None:
    text = init.render_config(init.Discovery(socket="/nope.sock", error="engine did not answer"))
    assert "engine did not answer" in text
    out = tmp_path / "c.toml"
    out.write_text(text)
    assert load_config(out).servers[0].is_local


def test_refuses_to_overwrite_without_force(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(init, "discover", lambda: init.Discovery(socket="/x"))
    out = tmp_path / "config.toml"
    out.write_text("# mine\n")
    args = argparse.Namespace(output=str(out), force=False)
    assert init.run_init(args) == 2
    assert out.read_text() == "# mine\n"
    assert "--force" in capsys.readouterr().err
    assert init.run_init(argparse.Namespace(output=str(out), force=True)) == 0
    assert out.read_text().startswith("# ops-console starter config")


@pytest.mark.parametrize("socket", ["/definitely/not/here.sock"])
def test_discover_reports_an_absent_engine(socket: str) -> None:
    found = init.discover(socket)
    assert found.error and socket in found.error and found.projects == []
