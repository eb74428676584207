"""``[[prometheus]]`` blocks and on-demand servers in the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import ConfigError, load_config


def load(tmp_path: Path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path)


def test_a_prometheus_only_config_is_valid(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
[[prometheus]]
name = "eu"
url = "http://127.0.0.1:9090/"
alertmanager_url = "http://127.0.0.1:9093"
bearer_token = "${PROM_TOKEN}"
timeout = 3
interval = 30
match = '{env="prod"}'
""")
    (block,) = cfg.prometheus
    assert cfg.servers == ()
    assert (block.name, block.url, block.alertmanager_url) == (
        "eu", "http://127.0.0.1:9090", "http://127.0.0.1:9093")
    assert block.bearer_token == "${PROM_TOKEN}"  # kept as a reference, expanded at send time
    assert (block.timeout, block.interval, block.match) == (3.0, 30.0, '{env="prod"}')


def test_basic_auth_password_is_a_reference_never_a_value(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
[[prometheus]]
name = "eu"
url = "http://p:9090"
basic_auth = { user = "ops", password = "${PROM_PASSWORD}" }
""")
    assert cfg.prometheus[0].basic_user == "ops"
    assert cfg.prometheus[0].basic_password == "${PROM_PASSWORD}"


@pytest.mark.parametrize(("block", "where", "words"), [
    ('url = "http://p"\nbearer_token = "abc123"', "prometheus[0].bearer_token",
     "environment variable"),
    ('url = "http://p"\nbasic_auth = { user = "u", password = "hunter2" }',
     "prometheus[0].basic_auth.password", "environment variable"),
    ('url = "ftp://p"', "prometheus[0].url", "http:// or https:// URL"),
    ('url = "http://p"\nmatch = "env=prod"', "prometheus[0].match", "label selector"),
    ('url = "http://p"\ntimeout = -1', "prometheus[0].timeout", "greater than 0"),
    ('url = "http://p"\nscrape = 1', "prometheus[0]", "unknown key"),
])
def test_a_bad_block_is_located(tmp_path: Path, block: str, where: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f'[[prometheus]]\nname = "eu"\n{block}\n')
    assert caught.value.where.startswith(where)
    assert words in caught.value.message
    assert "hunter2" not in str(caught.value) and "abc123" not in str(caught.value)


def test_two_blocks_with_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="used twice"):
        load(tmp_path, '[[prometheus]]\nname = "a"\nurl = "http://p"\n'
                       '[[prometheus]]\nname = "a"\nurl = "http://q"\n')


def test_on_demand_servers(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
[[servers]]
name = "web-1"
host = "10.0.0.1"
connect = "on_demand"
idle_close_s = 120
prometheus_instance = "web-1:9100"
""")
    server = cfg.servers[0]
    assert (server.connect, server.idle_close_s, server.prometheus_instance) == (
        "on_demand", 120.0, "web-1:9100")
    with pytest.raises(ConfigError, match="always, on_demand"):
        load(tmp_path, '[[servers]]\nname = "a"\nconnect = "lazy"\n')


def test_no_servers_and_no_prometheus_is_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[\[servers\]\] or \[\[prometheus\]\]"):
        load(tmp_path, "[console]\nread_only = true\n")
