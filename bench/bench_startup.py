"""Benchmark: start-up. Process start to a full frame, and ``ops-console --version``.

**Full frame** (lab config, two servers). A fresh process runs the real ``OpsConsoleApp``
(headless, 160x50, driven by Textual's auto-pilot) and reports the wall clock of the first
frame drawn after every pane is *filled*, meaning, for **each** of the two servers:

- containers: the service's state is ``ok`` with containers listed, and the pane's rows
  show every one of them by name;
- health: every configured endpoint of the server has a result (any verdict), and no pane
  row still says "waiting for the first probe";
- secrets: the service's state is ``ok`` with a check done, and the pane's text names the
  server and every required secret;
- logs: the log service has at least one source for the server and all of them are
  ``following`` (there may be no events, so following is enough).

"First frame" is the refresh after the condition became true (``call_after_refresh``);
the condition is polled every 10 ms. The clock starts just before the parent spawns the
process, so interpreter start-up, imports and config loading are all counted.

Baseline, same run: a bare script in a fresh process that fetches the same data with no
UI and no framework: one asyncssh connection per server, ``docker ps`` and ``docker
inspect`` of the secret containers, the env files, each health URL by a raw GET (through
the SSH connection for ``from = "server"``), and Compose's ``config`` of each project
among the containers (what the secrets pane judges a Compose container by). Target:
console - bare <= 1.0 s (medians).

**--version**: median of several runs of the installed ``ops-console --version``; target
<= 0.3 s. Baseline: ``python -c pass``, the interpreter's own start-up.

    python -m bench.bench_startup
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import figure, is_quick

LAB_CONFIG = Path(os.environ.get("OPS_LAB_ROOT", "/srv/ops-lab")) / "config.toml"
BEYOND_TARGET_S = 1.0
VERSION_TARGET_S = 0.3
FILL_TIMEOUT_S = 45.0
REPO = Path(__file__).resolve().parent.parent


# =========================================================================== the console


def filled(app: Any) -> dict[str, bool | None]:
    """Per pane, whether it shows real data for every server (None: pane not built)."""
    from console.ui.widgets.placeholder import NotBuiltPane

    # Servers set to connect on demand are not connected at start-up: not waited for.
    servers = [s.name for s in app.config.servers if s.connect != "on_demand"]
    fleet = app.fleet
    out: dict[str, bool | None] = {}

    pane = app.pane("containers")
    rows = "\n".join(" ".join(r) for r in pane.row_texts()) if hasattr(pane, "row_texts") \
        else ""
    snap = fleet.containers.snapshot()
    out["containers"] = all(
        s in snap and snap[s].state == "ok" and bool(snap[s].containers)
        and all(c.name in rows for c in snap[s].containers) for s in servers)

    pane = app.pane("health")
    states = fleet.health.snapshot().endpoints
    rows = "\n".join(" ".join(r) for r in pane.row_texts()) if hasattr(pane, "row_texts") \
        else ""
    configured = {(s.name, c.name) for s in app.config.servers for c in s.health
                  if s.name in servers}
    done = {st.key for st in states if st.result is not None}
    out["health"] = configured <= done and bool(rows) and "waiting for the first probe" \
        not in rows

    pane = app.pane("secrets")
    text = "\n".join(pane.plain_lines()) if hasattr(pane, "plain_lines") else ""
    ssnap = fleet.secrets.snapshot().servers
    required = {name for s in app.config.servers for name in s.secrets.required
                if s.name in servers}
    out["secrets"] = all(
        s in ssnap and ssnap[s].state == "ok" and ssnap[s].checked_at is not None
        and s in text for s in servers) and all(name in text for name in required)

    pane = app.pane("logs")
    logs = getattr(fleet, "logs", None)
    if isinstance(pane, NotBuiltPane) or logs is None:
        out["logs"] = None
    else:
        sources = logs.sources()
        out["logs"] = all(
            any(src.server == s for src in sources)
            and all(src.state == "following" for src in sources if src.server == s)
            for s in servers)
    return out


async def _next_frame(app: Any) -> float:
    """Wall clock just after the app's next refresh (the frame that shows the data)."""
    frame: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def drawn() -> None:
        if not frame.done():
            frame.set_result(time.time())

    app.call_after_refresh(drawn)
    return await frame


