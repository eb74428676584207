"""Where everything of the lab lives, and the fixed names others code against.

Every path is derived from one root (``/srv/ops-lab``, or ``$OPS_LAB_ROOT``) so a whole lab
can be inspected or wiped with one ``ls``/``rm -r``. The names, ports and credentials here
are the contract described in notes/TEAM.md ("The lab"): change them only with the team.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROOT = "/srv/ops-lab"
APP_DIR = Path(__file__).resolve().parent / "app"

APP_IMAGE = "ops-lab-app:1"
BUSYBOX_IMAGE = "ops-lab-busybox:1"
SUITE = "bookworm"

LOGIN_USER = "admin@example.com"
LOGIN_PASSWORD = "lab-admin-pass"

NGINX_PORT = 8080
BACKEND_PORT = 8000
BACKEND2_PORT = 8001

# Label put on everything the lab creates, so `down` and `status` find only what is ours.
LAB_LABEL = "ops-lab"
SPEC_LABEL = "ops-lab.spec"


@dataclass(frozen=True)
class ServerDef:
    """One lab "server": an sshd on loopback plus the compose project it is meant to watch."""

    name: str
    port: int
    project: str


SERVERS: tuple[ServerDef, ...] = (
    ServerDef("alpha", 2222, "crm"),
    ServerDef("bravo", 2223, "crm2"),
)


def server_def(name: str) -> ServerDef:
    for server in SERVERS:
        if server.name == name:
            return server
    raise KeyError(f"no lab server named {name!r}; expected one of "
                   f"{', '.join(s.name for s in SERVERS)}")


@dataclass(frozen=True)
class Layout:
    """All paths under the lab root."""

    root: Path = field(default_factory=lambda: Path(os.environ.get("OPS_LAB_ROOT")
                                                    or DEFAULT_ROOT))

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def ssh_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def authorized_keys(self) -> Path:
        return self.ssh_dir / "authorized_keys"

    def host_key(self, server: str) -> Path:
        return self.ssh_dir / f"ssh_host_{server}_ed25519"

    def sshd_config(self, server: str) -> Path:
        return self.ssh_dir / f"sshd_{server}.conf"

    def sshd_pid(self, server: str) -> Path:
        return self.root / f"sshd-{server}.pid"

    def sshd_log(self, server: str) -> Path:
        return self.root / f"sshd-{server}.log"

    @property
    def dockerd_log(self) -> Path:
        return self.root / "dockerd.log"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def audit_log(self) -> Path:
        return self.state_dir / "audit.jsonl"

    @property
    def baseline(self) -> Path:
        """The generated healthy secrets, kept so every reset restores the same values."""
        return self.state_dir / "baseline.json"

    @property
    def lock(self) -> Path:
        return self.root / "lab.lock"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    def project_dir(self, project: str) -> Path:
        return self.root / project

    def env_file(self, project: str) -> Path:
        return self.project_dir(project) / ".env"
