"""The config loader on hostile input: only ``ConfigError`` ever escapes, and its message is
safe to print to a terminal.

Three kinds of input: arbitrary text (mostly TOML syntax errors), random but *valid* TOML
built from the real key names with wrong-typed and hostile values (this reaches every
validator, which is where a ``TypeError`` or ``KeyError`` would hide), and the lab's own
generated config with random slices cut out or spliced in.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.config import Config, ConfigError, load_config
from tests.fuzz.render import HOSTILE, raw_controls

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "console", "read_only", "theme", "audit_log", "servers", "name", "host", "port", "user",
    "identity_file", "known_hosts", "docker_socket", "compose_project", "protected",
    "health", "url", "from", "expect_status", "expect_json", "timeout", "interval",
    "max_latency_ms", "secrets", "env_files", "containers", "required", "consistent",
    "logs", "files", "rules", "pattern", "severity", "buffer_lines", "actions", "migrate",
    "command", "container", "test_login", "json", "token_field", "verify_with_secret",
]
BASE = """
[console]
audit_log = "/tmp/ops-console-fuzz/audit.jsonl"

[[servers]]
name = "alpha"
host = "127.0.0.1"
port = 2222
compose_project = "crm"

[[servers.health]]
name = "backend"
url = "http://127.0.0.1:8000/health"
expect_json = { status = "ok" }
timeout = 3.0

[servers.secrets]
env_files = ["/srv/crm/.env"]
required = ["JWT_SECRET"]
consistent = ["JWT_SECRET"]

[servers.logs]
containers = ["crm-backend-1"]

[[servers.logs.rules]]
name = "rate limited"
pattern = "429 Too Many Requests"
severity = "warning"

[servers.actions.migrate]
container = "crm-backend-1"
command = ["alembic", "upgrade", "head"]

[servers.actions.test_login]
url = "http://127.0.0.1:8000/api/v1/auth/login"
json = { email = "${OPS_FUZZ_USER}", password = "x" }
"""

hostile_str = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE),
                        st.sampled_from(["${NOPE_NOT_SET}", "${", "local", "", " ", "/x",
                                         "server", "console", "critical", "(", "[a-"]))
scalar = st.one_of(hostile_str, st.integers(-2**63, 2**63 - 1), st.booleans(),
                   st.floats(allow_nan=True, allow_infinity=True))
key = st.one_of(st.sampled_from(KEYS), st.sampled_from(HOSTILE), st.text(max_size=10))
value = st.recursive(scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(key, inner, max_size=4)), max_leaves=12)


def _toml_key(k: str) -> str:
    return json.dumps(k)  # a TOML basic string is a JSON string (\u escapes included)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def _document(tree: dict[str, Any]) -> str:
    return "\n".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in tree.items()) + "\n"


def _load(text: str | bytes) -> Config | None:
    """Load from a real file; only ConfigError may come out, and it must print safely."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8",
                                                                          "surrogatepass"))
        try:
            return load_config(path)
        except ConfigError as exc:
            message = f"ops-console: config error: {exc}"
            assert raw_controls(message, allow_newline=False) == [], repr(message)
            return None


@pytest.fixture(autouse=True)
def _no_fuzz_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    monkeypatch.setenv("OPS_FUZZ_USER", "fuzz@example.com")


def test_the_base_document_is_valid() -> None:
    assert _load(BASE) is not None  # else every mutation below tests only the error path


@FUZZ
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400)))
def test_arbitrary_text_gives_only_config_errors(text: str | bytes) -> None:
    if isinstance(text, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        text = text.encode("utf-8", "surrogatepass")
    _load(text)


@FUZZ
@given(st.dictionaries(key, value, max_size=5),
       st.dictionaries(key, value, max_size=6),
       st.dictionaries(key, value, max_size=4),
       st.sampled_from(["", "console", "servers", "servers.health", "servers.secrets",
                        "servers.logs", "servers.logs.rules", "servers.actions.migrate",
                        "servers.actions.test_login"]))
def test_valid_toml_with_wrong_types_and_hostile_values(top: dict[str, Any],
                                                        server: dict[str, Any],
                                                        inner: dict[str, Any],
                                                        table: str) -> None:
    server = {"name": "alpha", **server}
    doc = _document(top) + "[[servers]]\n" + _document(server)
    if table.startswith("servers."):
        sub = table.removeprefix("servers.")
        header = f"[[servers.{sub}]]" if sub in ("health", "logs.rules") else f"[servers.{sub}]"
        doc += header + "\n" + _document(inner)
    elif table == "console":
        doc = "[console]\n" + _document(inner) + doc
    _load(doc)


@FUZZ
@given(st.integers(0, len(BASE)), st.integers(0, 60),
       st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE),
                 st.sampled_from(["[[servers]]\n", "= 1\n", "\"", "[", "]]", "{", "}",
                                  "name = \"x\"\n", "port = 99999999\n", "timeout = -1\n",
                                  "severity = \"loud\"\n", "pattern = \"(\"\n"])))
def test_the_real_config_with_slices_cut_or_spliced(at: int, cut: int, splice: str) -> None:
    _load(BASE[:at] + splice + BASE[at + cut:])