def child_app(config_path: str) -> None:
    """Child process: run the real app until the full frame; print its wall clock as JSON."""
    from console.config import load_or_default

    config = load_or_default(config_path)
    from console.ui.app import OpsConsoleApp

    app = OpsConsoleApp(config)
    result: dict[str, Any] = {}

    async def pilot_fn(pilot: Any) -> None:
        deadline = time.monotonic() + FILL_TIMEOUT_S
        state = filled(app)
        first: dict[str, float] = {}
        result["pane_filled_at"] = first
        result["mounted_at"] = time.time()
        while not all(v is not False for v in state.values()):
            for pane, ok in state.items():
                if ok and pane not in first:
                    first[pane] = time.time()
            if time.monotonic() > deadline:
                result["error"] = f"not filled after {FILL_TIMEOUT_S:.0f} s: {state}"
                break
            await asyncio.sleep(0.01)
            state = filled(app)
        else:
            result["filled_at"] = time.time()
            result["frame_at"] = await asyncio.wait_for(_next_frame(app), 5)
        result["panes"] = state
        await app.action_quit()

    app.run(headless=True, size=(160, 50), auto_pilot=pilot_fn)
    print("RESULT " + json.dumps(result), flush=True)


# =========================================================================== the bare script


async def _bare_server(server: dict[str, Any]) -> int:
    """Fetch one server's data the plain way; returns the bytes fetched (sanity)."""
    import asyncssh

    conn = await asyncssh.connect(
        server["host"], port=server.get("port", 22), username=server.get("user", "root"),
        client_keys=[server["identity_file"]], known_hosts=server["known_hosts"])
    async with conn:
        jobs = []
        project = server.get("compose_project")
        ps = ["docker", "ps", "-a", "--format", "{{json .}}"]
        if project:
            ps[3:3] = ["--filter", f"label=com.docker.compose.project={project}"]
        jobs.append(conn.run(" ".join(f"'{a}'" for a in ps)))
        secrets = server.get("secrets", {})
        for path in secrets.get("env_files", []):
            jobs.append(conn.run(f"cat '{path}'"))
        for name in secrets.get("containers", []):
            jobs.append(conn.run(f"docker inspect --format '{{{{json .Config.Env}}}}' {name}"))
        for check in server.get("health", []):
            jobs.append(_bare_get(conn, check))
        jobs.append(_bare_compose_configs(conn, ps))
        results = await asyncio.gather(*jobs)
    # a refused probe or a missing container is data too (the console shows it as such)
    return sum(len(item if isinstance(item, bytes) else (item.stdout or item.stderr or ""))
               for item in results)


async def _bare_compose_configs(conn: Any, ps: list[str]) -> bytes:
    """Compose's own ``config`` of every project among the server's containers, as an
    operator would ask it: the plugin, else ``docker-compose``, in the project's directory
    (the secrets pane shows what each service declares, which only Compose knows)."""
    listed = await conn.run(" ".join(f"'{a}'" for a in ps))
    projects: dict[str, str] = {}
    for line in (listed.stdout or "").splitlines():
        labels = dict(item.partition("=")[::2]
                      for item in json.loads(line).get("Labels", "").split(","))
        project = labels.get("com.docker.compose.project")
        directory = labels.get("com.docker.compose.project.working_dir")
        if project and directory:
            projects[project] = directory
    answers = await asyncio.gather(*(conn.run(
        f"cd '{directory}' && (docker compose -p '{project}' config 2>/dev/null || "
        f"docker-compose -p '{project}' config)") for project, directory in projects.items()))
    return b"".join((a.stdout or "").encode() for a in answers)


async def _bare_get(conn: Any, check: dict[str, Any]) -> bytes:
    from urllib.parse import urlsplit

    import asyncssh

    url = urlsplit(check["url"])
    try:
        return await _raw_get(conn, check, url)
    except (OSError, asyncssh.Error) as exc:  # refused, reset: an answer like any other
        return f"error: {exc}".encode()


