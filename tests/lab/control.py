"""up / down / status / reset / scenario: the lab's verbs, each safe to repeat.

All changes take the lab lock, so parallel pytest sessions on one machine serialise instead
of racing (two ``up``s creating the same container, a reset under a scenario).
"""

from __future__ import annotations

import time
from typing import Any

from tests.lab import configgen, images, scenarios, sshd, stack
from tests.lab.layout import APP_IMAGE, BUSYBOX_IMAGE, SERVERS, Layout
from tests.lab.system import (
    DOCKER_PID,
    LabError,
    docker_answers,
    ensure_dockerd,
    ensure_packages,
    is_root,
    locked,
    read_pid,
    say,
)


def up(layout: Layout | None = None) -> Layout:
    """Everything running in its healthy baseline; a no-op (a few seconds) when it already is."""
    layout = layout or Layout()
    started = time.monotonic()
    if not is_root():
        raise LabError("the lab needs root (apt, dockerd, sshd on loopback)")
    layout.root.mkdir(parents=True, exist_ok=True)
    with locked(layout.lock):
        ensure_packages()
        ensure_dockerd(layout.dockerd_log)
        client = stack.docker_client()
        images.ensure_images(client, layout)
        sshd.ensure_all(layout)
        configgen.write(layout)
        _reset_locked(client, layout)
    say(f"lab up in {time.monotonic() - started:.1f}s (config {layout.config_path})")
    return layout


def reset(layout: Layout | None = None) -> None:
    """Back to the healthy baseline: env files, containers, sshd, no scenario flags."""
    layout = layout or Layout()
    with locked(layout.lock):
        if not docker_answers():
            ensure_dockerd(layout.dockerd_log)
        sshd.ensure_all(layout)
        _reset_locked(stack.docker_client(), layout)


def _reset_locked(client, layout: Layout) -> None:
    stack.converge(client, layout)
    for name in ("crm-backend-1", "crm2-backend-1"):
        code, output = stack.exec_in(client, name, ["rm", "-f", scenarios.FAIL_FLAG])
        if code != 0:
            raise LabError(f"could not clear the migration flag in {name}: {output.strip()}")


def scenario(name: str, layout: Layout | None = None, **options: Any) -> dict[str, Any]:
    layout = layout or Layout()
    if name == "reset":
        reset(layout)
        return {"reset": True}
    try:
        action = scenarios.SCENARIOS[name]
    except KeyError:
        known = ", ".join([*scenarios.SCENARIOS, "reset"])
        raise LabError(f"unknown scenario {name!r}; expected one of: {known}") from None
    with locked(layout.lock):
        return action(stack.docker_client(), layout, **options)


def down(layout: Layout | None = None) -> None:
    """Containers and networks removed, both sshd stopped; dockerd, images, volumes stay."""
    layout = layout or Layout()
    with locked(layout.lock):
        for server in SERVERS:
            sshd.stop_sshd(layout, server.name)
            say(f"sshd {server.name} stopped")
        if docker_answers():
            removed = stack.remove_all(stack.docker_client())
            say(f"removed containers: {', '.join(removed) or 'none'}")


def status(layout: Layout | None = None) -> dict[str, Any]:
    """What runs now, without changing anything; ``ok`` is the healthy baseline."""
    layout = layout or Layout()
    report: dict[str, Any] = {"root": str(layout.root), "config": str(layout.config_path)}
    report["dockerd"] = {"answers": docker_answers(),
                         "pid": read_pid(DOCKER_PID)}
    report["sshd"] = {s.name: {"port": s.port, "pid": sshd.sshd_pid(layout, s.name),
                               "answers": sshd.answers(s.name)} for s in SERVERS}
    ok = report["dockerd"]["answers"] and all(v["answers"] for v in report["sshd"].values())
    if report["dockerd"]["answers"]:
        client = stack.docker_client(timeout=10)
        report["images"] = {n: images.image_exists(client, n)
                            for n in (APP_IMAGE, BUSYBOX_IMAGE)}
        report["containers"] = stack.container_rows(client, layout)
        ok = ok and all(report["images"].values()) and all(
            row["state"] == "running" and row["health"] == "healthy"
            for row in report["containers"])
        baseline = all(stack.read_env(layout, s.project) == stack.baseline_env(layout, s.project)
                       for s in SERVERS) if layout.baseline.exists() else False
        report["env_baseline"] = baseline
        ok = ok and baseline
    report["ok"] = bool(ok)
    return report
