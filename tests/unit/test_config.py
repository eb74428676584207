"""Config loading: every rule, and malformed files that must fail with file + where + what."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.config import (
    ConfigError,
    expand_env_tree,
    find_config,
    load_config,
    load_or_default,
)

GOOD = """
[console]
read_only = true
theme = "ops-light"
audit_log = "/tmp/ops-audit.jsonl"

[[servers]]
name = "prod"
host = "203.0.113.10"
port = 2200
user = "deploy"
identity_file = "~/.ssh/id_ed25519"
known_hosts = "~/.ssh/known_hosts"
docker_socket = "/var/run/docker.sock"
compose_project = "crm"
protected = true

[[servers.health]]
name = "login api"
url = "http://127.0.0.1:8000/health"
from = "server"
expect_status = 200
expect_json = { status = "ok", db = "connected" }
timeout = 5.0
interval = 10.0

[servers.secrets]
env_files = ["/srv/crm/.env"]
containers = ["crm-backend-1"]
required = ["JWT_SECRET", "DATABASE_URL", "SERVICE_SECRET"]
consistent = ["JWT_SECRET"]

[servers.logs]
containers = ["crm-backend-1", "crm-nginx-1"]
files = ["/var/log/nginx/error.log"]

[[servers.logs.rules]]
name = "rate limited"
pattern = "429 Too Many Requests"
severity = "warning"

[servers.actions.migrate]
container = "crm-backend-1"
command = ["alembic", "upgrade", "head"]

[servers.actions.test_login]
url = "http://127.0.0.1:8000/api/v1/auth/login"
from = "server"
json = { email = "${OPS_LOGIN_USER}", password = "${OPS_LOGIN_PASSWORD}" }
token_field = "access_token"
verify_with_secret = "JWT_SECRET"

