"""The Compose CLI through a Host: detection, the v2 command line and JSON answer, hashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.engine.compose import ComposeProjects, ProjectKey
from console.engine.compose.labels import ComposeLabels
from console.engine.compose.model import ComposeTool
from console.engine.compose.tool import (
    compose_command,
    detect,
    parse_config_output,
    unset_variables,
)
from console.engine.secrets import Fingerprinter
from tests.support.compose import (
    KEY,
    WrappedHost,
    fake_executable,
    labels_for,
    local_host,
    parsed,
    with_path_first,
    write_project,
)

V2_CONFIG = {"name": "crm", "services": {
    "api": {"image": "busybox", "environment": {
        "JWT_SECRET": "from-compose-v2-0123456789abcdef0123", "PRICE": "5$$", "BARE": None}},
    "worker": {"image": "busybox", "environment": {"JWT_SECRET": "x"}}}}


def fake_v2(bin_dir: Path, log: Path) -> None:
    """A `docker` whose `compose` subcommand answers like v2.24 and logs its argv and cwd."""
    answer = bin_dir / "config.json"
    answer.write_text(json.dumps(V2_CONFIG))
    fake_executable(bin_dir, "docker", f"""
        echo "$PWD|$*" >> {log}
        [ "$1" = compose ] || exit 1
        shift
        case "$*" in
          version) echo "Docker Compose version v2.24.0"; exit 0;;
          *"--hash=*"*) echo "api 0123456789abcdef0123456789abcdef"; exit 0;;
          *"--format json"*)
             echo 'WARN[0000] The "UNSET_ONE" variable is not set. Defaulting...' >&2
             cat {answer}; exit 0;;
        esac
        exit 2
    """)


async def test_detect_prefers_the_v2_plugin(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "argv.log"
    fake_v2(tmp_path, log)
    monkeypatch.setenv("PATH", with_path_first(tmp_path))
    tool = await detect(local_host())
    assert tool == ComposeTool(("docker", "compose"), "2.24.0", 2)


async def test_detect_finds_v1_or_nothing(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake_executable(tmp_path, "docker", "exit 1\n")
    fake_executable(tmp_path, "docker-compose",
                    'echo "docker-compose version 1.29.2, build unknown"\n')
    monkeypatch.setenv("PATH", with_path_first(tmp_path))
    assert await detect(local_host()) == ComposeTool(("docker-compose",), "1.29.2", 1)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert await detect(local_host()) is None


def test_the_command_runs_in_the_project_with_its_name_files_and_env_files() -> None:
    key = ProjectKey("crm", "/srv/crm", ("/srv/crm/a.yml", "/srv/crm/b.yml"),
                     ("/srv/crm/prod.env", "/srv/crm/extra.env"))
    v2 = ComposeTool(("docker", "compose"), "2.24.0", 2)
    argv = compose_command(v2, key, "config")
    assert argv[:5] == ["sh", "-c", 'cd -- "$1" || exit 125; shift; exec "$@"',
                        "ops-console", "/srv/crm"]
    assert argv[5:] == ["docker", "compose", "-p", "crm", "-f", "/srv/crm/a.yml", "-f",
                        "/srv/crm/b.yml", "--project-directory", "/srv/crm", "--env-file",
                        "/srv/crm/prod.env", "--env-file", "/srv/crm/extra.env", "config"]
    v1 = ComposeTool(("docker-compose",), "1.29.2", 1)
    assert compose_command(v1, key, "config").count("--env-file") == 1  # v1 takes one
    default = ProjectKey("crm", "/srv/crm", ("/srv/crm/a.yml",), ("/srv/crm/.env",))
    assert "--env-file" not in compose_command(v2, default, "config")


async def test_reads_run_at_a_lower_priority_and_actions_do_not(tmp_path: Path) -> None:
    """``config`` (a read) runs under ``nice -n 10`` where the server has ``nice``;
    the command an action runs (a recreate) keeps the priority it was given."""
    key = ProjectKey("p", str(tmp_path), (str(tmp_path / "docker-compose.yml"),), ())
    niceness = ComposeTool(("sh", "-c", "awk '{print $19}' /proc/self/stat"), "0", 2)
    host = local_host()
    read = await host.run(compose_command(niceness, key, "config", nicely=True))
    action = await host.run(compose_command(niceness, key, "up"))
    assert read.ok and action.ok
    base = int(action.stdout)
    assert int(read.stdout) == min(base + 10, 19)


async def test_a_v2_server_is_asked_for_json_in_the_project_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "argv.log"
    fake_v2(bin_dir, log)
    monkeypatch.setenv("PATH", with_path_first(bin_dir))
    directory = write_project(tmp_path, "crm", {"docker-compose.yml": """
        services:
          api:
            image: busybox
            environment: [JWT_SECRET, PRICE, BARE]
          worker:
            image: busybox
            environment: [JWT_SECRET=x]
    """})
    fp = Fingerprinter(KEY)
    projects = ComposeProjects(fp)
    model = await projects.project(WrappedHost(), parsed(labels_for(directory, "crm", "api")))
    assert model is not None and model.source == "docker compose 2.24.0 config"
    api = model.services["api"]
    assert api.expected["JWT_SECRET"].observation.fingerprint == fp(
        "JWT_SECRET", "from-compose-v2-0123456789abcdef0123")
    assert api.expected["PRICE"].observation.fingerprint == fp("PRICE", "5$")
    assert api.expected["BARE"].observation.state == "bare"
    assert api.config_hash == "0123456789abcdef0123456789abcdef"
    assert model.services["worker"].config_hash is None
    assert [str(p) for p in model.problems] == [
        "crm: variable UNSET_ONE is not set (Compose uses an empty string)"]
    calls = log.read_text().splitlines()
    config_call = next(c for c in calls if "--format json" in c)
    cwd, _, args = config_call.partition("|")
    assert cwd == str(directory)
    assert args == (f"compose -p crm -f {directory}/docker-compose.yml --project-directory "
                    f"{directory} config --format json")


def test_config_output_parsing_undoes_dollar_escaping_and_reads_lists() -> None:
    yaml_out = b"services:\n  a:\n    environment:\n      X: $$HOME\n      N: 5\n      B: null\n"
    assert parse_config_output(yaml_out, as_json=False) == {"a": {"X": "$HOME", "N": "5",
                                                                  "B": None}}
    listed = json.dumps({"services": {"a": {"environment": ["X=1", "Y"]}}}).encode()
    assert parse_config_output(listed, as_json=True) == {"a": {"X": "1", "Y": None}}
    with pytest.raises(ValueError) as caught:
        parse_config_output(b"{not json: S3CRET", as_json=True)
    assert "S3CRET" not in str(caught.value)


def test_unset_variable_warnings_of_both_versions() -> None:
    v1 = b"The NOPE variable is not set. Defaulting to a blank string.\n"
    v2 = (b'time="2026-01-01" level=warning msg="The \\"OTHER\\" variable is not set. '
          b'Defaulting to a blank string."\n')
    assert unset_variables(v1 + v2) == {"NOPE", "OTHER"}


def test_labels() -> None:
    labels = ComposeLabels.parse({
        "com.docker.compose.project": "crm", "com.docker.compose.service": "api",
        "com.docker.compose.project.working_dir": "/srv/crm",
        "com.docker.compose.project.config_files": "docker-compose.yml,/etc/o.yml",
        "com.docker.compose.project.environment_file": "/srv/crm/.env",
        "com.docker.compose.config-hash": "abc", "com.docker.compose.oneoff": "True"})
    assert labels is not None
    assert labels.config_files == ("/srv/crm/docker-compose.yml", "/etc/o.yml")
    assert labels.oneoff and labels.config_hash == "abc"
    assert labels.key() == ProjectKey("crm", "/srv/crm", labels.config_files,
                                      ("/srv/crm/.env",))
    assert ComposeLabels.parse({"com.docker.compose.project": "crm"}) is None
    bare = ComposeLabels.parse({"com.docker.compose.project": "x",
                                "com.docker.compose.service": "y"})
    assert bare is not None and bare.key() is None and not bare.resolvable
