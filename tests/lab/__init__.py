"""The real test lab: dockerd, two sshd on loopback, a compose-labelled CRM app, scenarios.

Use it from tests through the session fixture ``lab`` (tests/conftest.py), which returns a
``LabInfo``; by hand with ``python -m tests.lab up|down|status|scenario NAME|reset``.
The layout and names are described in notes/TEAM.md ("The lab") and tests/lab/README.md.

Importing this package is cheap (no docker, no subprocess): the heavy work happens in
``ensure_lab()`` / ``LabInfo`` methods only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lab.layout import (
    APP_IMAGE,
    BACKEND2_PORT,
    BACKEND_PORT,
    BUSYBOX_IMAGE,
    LOGIN_PASSWORD,
    LOGIN_USER,
    NGINX_PORT,
    SERVERS,
    Layout,
)
from tests.lab.system import DOCKER_SOCKET, LabError

__all__ = [
    "APP_IMAGE",
    "BUSYBOX_IMAGE",
    "LOGIN_PASSWORD",
    "LOGIN_USER",
    "LabError",
    "LabInfo",
    "LabUnavailable",
    "ensure_lab",
]


class LabUnavailable(LabError):
    """The lab could not be brought up here; the message is the reason (for skip/fail)."""


@dataclass
class LabInfo:
    """Where the running lab is, and the few controls tests need.

    ``ports``, ``env_files`` and ``projects`` are keyed by server name ("alpha", "bravo").
    """

    root: Path
    config_path: Path
    ssh_key: Path
    known_hosts: Path
    ports: dict[str, int]
    nginx_url: str
    backend_url: str
    backend2_url: str
    env_files: dict[str, Path]
    projects: dict[str, str] = field(default_factory=lambda: {s.name: s.project
                                                              for s in SERVERS})
    login_user: str = LOGIN_USER
    login_password: str = LOGIN_PASSWORD
    docker_socket: str = DOCKER_SOCKET
    audit_log: Path | None = None

    @classmethod
    def from_layout(cls, layout: Layout) -> LabInfo:
        return cls(
            root=layout.root,
            config_path=layout.config_path,
            ssh_key=layout.ssh_key,
            known_hosts=layout.known_hosts,
            ports={s.name: s.port for s in SERVERS},
            nginx_url=f"http://127.0.0.1:{NGINX_PORT}",
            backend_url=f"http://127.0.0.1:{BACKEND_PORT}",
            backend2_url=f"http://127.0.0.1:{BACKEND2_PORT}",
            env_files={s.name: layout.env_file(s.project) for s in SERVERS},
            audit_log=layout.audit_log,
        )

    @property
    def layout(self) -> Layout:
        return Layout(self.root)

    # -- controls -----------------------------------------------------------------------

    def scenario(self, name: str, **options: Any) -> dict[str, Any]:
        """Put the lab into an incident state; returns what was done (see scenarios.py).

        Names: backend-down, secret-missing, jwt-missing, jwt-drift, env-drift, weak-secret,
        migration-fail (server=), log-flood (lines=, rate=, tag=, server=, wait=), reset.
        """
        from tests.lab import control

        return control.scenario(name, self.layout, **options)

    def reset(self) -> None:
        """Healthy baseline again (a no-op of about a second when nothing changed)."""
        from tests.lab import control

        control.reset(self.layout)

    def stop_sshd(self, name: str, drop_sessions: bool = True) -> None:
        """Stop a server's sshd; by default its open sessions die too, like a lost host."""
        from tests.lab import sshd
        from tests.lab.system import locked

        with locked(self.layout.lock):
            sshd.stop_sshd(self.layout, name, drop_sessions=drop_sessions)

    def start_sshd(self, name: str) -> int:
        """Start a server's sshd again (same host key); returns its pid once it answers."""
        from tests.lab import sshd
        from tests.lab.system import locked

        with locked(self.layout.lock):
            return sshd.start_sshd(self.layout, name)

    def sshd_pid(self, name: str) -> int | None:
        from tests.lab import sshd

        return sshd.sshd_pid(self.layout, name)

    @contextlib.contextmanager
    def sshd_stopped(self, name: str) -> Iterator[None]:
        """``with lab.sshd_stopped("alpha"): ...``: sshd is back afterwards, whatever happens."""
        self.stop_sshd(name)
        try:
            yield
        finally:
            self.start_sshd(name)

    # -- inspection ---------------------------------------------------------------------

    def docker(self):
        """A docker SDK client on the lab's daemon (blocking: use it from threads in async)."""
        from tests.lab.stack import docker_client

        return docker_client()

    def env(self, name: str) -> dict[str, str]:
        """The parsed .env of a server's project, as it is on disk now (test use only)."""
        from tests.lab.stack import parse_env

        return parse_env(self.env_files[name].read_text())

    def load_config(self):
        """The generated config parsed by the console's own loader."""
        from console.config import load_config

        return load_config(self.config_path)


_CACHED: LabInfo | None = None


def ensure_lab() -> LabInfo:
    """Bring the lab up (or confirm it is up) once per process; raise LabUnavailable if not.

    As root this runs ``up`` (installing and starting what is missing, then the healthy
    baseline). Not as root, an already running lab is accepted as it is.
    """
    global _CACHED
    if _CACHED is not None:
        return _CACHED
    from tests.lab import control

    layout = Layout()
    try:
        if os.geteuid() == 0:
            control.up(layout)
        else:
            report = control.status(layout)
            if not report["ok"]:
                raise LabError("not root, and the lab is not already up and healthy")
    except LabUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure is a reason to report, not a crash
        raise LabUnavailable(f"{type(exc).__name__}: {exc}") from exc
    _CACHED = LabInfo.from_layout(layout)
    return _CACHED
