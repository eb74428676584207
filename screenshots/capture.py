"""Take the README's screenshots: the real app, headless, against the running lab.

    python -m tests.lab up
    python screenshots/capture.py [--config /srv/ops-lab/config.toml] [--only NAME ...]

Each scene puts the lab into one of its incident scenarios (tests/lab/scenarios.py), opens
the console, waits until the panes show what the scene is about, presses the scene's keys
and saves the screen exactly as an operator would see it. The lab is reset afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

LOGIN_URL = "http://127.0.0.1:8080/api/v1/auth/login"


@dataclass(frozen=True)
class Scene:
    name: str
    what: str
    scenario: str = "reset"
    keys: tuple[str, ...] = ()
    ready: Callable[[Any], bool] = field(default=lambda app: True)
    settle: float = 4.0


def _wrong_password() -> None:
    """A failed login through nginx, so the logs pane has a fresh auth event to show."""
    body = json.dumps({"email": "ana@example.com", "password": "wrong"}).encode()
    request = urllib.request.Request(LOGIN_URL, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with contextlib.suppress(OSError):  # the 401 is the point
        urllib.request.urlopen(request, timeout=5).close()


def _fresh_containers() -> None:
    """Recreate the lab's containers, so the logs pane shows this scene's lines and not
    what earlier test runs (floods, numbered lines) left in their logs."""
    from tests.lab import stack
    from tests.lab.layout import Layout

    client, layout = stack.docker_client(), Layout()
    try:
        for name in ("crm-backend-1", "crm-nginx-1", "crm2-backend-1"):
            stack.recreate(client, layout, name)
        deadline = time.monotonic() + 60
        while any(stack.health_of(client.containers.get(name)) != "healthy"
                  for name in ("crm-backend-1", "crm-nginx-1", "crm2-backend-1")):
            if time.monotonic() > deadline:
                raise SystemExit("the lab's containers did not become healthy within 60 s")
            time.sleep(0.5)
    finally:
        client.close()


def _health_says(word: str) -> Callable[[Any], bool]:
    def ready(app: Any) -> bool:
        return any(word in " ".join(row) for row in app.pane("health").row_texts())
    return ready


def _strip_shows(finding_id: str) -> Callable[[Any], bool]:
    """The diagnosis strip holds the finding (and has settled on it)."""
    def ready(app: Any) -> bool:
        from console.ui.widgets.diagnosis_strip import DiagnosisStrip

        strip = app.query_one(DiagnosisStrip)
        return not strip.pending and any(t.finding.id == finding_id
                                         for t in strip.view.active)
    return ready


SCENES = [
    Scene("main", "the lab, healthy, right after a wrong-password login"),
    Scene("incident-502", "the backend stopped: nginx answers 502 (incident 000)",
          scenario="backend-down", ready=_health_says("proxy 502")),
    Scene("secret-drift", "JWT_SECRET edited in .env, container not recreated; t tests a "
          "login and checks the token's signature against every place (incident 003)",
          scenario="env-drift", keys=("t",), settle=5.0),
    Scene("incident-000", "the diagnosis strip: crm-backend-1 stopped behind nginx, fix r "
          "(incident 000)", scenario="backend-down",
          ready=_strip_shows("backend_down_behind_proxy")),
    Scene("incident-002", "the diagnosis strip: crm-backend-1 crash-looping on a missing "
          "JWT_SECRET, fixed by hand, never r (incident 002)", scenario="jwt-crash-loop",
          ready=_strip_shows("crash_loop_missing_secret")),
]


async def _capture(scene: Scene, config_path: str, size: tuple[int, int], out: Path) -> None:
    from console.config import load_config
    from console.ui.app import OpsConsoleApp

    app = OpsConsoleApp(load_config(config_path))
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + 60
        while not (all(part.state == "ok" and part.containers
                       for part in app.fleet.containers.snapshot().values())
                   and scene.ready(app)):
            if time.monotonic() > deadline:
                raise SystemExit(f"{scene.name}: the panes did not fill within 60 s")
            await pilot.pause(0.2)
        if scene.name == "main":
            await asyncio.to_thread(_wrong_password)
        for key in scene.keys:
            await pilot.press(key)
        await pilot.pause(scene.settle)
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="/srv/ops-lab/config.toml")
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--only", nargs="*", help="scene names: " + ", ".join(
        s.name for s in SCENES))
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.lower().split("x"))
    os.environ.setdefault("OPS_LOGIN_USER", "admin@example.com")
    os.environ.setdefault("OPS_LOGIN_PASSWORD", "lab-admin-pass")
    from tests.lab.control import scenario

    try:
        _fresh_containers()
        for scene in SCENES:
            if args.only and scene.name not in args.only:
                continue
            scenario("reset")
            if scene.scenario != "reset":
                scenario(scene.scenario)
            out = HERE / f"{scene.name}.svg"
            asyncio.run(_capture(scene, args.config, (width, height), out))
            print(f"wrote {out}: {scene.what}", file=sys.stderr)
    finally:
        scenario("reset")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