async def _raw_get(conn: Any, check: dict[str, Any], url: Any) -> bytes:
    if check.get("from", "server") == "server":
        reader, writer = await conn.open_connection(url.hostname, url.port or 80,
                                                    encoding=None)
    else:
        reader, writer = await asyncio.open_connection(url.hostname, url.port or 80)
    writer.write(f"GET {url.path or '/'} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                 "Connection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return data or b"(closed without an answer)"


def child_bare(config_path: str) -> None:
    import tomllib

    data = tomllib.loads(Path(config_path).read_text())

    async def main() -> int:
        sizes = await asyncio.gather(*(_bare_server(s) for s in data["servers"]))
        return sum(sizes)

    size = asyncio.run(main())
    print("RESULT " + json.dumps({"done_at": time.time(), "bytes": size}), flush=True)


# =========================================================================== the parent


def _spawn(mode: str, config: Path) -> tuple[float, dict[str, Any]]:
    """Start a child; (wall clock at spawn, its RESULT dict)."""
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "bench.bench_startup", mode, str(config)],
                          cwd=REPO, capture_output=True, text=True, timeout=90)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"{mode} child failed (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    result = json.loads(line.removeprefix("RESULT "))
    if "error" in result:
        raise RuntimeError(result["error"])
    return started, result


def console_full_frame(config: Path) -> tuple[float, dict[str, Any]]:
    started, result = _spawn("--child-app", config)
    result["timeline_s"] = {"app mounted": round(result["mounted_at"] - started, 3),
                            **{k: round(v - started, 3)
                               for k, v in result["pane_filled_at"].items()},
                            "full frame": round(result["frame_at"] - started, 3)}
    return result["frame_at"] - started, result


def bare_fetch(config: Path) -> float:
    started, result = _spawn("--child-bare", config)
    return result["done_at"] - started


def wall(argv: list[str], runs: int) -> float:
    """Median wall seconds of ``argv`` (after one untimed warm-up run)."""
    subprocess.run(argv, capture_output=True, check=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def version_argv() -> list[str]:
    exe = shutil.which("ops-console")
    return [exe, "--version"] if exe else [sys.executable, "-m", "console", "--version"]


def run(quick: bool | None = None) -> dict[str, Any]:
    quick = is_quick() if quick is None else quick
    repeats = 2 if quick else 3
    if not LAB_CONFIG.exists():
        raise RuntimeError(f"no lab config at {LAB_CONFIG}: run `python -m tests.lab up`")
    bare_fetch(LAB_CONFIG)  # warm-up (page cache, .pyc); not counted
    consoles, bares, panes, timelines = [], [], {}, []
    for _ in range(repeats):  # alternate, so drift in the lab hits both alike
        bares.append(bare_fetch(LAB_CONFIG))
        took, result = console_full_frame(LAB_CONFIG)
        consoles.append(took)
        panes = result["panes"]
        timelines.append(result["timeline_s"])
    console, bare = statistics.median(consoles), statistics.median(bares)
    version = wall(version_argv(), 5 if quick else 9)
    python = wall([sys.executable, "-c", "pass"], 5 if quick else 9)
    not_built = [name for name, ok in panes.items() if ok is None]
    return {
        "figures": [
            figure("full frame beyond the bare fetch (lab, 2 servers)", round(console - bare, 3),
                   "s", target=BEYOND_TARGET_S, op="<=", baseline=round(bare, 3),
                   baseline_label="bare fetch, s",
                   note=f"console {console:.2f} s"
                   + (f"; not built, not waited for: {', '.join(not_built)}" if not_built
                      else "")),
            figure("ops-console --version", round(version, 3), "s", target=VERSION_TARGET_S,
                   op="<=", baseline=round(python, 3), baseline_label="python -c pass, s"),
        ],
        "console_full_frame_s": [round(x, 3) for x in consoles],
        "bare_fetch_s": [round(x, 3) for x in bares],
        "panes": panes,
        "console_timelines_s": timelines,
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child-app":
        child_app(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--child-bare":
        child_bare(sys.argv[2])
    else:
        print(json.dumps(run(), indent=2))