[[servers]]
name = "staging"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_spec_example_loads_into_typed_frozen_dataclasses(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.console.read_only is True
    assert config.console.theme == "ops-light"
    assert str(config.console.audit_log) == "/tmp/ops-audit.jsonl"
    prod = config.server("prod")
    assert (prod.host, prod.port, prod.user, prod.protected) == ("203.0.113.10", 2200, "deploy",
                                                                  True)
    assert not prod.is_local
    assert prod.health[0].expect_json == {"status": "ok", "db": "connected"}
    assert prod.health[0].from_ == "server"
    assert prod.secrets.consistent == ("JWT_SECRET",)
    assert prod.logs.rules[0].severity == "warning"
    assert prod.migrate is not None and prod.migrate.command == ("alembic", "upgrade", "head")
    assert prod.test_login is not None and prod.test_login.verify_with_secret == "JWT_SECRET"
    staging = config.server("staging")
    assert staging.is_local and staging.logs.containers is None
    with pytest.raises(AttributeError):
        prod.name = "other"  # type: ignore[misc]


def test_credentials_stay_templates_until_sent(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("OPS_LOGIN_PASSWORD", raising=False)
    config = load_config(write(tmp_path, GOOD))  # a missing credential does not block start-up
    body = config.server("prod").test_login.json
    assert body["password"] == "${OPS_LOGIN_PASSWORD}"
    monkeypatch.setenv("OPS_LOGIN_USER", "a@b.c")
    monkeypatch.setenv("OPS_LOGIN_PASSWORD", "pw-from-env")
    assert expand_env_tree(body) == {"email": "a@b.c", "password": "pw-from-env"}


def test_env_placeholders_in_settings_come_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PROD_HOST", "198.51.100.7")
    path = write(tmp_path, '[[servers]]\nname = "p"\nhost = "${PROD_HOST}"\n')
    assert load_config(path).servers[0].host == "198.51.100.7"


def test_missing_env_placeholder_is_an_error_naming_the_variable(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NOPE_HOST", raising=False)
    path = write(tmp_path, '[[servers]]\nname = "p"\nhost = "${NOPE_HOST}"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "NOPE_HOST" in str(err.value) and "servers[0].host" in str(err.value)


MALFORMED = {
    "toml syntax": ('[[servers]\nname = "x"\n', "invalid TOML", "line 1"),
    "no servers": ("[console]\nread_only = false\n", "servers", "at least one"),
    "unknown top key": ('colour = 1\n[[servers]]\nname="a"\n', "colour", "unknown key"),
    "server without name": ('[[servers]]\nhost = "local"\n', "servers[0].name", "missing"),
    "bad port type": ('[[servers]]\nname="a"\nport = "22"\n', "servers[0].port",
                      "whole number"),
    "port out of range": ('[[servers]]\nname="a"\nport = 70000\n', "servers[0].port",
                          "1 to 65535"),
    "read_only not bool": ('[console]\nread_only = "yes"\n[[servers]]\nname="a"\n',
                           "console.read_only", "true or false"),
    "duplicate server": ('[[servers]]\nname="a"\n[[servers]]\nname="a"\n', "servers[1].name",
                         "used twice"),
    "bad url": ('[[servers]]\nname="a"\n[[servers.health]]\nname="h"\nurl="ftp://x"\n',
                "servers[0].health[0].url", "http:// or https://"),
    "bad from": ('[[servers]]\nname="a"\n[[servers.health]]\nname="h"\nurl="http://x"\n'
                 'from="moon"\n', "servers[0].health[0].from", "server, console"),
    "negative timeout": ('[[servers]]\nname="a"\n[[servers.health]]\nname="h"\n'
                         'url="http://x"\ntimeout = -1\n', "servers[0].health[0].timeout",
                         "greater than 0"),
    "bad regex": ('[[servers]]\nname="a"\n[[servers.logs.rules]]\nname="r"\npattern="(oops"\n',
                  "servers[0].logs.rules[0].pattern", "regular expression"),
    "bad severity": ('[[servers]]\nname="a"\n[[servers.logs.rules]]\nname="r"\npattern="x"\n'
                     'severity="loud"\n', "servers[0].logs.rules[0].severity", "critical"),
    "required not list": ('[[servers]]\nname="a"\n[servers.secrets]\nrequired = "JWT"\n',
                          "servers[0].secrets.required", "list of strings"),
    "empty migrate": ('[[servers]]\nname="a"\n[servers.actions.migrate]\ncommand = []\n',
                      "servers[0].actions.migrate.command", "non-empty list"),
    "unknown action": ('[[servers]]\nname="a"\n[servers.actions.deploy]\nx=1\n',
                       "servers[0].actions.deploy", "unknown key"),
    "relative socket": ('[[servers]]\nname="a"\ndocker_socket="docker.sock"\n',
                        "servers[0].docker_socket", "absolute path"),
    "bad server name": ('[[servers]]\nname="a b"\n', "servers[0].name", "letters, digits"),
    "expect_json not table": ('[[servers]]\nname="a"\n[[servers.health]]\nname="h"\n'
                              'url="http://x"\nexpect_json = "ok"\n',
                              "servers[0].health[0].expect_json", "inline table"),
    "servers is a table": ('[servers]\nname="a"\n', "servers", "at least one"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_config_names_file_place_and_expectation(tmp_path: Path, case: str) -> None:
    text, where, expected = MALFORMED[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert where in message, message
    assert expected in message, message


def test_error_gives_the_line_when_the_key_appears_once(tmp_path: Path) -> None:
    path = write(tmp_path, '[[servers]]\nname="a"\nport = "22"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "(line 3)" in str(err.value)


def test_not_utf8_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe[[servers]]")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml")


def test_lookup_order(tmp_path: Path, monkeypatch) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "ops-console").mkdir(parents=True)
    xdg_file = xdg / "ops-console" / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    monkeypatch.delenv("OPS_CONSOLE_CONFIG", raising=False)
    assert find_config() is None  # nothing anywhere: zero-config
    xdg_file.write_text('[[servers]]\nname = "from-xdg"\n')
    assert find_config() == xdg_file
    env_file = tmp_path / "env.toml"
    monkeypatch.setenv("OPS_CONSOLE_CONFIG", str(env_file))
    assert find_config() == env_file
    assert find_config(tmp_path / "explicit.toml") == tmp_path / "explicit.toml"


def test_zero_config_is_local_with_inference(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("OPS_CONSOLE_CONFIG", raising=False)
    config = load_or_default(None)
    assert config.zero_config
    (server,) = config.servers
    assert server.is_local and server.secrets.infer and server.discover_health


@pytest.mark.parametrize("argv", [["check"], ["report"], []])
def test_cli_config_error_exits_2_without_traceback(tmp_path: Path, argv: list[str]) -> None:
    path = write(tmp_path, '[[servers]]\nname="a"\nport = "22"\n')
    proc = subprocess.run([sys.executable, "-m", "console", "--config", str(path), *argv],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "servers[0].port" in proc.stderr and str(path) in proc.stderr


def test_cli_version_and_help() -> None:
    from console import __version__

    out = subprocess.run([sys.executable, "-m", "console", "--version"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and __version__ in out.stdout
    helped = subprocess.run([sys.executable, "-m", "console", "--help"], capture_output=True,
                            text=True, timeout=30)
    assert helped.returncode == 0
    for word in ("check", "report", "init", "--config"):
        assert word in helped.stdout
