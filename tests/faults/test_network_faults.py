"""Network faults a console meets in an incident, all at once on one screen:

- a **blackholed address**: 127.0.0.42 with an iptables DROP rule on ``lo`` (packets vanish,
  nothing answers "refused"), as an SSH server and as a health endpoint;
- a **DNS failure**: a ``.invalid`` name (RFC 6761: never resolves) as an SSH host and in a
  health URL;
- a health endpoint that **streams forever**, slowly and as fast as it can;
- a server that answers **byte by byte**.

For each: keys keep answering within 200 ms, the pane says what is wrong in words, no
traceback reaches the screen, and (where the fault can be lifted: the DROP rule removed, the
endpoints healed) the pane goes back to ok by itself. The ``.invalid`` name cannot start
resolving, so for DNS the test checks it keeps being retried and explained instead.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from console.config import load_config
from console.engine.fleet import Fleet
from console.engine.hosts import SSHHost, make_host
from console.ui.app import OpsConsoleApp
from tests.ci import skip_or_fail
from tests.support.http import FaultHTTPServer
from tests.support.live_app import assert_no_traceback, assert_responsive, until, write_config

pytestmark = [pytest.mark.timeout(120)]

BLACKHOLE = "127.0.0.42"
NO_SUCH_HOST = "ops-console-fault.invalid"
_RULE = ["INPUT", "-i", "lo", "-d", BLACKHOLE, "-p", "tcp", "-j", "DROP",
         "-m", "comment", "--comment", "ops-console-fault-suite"]


def _iptables_usable() -> bool:
    if shutil.which("iptables") is None:
        return False
    return subprocess.run(["iptables", "-S", "INPUT"], capture_output=True).returncode == 0


@contextlib.contextmanager
def blackholed() -> Iterator[None]:
    """Drop every TCP packet to 127.0.0.42 on loopback; the rule is always removed."""
    subprocess.run(["iptables", "-I", *_RULE], check=True, capture_output=True)
    try:
        yield
    finally:
        lift_blackhole()


def lift_blackhole() -> None:
    while subprocess.run(["iptables", "-D", *_RULE], capture_output=True).returncode == 0:
        pass


def _config(tmp_path: Path, web: FaultHTTPServer, hole: FaultHTTPServer) -> Path:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "id_ed25519"
    key.write_private_key(str(key_path))
    known = tmp_path / "known_hosts"
    known.write_text("")
    health = "\n".join(
        f'[[servers.health]]\nname = "{name}"\nurl = "{url}"\nfrom = "console"\n'
        f'expect_json = {{ status = "ok" }}\ntimeout = 1.5\ninterval = 2.0\n'
        for name, url in (
            ("stream slow", f"{web.base}/forever-slow"),
            ("stream fast", f"{web.base}/forever-fast"),
            ("trickle", f"{web.base}/trickle"),
            ("blackholed", f"{hole.base}/health"),
            ("no dns", f"http://{NO_SUCH_HOST}:8080/health"),
        ))
    ssh = f'port = 2299\nuser = "root"\nidentity_file = "{key_path}"\nknown_hosts = "{known}"'
    return write_config(tmp_path / "config.toml", f"""
[console]
audit_log = "{tmp_path / 'audit.jsonl'}"

[[servers]]
name = "web"
host = "local"
compose_project = "ops-faults-nothing-here"
{health}
[[servers]]
name = "hole"
host = "{BLACKHOLE}"
{ssh}

[[servers]]
name = "nodns"
host = "{NO_SUCH_HOST}"
{ssh}
""")


def _fleet(config: Any) -> Fleet:
    """The real Fleet, with a 2 s SSH connect timeout so the blackhole is judged quickly."""
    hosts = {s.name: SSHHost(s, connect_timeout=2.0) if not s.is_local else make_host(s)
             for s in config.servers}
    return Fleet(config, hosts=hosts)


def _health(app: Any) -> dict[str, tuple[str, ...]]:
    return {r[0].strip(): r for r in app.pane("health").row_texts()}


def _containers_row(app: Any, server: str) -> tuple[str, ...] | None:
    return next((r for r in app.pane("containers").row_texts() if r[0] == f"▾ {server}"),
                None)


def _settled(app: Any) -> bool:
    rows = _health(app)
    return all(rows.get(name, ("", "pending"))[1] not in ("pending", "")
               for name in ("stream slow", "stream fast", "trickle", "blackholed", "no dns"))


async def test_blackhole_dns_endless_and_trickling_endpoints(tmp_path: Path) -> None:
    if not _iptables_usable():
        skip_or_fail("the blackhole needs root and a working iptables")
    web, hole = FaultHTTPServer(), FaultHTTPServer(BLACKHOLE)
    await web.start()
    await hole.start()
    hole.healthy = True  # answers fine: only the DROP rule makes it a black hole
    config = load_config(_config(tmp_path, web, hole))
    app = OpsConsoleApp(config, fleet=_fleet(config))
    try:
        with blackholed():
            async with app.run_test(size=(180, 50)) as pilot:
                await until(pilot, lambda: _settled(app), 20, "every probe has a result")
                await until(pilot, lambda: "retry" in (_containers_row(app, "hole") or ("",) * 6)[5]
                            and "resolve" in (_containers_row(app, "nodns") or ("",) * 6)[5],
                            20, "both SSH servers explained")
                rows = _health(app)
                assert rows["stream slow"][1] == "read timeout", rows["stream slow"]
                assert "did not finish within 1.5 s" in rows["stream slow"][2]
                assert rows["stream fast"][1] != "ok", rows["stream fast"]
                assert rows["trickle"][1] == "read timeout", rows["trickle"]
                assert rows["blackholed"][1] == "connect timeout", rows["blackholed"]
                assert rows["no dns"][1] == "DNS", rows["no dns"]
                assert NO_SUCH_HOST in rows["no dns"][2]
                hole_row = _containers_row(app, "hole")
                assert "no answer within 2s" in hole_row[5], hole_row
                assert "firewall" in hole_row[5], hole_row
                nodns_row = _containers_row(app, "nodns")
                assert f"cannot resolve host name '{NO_SUCH_HOST}'" in nodns_row[5], nodns_row
                await assert_responsive(pilot)
                assert_no_traceback(app)
                # A stuck endpoint is let go of at its deadline: no pile of open sockets.
                assert web.open_connections <= 3, web.open_connections

                # Lift the faults: the black hole opens, the endpoints heal.
                lift_blackhole()
                web.healthy = True
                await until(pilot, lambda: all(
                    _health(app)[n][1] == "ok" for n in ("stream slow", "stream fast",
                                                         "trickle", "blackholed")),
                    15, "every lifted fault back to ok by itself")
                # The .invalid name is still failing, and still explained (retried).
                assert _health(app)["no dns"][1] == "DNS"
                assert "resolve" in _containers_row(app, "nodns")[5]
                await assert_responsive(pilot)
                assert_no_traceback(app)
                await pilot.press("q")
    finally:
        lift_blackhole()
        await web.close()
        await hole.close()
