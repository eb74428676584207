"""Two servers configured like the lab for the secrets service, over fake hosts and Docker."""

from __future__ import annotations

from pathlib import Path

from console.config import Config, ConsoleSettings, SecretsConfig, ServerConfig
from console.engine.secrets import SecretService
from tests.support.docker import FakeDaemon, fake_clients
from tests.support.hosts import FakeHost

STRONG = "k5Qe7vJm2TzR9wLx8cNa4bHd6gFs1yUp0iOo3eWq"  # 40 random-looking characters
STRONG2 = "Zp8xQ2mV7nB4cK9wL1sD6fG3hJ5tR0yUiOaEeWqT"


def env_bytes(values: dict[str, str]) -> bytes:
    return "".join(f"{k}={v}\n" for k, v in values.items()).encode()


def config_of(*servers: ServerConfig) -> Config:
    return Config(console=ConsoleSettings(audit_log=Path("/nonexistent/audit.jsonl")),
                  servers=servers, source=Path("/fake/config.toml"))


class World:
    """Two servers alpha/bravo with crm/crm2 projects, configured like the lab."""

    def __init__(self, *, consistent: tuple[str, ...] = ("JWT_SECRET",),
                 required: tuple[str, ...] = ("JWT_SECRET", "DATABASE_URL", "SERVICE_SECRET"),
                 ) -> None:
        self.alpha_env = {"JWT_SECRET": STRONG, "DATABASE_URL": "sqlite:////data/app.db",
                          "SERVICE_SECRET": STRONG2}
        self.bravo_env = dict(self.alpha_env)
        self.hosts = {"alpha": FakeHost("alpha"), "bravo": FakeHost("bravo")}
        self.daemons = {"alpha": FakeDaemon(), "bravo": FakeDaemon()}
        secrets_a = SecretsConfig(env_files=("/srv/crm/.env",), containers=("crm-backend-1",),
                                  required=required, consistent=consistent)
        secrets_b = SecretsConfig(env_files=("/srv/crm2/.env",),
                                  containers=("crm2-backend-1",), required=required,
                                  consistent=consistent)
        self.config = config_of(
            ServerConfig(name="alpha", host="10.0.0.1", secrets=secrets_a),
            ServerConfig(name="bravo", host="10.0.0.2", secrets=secrets_b))
        self.sync()

    def sync(self, container_alpha: dict[str, str] | None = None,
             container_bravo: dict[str, str] | None = None) -> None:
        """Write the env files and (re)create the containers from them, like compose up."""
        self.hosts["alpha"].files["/srv/crm/.env"] = env_bytes(self.alpha_env)
        self.hosts["bravo"].files["/srv/crm2/.env"] = env_bytes(self.bravo_env)
        alpha, bravo = self.daemons["alpha"], self.daemons["bravo"]
        alpha.docs.clear()
        bravo.docs.clear()
        alpha.add("crm-backend-1", container_alpha or self.alpha_env, mounts=["crm_dbdata"])
        alpha.add("crm-nginx-1", {"NGINX_VERSION": "1.22"})
        bravo.add("crm2-backend-1", container_bravo or self.bravo_env, project="crm2",
                  working_dir="/srv/crm2", mounts=["crm2_dbdata"])
        alpha.volume("crm_dbdata", "crm")
        bravo.volume("crm2_dbdata", "crm2")

    def service(self) -> SecretService:
        return SecretService(self.config, self.hosts, clients=fake_clients(self.daemons))
