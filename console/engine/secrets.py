"""SecretService: which required secrets exist where, which disagree, and the Docker volumes.

For every server it reads the configured ``.env`` files (``host.read_file``: over SSH for a
remote server) and the ``Config.Env`` of the configured containers (``docker inspect``
through the host's Docker socket), and reports one ``SecretStatus`` per required name and
place: present, missing, empty, weak, not_in_container, differs_from_file.

**Values are dropped as soon as they are classified.** A value lives in a local variable
for the few microseconds between parsing and ``_observe``; what survives is an
``Observation`` (a state word, a weakness reason, and a keyed fingerprint). Fingerprints
are HMAC-SHA256 under a key drawn from ``secrets.token_bytes`` when the service is built:
equal values give equal fingerprints within one run, and a fingerprint says nothing about
the value to anyone without the key, which never leaves the process. Messages (exceptions,
problems, details) are built from fixed words, names, paths and line numbers only. The one
sanctioned exception is ``fetch_secret_for_verification`` (see its docstring).

Zero-config (``SecretsConfig.infer``): the places are each compose project's ``.env``
(found through the ``com.docker.compose.project.working_dir`` label) and the containers
themselves; the required names are the secret-looking names found there (names only).

Volumes: the named volumes each compose project uses (container mounts), declares (volumes
labelled with the project, the compose file's top-level ``volumes:``) or was seen with
earlier in this run, each present or missing. Incident 003 was a deleted database volume:
"gone since 08:01:13" is the line the operator needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import posixpath
import re
import secrets as _random
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from console.config import Config, SecretsConfig, ServerConfig
from console.engine import dockerapi
from console.engine.contracts import Change
from console.engine.envfile import EnvFile, parse_env
from console.engine.host_api import Host, HostUnavailable
from console.engine.listeners import Listeners
from console.models import ConnectionStatus, SecretStatus, utcnow

__all__ = [
    "CONFIG_FILES_LABEL",
    "PROJECT_LABEL",
    "DRIFT_NOTE",
    "STATUSES",
    "WORKING_DIR_LABEL",
    "Fingerprinter",
    "Observation",
    "PlaceProblem",
    "SecretService",
    "ServerSecrets",
    "VolumeStatus",
    "classify_value",
    "container_place",
    "looks_secret",
    "needs_length",
    "secret_status_json",
    "split_drift",
    "weakness",
]

log = logging.getLogger(__name__)

PROJECT_LABEL = "com.docker.compose.project"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
STATUSES = ("present", "missing", "empty", "weak", "not_in_container", "differs_from_file")

MIN_SECRET_LENGTH = 32
REFRESH_INTERVAL = 30.0
CONTAINER_CHANGE_DELAY = 2.0
REFRESH_CONNECT_TIMEOUT = 10.0
SERVER_TIMEOUT = 30.0
ENV_FILE_MAX_BYTES = 1024 * 1024
COMPOSE_FILE_MAX_BYTES = 512 * 1024

Callback = Callable[[str], None]


# =========================================================================== classifying


_LENGTH_WORDS = ("SECRET", "KEY", "TOKEN")
# Names that mention a secret word but hold an identifier, a path or a setting, never
# key material: `ACCESS_TOKEN_EXPIRE_MINUTES=30` is not a weak token.
_SETTING_SUFFIXES = (
    "_ID", "_IDS", "_PATH", "_FILE", "_DIR", "_URL", "_URI", "_NAME", "_HOST", "_PORT",
    "_VERSION", "_ALGORITHM", "_ALGORITHMS", "_ALG", "_TTL", "_EXPIRE", "_EXPIRES",
    "_EXPIRY", "_EXPIRATION", "_LIFETIME", "_MINUTES", "_SECONDS", "_HOURS", "_DAYS",
    "_LENGTH", "_SIZE", "_TYPE", "_HEADER", "_PREFIX", "_ENABLED", "_SHA256", "_FORMAT",
    "_LOCATION", "_ISSUER", "_AUDIENCE", "_FIELD", "_COOKIE", "_REGION",
)
_NOT_SECRET_WORDS = ("PUBLIC", "GPG", "KEYRING", "KEYBOARD", "KEYSPACE", "KEYCLOAK_URL")
_INFER_WORDS = ("SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "PRIVATE",
                "CREDENTIAL", "SIGNING", "SALT", "OAUTH", "KEY")
_INFER_NAMES = frozenset({
    "DATABASE_URL", "DB_URL", "POSTGRES_URL", "MYSQL_URL", "REDIS_URL", "MONGO_URL",
    "MONGO_URI", "MONGODB_URI", "AMQP_URL", "RABBITMQ_URL", "BROKER_URL",
    "CELERY_BROKER_URL", "SENTRY_DSN", "DSN", "SERVICE_ID", "CLIENT_ID",
})
_INFER_SUFFIXES = ("_PASS", "_PWD", "_DSN", "_CLIENT_ID")

_PLACEHOLDERS = frozenset({
    "changeme", "change_me", "change-me", "secret", "secrets", "password", "passwd", "pass",
    "pwd", "admin", "administrator", "root", "test", "testing", "tests", "example",
    "default", "dummy", "sample", "placeholder", "todo", "tbd", "fixme", "xxx", "null",
    "none", "nil", "undefined", "empty", "unset", "foo", "bar", "foobar", "baz", "qwerty",
    "letmein", "welcome", "abc", "abc123", "token", "key", "apikey", "api_key", "api-key",
    "secretkey", "secret_key", "secret-key", "mysecret", "my_secret", "my-secret",
    "mysecretkey", "my_secret_key", "supersecret", "super_secret", "super-secret",
    "supersecretkey", "super_secret_key", "topsecret", "top_secret", "s3cr3t", "s3cret",
    "secr3t", "p@ssw0rd", "passw0rd", "jwtsecret", "jwt_secret", "jwt-secret",
    "jwt_secret_key", "jwtsecretkey", "shhhhh", "shhh", "keyboard cat", "notasecret",
    "insecure", "postgres", "mysql", "redis", "guest", "user", "development", "dev",
    "local", "staging", "production", "prod", "demo", "your-secret", "your_secret",
    "yoursecret", "your-256-bit-secret", "your-secret-key", "your_secret_key",
})
_PLACEHOLDER_PARTS = (
    "changeme", "change-me", "change_me", "change-in-prod", "change_in_prod",
    "changeinprod", "change-this", "change_this", "changethis", "replace-me", "replace_me",
    "replaceme", "replace-with", "replace_with", "insecure", "not-secure", "not_secure",
    "notsecure", "placeholder", "example", "dummy", "do-not-use", "do_not_use",
    "donotuse", "not-a-secret", "not_a_secret",
)
_DEV_PREFIXES = ("dev-", "dev_", "test-", "test_", "local-", "local_", "demo-", "demo_",
                 "sample-", "sample_", "default-", "default_", "django-insecure")
_PLACEHOLDER_PATTERNS = (
    re.compile(r"^your[-_ .].*[-_ .]here$"),
    re.compile(r"^<[^<>]*>$"),
    re.compile(r"^\$\{[^}]*\}$"),
    re.compile(r"^\{\{[^}]*\}\}$"),
    re.compile(r"^\*+$"),
)
_SEQUENCES = ("0123456789abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz0123456789",
              "9876543210", "qwertyuiopasdfghjklzxcvbnm", "1234567890")
_REPEATED = re.compile(r"(.{1,4}?)\1{3,}", re.DOTALL)
_TRAILING_DIGITS = re.compile(r"[\W_]*\d{1,4}$")
_URL_NAME_WORDS = ("URL", "URI", "DSN")


def needs_length(name: str) -> bool:
    """``*SECRET*``, ``*KEY*``, ``*TOKEN*`` names hold key material: 32 characters at least."""
    upper = name.upper()
    if not any(word in upper for word in _LENGTH_WORDS):
        return False
    if any(word in upper for word in _NOT_SECRET_WORDS):
        return False
    return not upper.endswith(_SETTING_SUFFIXES) and not upper.endswith("_KEY_ID")


def looks_secret(name: str) -> bool:
    """The zero-config heuristic: would an operator call this name a secret or credential?"""
    upper = name.upper()
    if upper in _INFER_NAMES or upper.endswith(_INFER_SUFFIXES):
        return True
    if any(word in upper for word in _NOT_SECRET_WORDS):
        return False
    if "OAUTH" in upper:
        return True
    if not any(word in upper for word in _INFER_WORDS):
        return False
    return not upper.endswith(_SETTING_SUFFIXES)


def _is_placeholder(lowered: str) -> bool:
    if lowered in _PLACEHOLDERS:
        return True
    base = _TRAILING_DIGITS.sub("", lowered)
    if base and base in _PLACEHOLDERS:
        return True
    if any(part in lowered for part in _PLACEHOLDER_PARTS):
        return True
    return any(pattern.match(lowered) for pattern in _PLACEHOLDER_PATTERNS)


def weakness(name: str, value: str) -> str | None:
    """Why a non-empty value is weak, in words that reveal nothing of it; None if not weak."""
    stripped = value.strip()
    lowered = stripped.lower()
    if len(set(stripped)) == 1:
        return "one repeated character"
    if "://" in stripped:
        # A URL's host may well be db.example.com: only its password is judged.
        return _url_password_weakness(name, stripped)
    if _is_placeholder(lowered):
        return "a known placeholder or default value"
    if lowered.startswith(_DEV_PREFIXES):
        return "a development or example value"
    if len(lowered) >= 4 and any(lowered in seq for seq in _SEQUENCES):
        return "a keyboard or counting sequence"
    if _REPEATED.fullmatch(stripped):
        return "a short repeated pattern"
    if needs_length(name) and len(stripped) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    return None


def _url_password_weakness(name: str, value: str) -> str | None:
    """DATABASE_URL=postgres://app:postgres@db/app hides a default password inside a URL."""
    if not any(word in name.upper() for word in _URL_NAME_WORDS):
        return None
    try:
        password = urllib.parse.urlsplit(value).password
    except ValueError:
        return None
    if password is None:
        return None
    lowered = urllib.parse.unquote(password).lower()
    if not lowered:
        return "the password inside the URL is empty"
    if _is_placeholder(lowered) or lowered.startswith(_DEV_PREFIXES) \
            or len(set(lowered)) == 1:
        return "the password inside the URL is a known default"
    return None


class Fingerprinter:
    """HMAC-SHA256 under a per-run random key; never a plain hash (a plain hash of a weak
    secret is as good as the secret to anyone with a word list)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else _random.token_bytes(32)

    def __call__(self, name: str, value: str) -> str:
        message = name.encode("utf-8", "surrogateescape") + b"\0" + \
            value.encode("utf-8", "surrogateescape")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:24]

    def __repr__(self) -> str:
        return "Fingerprinter(<per-run key>)"


@dataclass(frozen=True, slots=True)
class Observation:
    """All that is kept of one name in one place once its value is gone.

    ``state``: ``absent`` (no such name), ``bare`` (``NAME`` without ``=``), ``empty``, or
    ``value``; ``weak`` says why a value is weak; ``unresolved``: the value refers to the
    deploying shell (``${X}``), so it is not compared.
    """

    state: str
    fingerprint: str | None = None
    weak: str | None = None
    unresolved: bool = False

    @property
    def has_value(self) -> bool:
        return self.state == "value"

    @property
    def comparable(self) -> bool:
        return self.state == "value" and not self.unresolved


ABSENT = Observation("absent")


def classify_value(name: str, value: str | None, fingerprint: Fingerprinter,
                   unresolved: bool = False) -> Observation:
    """Turn a value into an Observation; the caller drops the value right after."""
    if value is None:
        return Observation("bare")
    if not value.strip():
        return Observation("empty")
    return Observation("value", fingerprint(name, value), weakness(name, value), unresolved)


def _observe(names: Iterable[str], values: Mapping[str, str | None],
             fingerprint: Fingerprinter, unresolved: frozenset[str] = frozenset()
             ) -> dict[str, Observation]:
    """Observations for ``names``; any failure is re-raised without its (value-bearing) text."""
    result: dict[str, Observation] = {}
    for name in names:
        if name not in values:
            result[name] = ABSENT
            continue
        try:
            result[name] = classify_value(name, values[name], fingerprint, name in unresolved)
        except Exception:  # noqa: BLE001 - a message here could quote the value
            raise _Unclassifiable(name) from None
    return result


class _Unclassifiable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: the value could not be classified")


# =========================================================================== snapshot


def container_place(name: str) -> str:
    return f"container:{name}"


@dataclass(frozen=True, slots=True)
class PlaceProblem:
    """A place that could not be (fully) read: the reason in words, never its content."""

    place: str
    message: str
    fatal: bool = True  # False: the place was read, with warnings (invalid .env lines)


@dataclass(frozen=True, slots=True)
class VolumeStatus:
    """A named Docker volume a compose project uses or declares, and whether it exists."""

    server: str
    name: str
    project: str | None
    status: str  # present | missing
    ok: bool
    used_by: tuple[str, ...] = ()
    detail: str = ""
    driver: str = ""
    created_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "project": self.project, "status": self.status,
                "ok": self.ok, "used_by": list(self.used_by), "detail": self.detail,
                "driver": self.driver, "created_at": self.created_at}


@dataclass(frozen=True, slots=True)
class ServerSecrets:
    """One server's part of the snapshot.

    ``state``: ``connecting`` (nothing known yet), ``ok``, or ``unavailable`` (``error``
    says why). After a loss the last results are kept with ``stale=True``.
    """

    server: str
    state: str = "connecting"
    error: str = ""
    statuses: tuple[SecretStatus, ...] = ()
    places: tuple[str, ...] = ()
    problems: tuple[PlaceProblem, ...] = ()
    volumes: tuple[VolumeStatus, ...] = ()
    inferred: bool = False
    stale: bool = False
    since: datetime = field(default_factory=utcnow)
    checked_at: datetime | None = None
    connection: ConnectionStatus | None = None

    @property
    def ok(self) -> bool:
        return (self.state == "ok" and all(s.ok for s in self.statuses)
                and all(v.ok for v in self.volumes)
                and not any(p.fatal for p in self.problems))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.name for s in self.statuses))


def secret_status_json(status: SecretStatus) -> dict[str, Any]:
    """The ``check --json`` shape: no value and no fingerprint, ever."""
    return {"name": status.name, "place": status.place, "status": status.status,
            "ok": status.ok, "detail": status.detail, "drift": status.drift}


# =========================================================================== gathering


@dataclass(slots=True)
class _Place:
    """A place as read, before and after classification (``values`` is cleared)."""

    label: str
    kind: str  # file | container
    values: dict[str, str | None] | EnvFile | None = None
    assigned: frozenset[str] = frozenset()
    unresolved: frozenset[str] = frozenset()
    directory: str | None = None  # compose working_dir (containers) / parent dir (files)
    observations: dict[str, Observation] = field(default_factory=dict)
    readable: bool = True
    missing_file: bool = False

    def drop_values(self) -> None:
        if isinstance(self.values, dict):
            self.values.clear()
        elif isinstance(self.values, EnvFile):
            self.values.discard()
        self.values = None


@dataclass(slots=True)
class _Round:
    """Everything one server check produced (no values)."""

    statuses: list[SecretStatus] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    problems: list[PlaceProblem] = field(default_factory=list)
    volumes: list[VolumeStatus] = field(default_factory=list)
    inferred: bool = False


def _env_list_to_dict(env: Iterable[Any]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for item in env or ():
        text = str(item)
        name, sep, value = text.partition("=")
        values[name] = value if sep else None
    return values


def _container_name(row: Mapping[str, Any]) -> str:
    names = row.get("Names") or []
    if names:
        return str(names[0]).lstrip("/")
    return str(row.get("Name", "")).lstrip("/")


def _labels(row: Mapping[str, Any]) -> Mapping[str, str]:
    labels = row.get("Labels")
    if labels is None:
        labels = (row.get("Config") or {}).get("Labels")
    return labels or {}


def _first_line(text: str, limit: int = 200) -> str:
    text = text.strip()
    return text.splitlines()[0][:limit] if text else ""


def _read_error(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(exc, IsADirectoryError):
        return "cannot be read: it is a directory"
    detail = _first_line(str(exc)) or type(exc).__name__
    return f"cannot be read: {detail}"


# =========================================================================== the service


class _Server:
    """Mutable state for one server; touched on the event loop only."""

    def __init__(self, config: ServerConfig, host: Host) -> None:
        self.config = config
        self.host = host
        self.result: ServerSecrets = ServerSecrets(server=config.name)
        self.seen_volumes: dict[str, tuple[str | None, datetime]] = {}
        self.wake = asyncio.Event()
        self.soon: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()


class SecretService:
    """Secret presence, weakness and drift on every server, plus the volumes.

    ``subscribe(callback)``: ``callback(server_name)`` is called on the event loop when that
    server's part of ``snapshot()`` changed (drift may change other servers' rows too: each
    of them is notified).
    """

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 clients: dockerapi.DockerClients | None = None,
                 containers: Any = None,
                 interval: float = REFRESH_INTERVAL) -> None:
        self.config = config
        self.hosts = hosts
        self.interval = interval
        # The fleet's ContainerService, if any: a recreated container is re-checked within
        # seconds instead of at the next interval (which only has to catch .env edits).
        self._containers = containers
        self._clients = clients
        self._fingerprint = Fingerprinter()
        self._servers: dict[str, _Server] | None = None
        self._listeners: Listeners[str] = Listeners("secrets")
        self._unsubscribe_hosts: list[Callable[[], None]] = []
        self._running = False
        self._view: dict[str, ServerSecrets] | None = None
        self._drift: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"SecretService(servers={list(self.servers)})"

    # -- plumbing ----------------------------------------------------------------------

    @property
    def clients(self) -> dockerapi.DockerClients:
        if self._clients is None:
            self._clients = dockerapi.default_clients()
        return self._clients

    @property
    def servers(self) -> dict[str, _Server]:
        if self._servers is None:
            self._servers = {s.name: _Server(s, self.hosts[s.name])
                             for s in self.config.servers if s.name in self.hosts}
        return self._servers

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """``callback(server)`` on the event loop whenever a server's secrets were checked."""
        return self._listeners.add(callback)

    def _notify(self, servers: Iterable[str]) -> None:
        for name in servers:
            self._listeners.emit(name)

    def snapshot(self) -> dict[str, ServerSecrets]:
        """Per server (config order): statuses with cross-server drift applied. No I/O."""
        if self._view is None:
            self._view, self._drift = _apply_drift(
                {n: st.result for n, st in self.servers.items()}, self._consistent_names())
        return dict(self._view)

    def drift(self) -> dict[str, str]:
        """Per drifting name, which places agree with which ("A = alpha .env, ...; B = ...").

        Names and places only: the groups come from keyed fingerprints, never values.
        """
        self.snapshot()
        return dict(self._drift)

    def statuses(self) -> list[SecretStatus]:
        """Every status of every server, flattened (for ``check`` and ``report``)."""
        return [s for result in self.snapshot().values() for s in result.statuses]

    def _consistent_names(self) -> frozenset[str]:
        return frozenset(n for s in self.config.servers for n in s.secrets.consistent)

    def _publish(self, st: _Server, result: ServerSecrets) -> None:
        before = self.snapshot()
        st.result = result
        self._view = None
        after = self.snapshot()
        changed = [n for n in after if n == st.config.name or after[n] != before.get(n)]
        self._notify(changed)

    # -- life cycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Check every server now and every ``interval`` seconds; returns at once."""
        if self._running:
            return
        self._running = True
        for st in self.servers.values():
            self._unsubscribe_hosts.append(
                st.host.add_status_listener(lambda status, st=st: self._on_host(st, status)))
            if not st.host.status.is_up and st.host.status.detail:
                self._on_host(st, st.host.status)
            st.task = asyncio.create_task(self._loop(st), name=f"secrets:{st.config.name}")
        if self._containers is not None:
            self._unsubscribe_hosts.append(self._containers.subscribe(self._containers_changed))

    async def stop(self) -> None:
        self._running = False
        for unsubscribe in self._unsubscribe_hosts:
            unsubscribe()
        self._unsubscribe_hosts.clear()
        for st in self.servers.values():
            if st.soon is not None:
                st.soon.cancel()
        tasks = [st.task for st in self.servers.values() if st.task and not st.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def refresh(self) -> None:
        """One full round on every server now (``check``/``report``), concurrently."""
        await asyncio.gather(*(self._refresh_server(st, wait=REFRESH_CONNECT_TIMEOUT)
                               for st in self.servers.values()))

    def request_refresh(self, server: str | None = None) -> None:
        """Ask the live loop for a check now (all servers, or one)."""
        for name, st in self.servers.items():
            if server is None or name == server:
                st.wake.set()

    def _containers_changed(self, change: str | Change) -> None:
        """A container of a server changed: re-check it shortly (bursts coalesce)."""
        server = change.server if isinstance(change, Change) else change
        st = self.servers.get(server) if server is not None else None
        if st is None or (st.soon is not None and not st.soon.cancelled()
                          and st.soon.when() > asyncio.get_running_loop().time()):
            return
        st.soon = asyncio.get_running_loop().call_later(CONTAINER_CHANGE_DELAY, st.wake.set)

    def _on_host(self, st: _Server, status: ConnectionStatus) -> None:
        if status.is_up:
            st.wake.set()
            return
        reason = f"server {status.state.value}"
        self._set_unavailable(st, f"{reason}: {status.detail}" if status.detail else reason,
                              status)

    async def _loop(self, st: _Server) -> None:
        while self._running:
            if st.host.status.is_up:
                await self._refresh_server(st, wait=None)
            st.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(st.wake.wait(), self.interval)

    # -- one server --------------------------------------------------------------------

    async def _refresh_server(self, st: _Server, wait: float | None) -> None:
        async with st.lock:
            if wait is not None and not await st.host.wait_up(timeout=wait):
                self._set_unavailable(st, st.host.status.describe(), st.host.status)
                return
            try:
                outcome = await asyncio.wait_for(self._check(st), SERVER_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except HostUnavailable as exc:
                self._set_unavailable(st, _first_line(str(exc)) or "server unreachable",
                                      st.host.status)
                return
            except TimeoutError:
                self._set_unavailable(st, f"no answer within {SERVER_TIMEOUT:g}s",
                                      st.host.status)
                return
            except Exception as exc:  # noqa: BLE001 - shown, and retried next round
                log.debug("secrets check on %s failed: %s", st.config.name, type(exc).__name__)
                self._set_unavailable(st, f"check failed ({type(exc).__name__})",
                                      st.host.status)
                return
            now = utcnow()
            self._publish(st, ServerSecrets(
                server=st.config.name, state="ok", statuses=tuple(outcome.statuses),
                places=tuple(outcome.places), problems=tuple(outcome.problems),
                volumes=tuple(outcome.volumes), inferred=outcome.inferred,
                since=st.result.since if st.result.state == "ok" else now,
                checked_at=now, connection=st.host.status))

    def _set_unavailable(self, st: _Server, error: str,
                         connection: ConnectionStatus | None) -> None:
        old = st.result
        since = old.since if old.state == "unavailable" else utcnow()
        self._publish(st, replace(old, state="unavailable", error=error,
                                  stale=bool(old.statuses or old.volumes), since=since,
                                  connection=connection))

    async def _check(self, st: _Server) -> _Round:
        """Read every place of one server, classify, drop the values, check the volumes."""
        cfg = st.config
        secrets_cfg = cfg.secrets
        outcome = _Round()
        rows, volumes, docker_error = await self._docker_lists(st)
        if docker_error:
            outcome.problems.append(PlaceProblem("docker", docker_error))
        rows = [r for r in rows if _wanted(cfg, r)]
        infer = _infers(secrets_cfg)
        outcome.inferred = infer
        files, containers = self._choose_places(secrets_cfg, rows, infer)
        places: list[_Place] = []
        try:
            places += [p for p in await asyncio.gather(
                *(self._read_file(st, path, outcome, optional=infer) for path in files))
                if p is not None]
            places += [p for p in await asyncio.gather(
                *(self._read_container(st, rows, name, outcome, infer) for name in containers))
                if p is not None]
            names = _infer_names(places) if infer else list(secrets_cfg.required)
            for place in places:
                self._classify(place, names, outcome)
        finally:
            for place in places:
                place.drop_values()
        outcome.statuses = _statuses(cfg.name, names, places, infer)
        shown = {s.place for s in outcome.statuses} | {p.place for p in outcome.problems}
        outcome.places = [p.label for p in places if not infer or p.label in shown]
        outcome.volumes = await self._volumes(st, rows, volumes, docker_error is None)
        return outcome

    def _classify(self, place: _Place, names: list[str], outcome: _Round) -> None:
        if not place.readable:
            return
        try:
            place.observations = _observe(names, place.values or {}, self._fingerprint,
                                          place.unresolved)
        except _Unclassifiable as exc:
            place.readable = False
            outcome.problems.append(PlaceProblem(place.label, str(exc)))

    def _choose_places(self, cfg: SecretsConfig, rows: list[Mapping[str, Any]],
                       infer: bool) -> tuple[list[str], list[str]]:
        """Configured places, or (zero-config / none configured) each project's .env and
        every container."""
        if not infer and (cfg.env_files or cfg.containers):
            return list(cfg.env_files), list(cfg.containers)
        files: list[str] = []
        for row in rows:
            directory = _labels(row).get(WORKING_DIR_LABEL)
            if directory:
                path = posixpath.join(directory, ".env")
                if path not in files:
                    files.append(path)
        return files, [_container_name(r) for r in rows]

    async def _docker_lists(self, st: _Server) -> tuple[list[Any], list[Any], str | None]:
        """All containers and volumes; an error sentence instead when Docker fails."""
        try:
            client = await self.clients.get(st.host)
            rows = await dockerapi.run_blocking(client.api.containers, all=True)
            volumes = await dockerapi.run_blocking(client.api.volumes)
        except HostUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - Docker down is a state, not a crash
            if not st.host.status.is_up:
                raise HostUnavailable(st.host.status.describe()) from None
            self.clients.invalidate(st.host)
            return [], [], dockerapi.describe_docker_error(exc, st.config.docker_socket)
        return list(rows or []), list((volumes or {}).get("Volumes") or []), None

    async def _read_file(self, st: _Server, path: str, outcome: _Round,
                         optional: bool = False) -> _Place | None:
        """Read and parse one env file. ``optional`` (zero-config): a project without a
        ``.env`` is normal, so its absence is not reported."""
        place = _Place(label=path, kind="file", directory=posixpath.dirname(path))
        try:
            data = await st.host.read_file(path, max_bytes=ENV_FILE_MAX_BYTES)
        except HostUnavailable:
            raise
        except FileNotFoundError:
            if optional:
                return None
            place.missing_file = True
            outcome.problems.append(PlaceProblem(path, "file not found", fatal=False))
            return place
        except Exception as exc:  # noqa: BLE001 - unreadable is shown, not raised
            place.readable = False
            outcome.problems.append(PlaceProblem(path, _read_error(exc)))
            return place
        envfile = parse_env(data, path)
        del data
        place.values = envfile
        place.assigned = frozenset(envfile.assigned)
        place.unresolved = envfile.unresolved
        for issue in envfile.issues:
            outcome.problems.append(PlaceProblem(path, f"{issue} (line skipped)", fatal=False))
        return place

    async def _read_container(self, st: _Server, rows: list[Mapping[str, Any]], name: str,
                              outcome: _Round, infer: bool) -> _Place | None:
        label = container_place(name)
        row = next((r for r in rows if _container_name(r) == name), None)
        if row is None:
            if not infer:
                outcome.problems.append(PlaceProblem(label, "no such container"))
            return None
        try:
            client = await self.clients.get(st.host)
            data = await dockerapi.run_blocking(client.api.inspect_container, row["Id"])
        except HostUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001
            outcome.problems.append(PlaceProblem(
                label, dockerapi.describe_docker_error(exc, st.config.docker_socket)))
            return None
        config = data.get("Config") or {}
        env = config.pop("Env", None) or []
        data.clear()
        values = _env_list_to_dict(env)
        env.clear()
        return _Place(label=label, kind="container", values=values,
                      assigned=frozenset(n for n, v in values.items() if v is not None),
                      directory=_labels(row).get(WORKING_DIR_LABEL))

    # -- volumes -------------------------------------------------------------------------

    async def _volumes(self, st: _Server, rows: list[Mapping[str, Any]],
                       volume_docs: list[Mapping[str, Any]], listed: bool
                       ) -> list[VolumeStatus]:
        if not listed:
            return []
        existing = {str(v.get("Name")): v for v in volume_docs if v.get("Name")}
        projects = {p for r in rows if (p := _labels(r).get(PROJECT_LABEL))}
        if st.config.compose_project:
            projects.add(st.config.compose_project)
        expected: dict[str, _Expected] = {}
        for row in rows:
            project = _labels(row).get(PROJECT_LABEL)
            for mount in row.get("Mounts") or []:
                vname = mount.get("Name")
                if mount.get("Type") == "volume" and vname and not _anonymous(vname):
                    entry = expected.setdefault(vname, _Expected(project))
                    entry.used_by.append(_container_name(row))
        for vname, doc in existing.items():
            project = (doc.get("Labels") or {}).get(PROJECT_LABEL)
            if project in projects:
                expected.setdefault(vname, _Expected(project)).declared = "labelled"
        for vname, project, source in await self._compose_declared(st, rows):
            entry = expected.setdefault(vname, _Expected(project))
            entry.declared = entry.declared or f"declared in {source}"
        now = utcnow()
        for vname, (project, _) in st.seen_volumes.items():
            expected.setdefault(vname, _Expected(project))
        result: list[VolumeStatus] = []
        for vname, entry in sorted(expected.items(),
                                   key=lambda kv: (kv[1].project or "\uffff", kv[0])):
            result.append(_volume_status(st, vname, entry, existing.get(vname), now))
        return result

    async def _compose_declared(self, st: _Server, rows: list[Mapping[str, Any]]
                                ) -> list[tuple[str, str | None, str]]:
        """Top-level ``volumes:`` of each project's compose file(s), if they can be read."""
        files: dict[str, str] = {}
        for row in rows:
            labels = _labels(row)
            for path in (labels.get(CONFIG_FILES_LABEL) or "").split(","):
                if path.strip():
                    files.setdefault(path.strip(), labels.get(PROJECT_LABEL) or "")
        found: list[tuple[str, str | None, str]] = []
        for path, project in files.items():
            try:
                text = await st.host.read_file(path, max_bytes=COMPOSE_FILE_MAX_BYTES)
            except HostUnavailable:
                raise
            except Exception:  # noqa: BLE001 - an unreadable compose file only loses a hint
                continue
            for vname in compose_volume_names(text, project):
                found.append((vname, project or None, path))
        return found

    # -- the one exception ------------------------------------------------------------

    async def fetch_secret_for_verification(self, server: str, name: str) -> str | None:
        """The value of ``name`` on ``server``, for checking a JWT signature in memory.

        **The single exception to "values are dropped at once"** (with its sibling
        ``fetch_secret_places_for_verification``). It exists only so that test-login can
        verify a token with the server's signing secret. The caller must use the value in
        memory, never show, log, store or put it in a message, and drop it as soon as the
        signature is checked. Nothing is cached here: the value is read fresh, first from
        the containers (running ones first: they are what actually signs tokens), then from
        the env files. None if it is set nowhere.
        """
        places = await self.fetch_secret_places_for_verification(server, name)
        try:
            ordered = [v for p, v in places if p.startswith("container:")] + \
                [v for p, v in places if not p.startswith("container:")]
            return next((v for v in ordered if v), None)
        finally:
            places.clear()

    async def fetch_secret_places_for_verification(self, server: str, name: str
                                                   ) -> list[tuple[str, str | None]]:
        """``[(place, value or None)]`` for every readable place of ``name`` on ``server``.

        Same contract as ``fetch_secret_for_verification`` (in memory only, cleared by the
        caller right after use). Places are this service's labels: env file paths in config
        order, then ``container:<name>`` (running containers first). Absent or unreadable
        places are left out; a down server raises ``HostUnavailable``.
        """
        st = self.servers[server]
        if not await st.host.wait_up(timeout=REFRESH_CONNECT_TIMEOUT):
            raise HostUnavailable(st.host.status.describe())
        cfg = st.config.secrets
        rows, _, _ = await self._docker_lists(st)
        rows = [r for r in rows if _wanted(st.config, r)]
        files, containers = self._choose_places(cfg, rows, _infers(cfg))
        found: list[tuple[str, str | None]] = []
        for path in files:
            try:
                data = await st.host.read_file(path, max_bytes=ENV_FILE_MAX_BYTES)
            except HostUnavailable:
                raise
            except Exception:  # noqa: BLE001 - an unreadable place is skipped
                continue
            found.append((path, parse_env(data, path).get(name)))
        by_name = {_container_name(r): r for r in rows}
        ordered = sorted((c for c in containers if c in by_name),
                         key=lambda c: by_name[c].get("State") != "running")
        for cname in ordered:
            try:
                client = await self.clients.get(st.host)
                data = await dockerapi.run_blocking(client.api.inspect_container,
                                                    by_name[cname]["Id"])
            except HostUnavailable:
                raise
            except Exception:  # noqa: BLE001 - an unreadable place is skipped
                continue
            env = _env_list_to_dict((data.get("Config") or {}).get("Env") or [])
            found.append((container_place(cname), env.get(name)))
        return found


# =========================================================================== helpers


@dataclass(slots=True)
class _Expected:
    project: str | None
    used_by: list[str] = field(default_factory=list)
    declared: str = ""


_ANONYMOUS = re.compile(r"^[0-9a-f]{64}$")


def _anonymous(name: str) -> bool:
    return bool(_ANONYMOUS.match(name))


def _volume_status(st: _Server, name: str, entry: _Expected, doc: Mapping[str, Any] | None,
                   now: datetime) -> VolumeStatus:
    used_by = tuple(dict.fromkeys(entry.used_by))
    if doc is not None:
        st.seen_volumes.setdefault(name, (entry.project, now))
        detail = f"used by {', '.join(used_by)}" if used_by else "not used by any container"
        return VolumeStatus(server=st.config.name, name=name, project=entry.project,
                            status="present", ok=True, used_by=used_by, detail=detail,
                            driver=str(doc.get("Driver") or ""),
                            created_at=doc.get("CreatedAt"))
    if used_by:
        detail = f"used by {', '.join(used_by)} but absent from docker volume ls"
    elif entry.declared:
        detail = f"{entry.declared} but absent from docker volume ls"
    else:
        _, first = st.seen_volumes.get(name, (None, now))
        detail = (f"seen at {first:%H:%M:%S} UTC earlier in this session; gone now "
                  "(deleted? a recreated volume starts empty)")
    return VolumeStatus(server=st.config.name, name=name, project=entry.project,
                        status="missing", ok=False, used_by=used_by, detail=detail)


def compose_volume_names(text: bytes | str, project: str) -> list[str]:
    """Docker names of the top-level ``volumes:`` in a compose file.

    ``name:`` overrides and ``external`` volumes keep their own name; others are
    ``<project>_<key>`` as compose creates them. Unparseable YAML gives nothing.
    """
    import yaml  # here, not at the top: only a compose file needs it

    try:
        doc = yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - YAML errors quote the document: never re-raise
        return []
    volumes = doc.get("volumes") if isinstance(doc, dict) else None
    if not isinstance(volumes, dict):
        return []
    names: list[str] = []
    for key, spec in volumes.items():
        spec = spec if isinstance(spec, dict) else {}
        explicit = spec.get("name")
        if isinstance(explicit, str) and explicit:
            names.append(explicit)
        elif spec.get("external"):
            names.append(str(key))
        else:
            names.append(f"{project}_{key}" if project else str(key))
    return names


def _infers(cfg: SecretsConfig) -> bool:
    """Zero-config, or a server whose secrets section is empty: infer names and places."""
    return cfg.infer or not (cfg.required or cfg.env_files or cfg.containers)


def _wanted(cfg: ServerConfig, row: Mapping[str, Any]) -> bool:
    project = cfg.compose_project
    return project is None or _labels(row).get(PROJECT_LABEL) == project


def _infer_names(places: list[_Place]) -> list[str]:
    """Secret-looking names assigned anywhere (bare ``NAME`` lines are not trusted: a
    stray pasted value alone on a line would otherwise become a 'name' on screen)."""
    names: dict[str, None] = {}
    for place in places:
        for name in sorted(place.assigned):
            if looks_secret(name) and _plausible_name(name):
                names.setdefault(name, None)
    return list(names)


_NAME_SHAPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")


def _plausible_name(name: str) -> bool:
    return bool(_NAME_SHAPE.match(name))


def _feeding_files(container: _Place, files: list[_Place]) -> list[_Place]:
    """The env files that feed a container: same compose directory when that is known
    (else every file of the server), and sharing at least one name with it (an nginx
    sidecar of the same project gets no env_file, and must not be told it needs a restart).
    """
    readable = [f for f in files if f.readable and not f.missing_file]
    same_dir = [f for f in readable if container.directory and f.directory == container.directory]
    candidates = same_dir or readable
    return [f for f in candidates if f.assigned & container.assigned]


def _statuses(server: str, names: list[str], places: list[_Place], infer: bool
              ) -> list[SecretStatus]:
    files = [p for p in places if p.kind == "file" and p.readable]
    containers = [p for p in places if p.kind == "container"]
    feeds = {c.label: _feeding_files(c, files) for c in containers}
    result: list[SecretStatus] = []
    for name in names:
        for place in files:
            obs = place.observations.get(name, ABSENT)
            if infer and obs.state == "absent":
                continue
            result.append(_file_status(server, name, place, obs))
        for place in containers:
            obs = place.observations.get(name, ABSENT)
            sources = [(f.label, f.observations.get(name, ABSENT)) for f in feeds[place.label]]
            status = _container_status(server, name, place.label, obs, sources)
            if infer and obs.state == "absent" and status.status != "not_in_container":
                continue
            result.append(status)
    return result


def _own_status(server: str, name: str, place: str, obs: Observation) -> SecretStatus:
    if obs.state == "absent":
        return SecretStatus(server, name, place, "missing", False, "not set here")
    if obs.state == "bare":
        return SecretStatus(server, name, place, "empty", False,
                            "listed without a value (NAME with no '=')")
    if obs.state == "empty":
        return SecretStatus(server, name, place, "empty", False, "set to an empty value")
    if obs.weak:
        fingerprint = None if obs.unresolved else obs.fingerprint
        return SecretStatus(server, name, place, "weak", False, obs.weak, fingerprint)
    if obs.unresolved:
        return SecretStatus(server, name, place, "present", True,
                            "uses ${...} from the deploying shell; not compared")
    return SecretStatus(server, name, place, "present", True, "", obs.fingerprint)


def _file_status(server: str, name: str, place: _Place, obs: Observation) -> SecretStatus:
    status = _own_status(server, name, place.label, obs)
    if place.missing_file:
        return replace(status, detail="the file does not exist")
    return status


def _container_status(server: str, name: str, place: str, obs: Observation,
                      sources: list[tuple[str, Observation]]) -> SecretStatus:
    with_value = [(label, o) for label, o in sources if o.has_value]
    if obs.state == "absent" and with_value:
        return SecretStatus(server, name, place, "not_in_container", False,
                            f"set in {with_value[0][0]} but not in the running container: "
                            "recreate it (a plain restart keeps the old environment)")
    comparable = [(label, o) for label, o in with_value if o.comparable]
    if comparable and obs.state in ("empty", "value") and (
            obs.fingerprint not in {o.fingerprint for _, o in comparable}):
        detail = ("empty in the container but" if obs.state == "empty" else "differs from") + \
            f" {comparable[0][0]}" + (" (which has a value)" if obs.state == "empty" else "") + \
            ": recreate the container or fix the file"
        return SecretStatus(server, name, place, "differs_from_file", False, detail,
                            obs.fingerprint)
    return _own_status(server, name, place, obs)


DRIFT_NOTE = "; drift: "


def split_drift(detail: str) -> tuple[str, str]:
    """A status detail split into its own reason and its drift note (either may be '')."""
    if detail.startswith(DRIFT_NOTE[2:]):
        return "", detail[len(DRIFT_NOTE) - 2:]
    base, _, note = detail.partition(DRIFT_NOTE)
    return base, note


def _drift_groups(results: dict[str, ServerSecrets], consistent: frozenset[str]
                  ) -> dict[str, dict[str, list[str]]]:
    """For each drifting name: fingerprint -> the places ("server place") holding it."""
    groups: dict[str, dict[str, list[str]]] = {}
    for result in results.values():
        for status in result.statuses:
            if status.name in consistent and status.fingerprint:
                where = f"{result.server} {_short_place(status.place)}"
                groups.setdefault(status.name, {}).setdefault(status.fingerprint, []).append(
                    where)
    return {name: fps for name, fps in groups.items() if len(fps) > 1}


def _apply_drift(results: dict[str, ServerSecrets], consistent: frozenset[str]
                 ) -> tuple[dict[str, ServerSecrets], dict[str, str]]:
    """Mark ``consistent`` names whose fingerprints differ between places, on all servers.

    Groups of equal values are lettered A, B, ... in config order, so the operator reads
    which places agree ("A: alpha .env, alpha crm-backend-1; B: bravo .env") without any
    value or fingerprint on screen. Returns the marked results and, per drifting name, the
    one-line summary of its groups.
    """
    drifting = _drift_groups(results, consistent) if consistent else {}
    if not drifting:
        return results, {}
    summaries: dict[str, str] = {}
    letters: dict[str, dict[str, str]] = {}
    for name, fps in drifting.items():
        letters[name] = {fp: chr(ord("A") + i) for i, fp in enumerate(fps)}
        summaries[name] = (f"{len(fps)} different values where one is required: " + "; ".join(
            f"{letters[name][fp]} = {', '.join(places)}" for fp, places in fps.items()))
    updated: dict[str, ServerSecrets] = {}
    for server, result in results.items():
        statuses = []
        for status in result.statuses:
            if status.name in drifting and status.fingerprint in letters[status.name]:
                letter = letters[status.name][status.fingerprint]
                note = f"value {letter} here; {summaries[status.name]}"
                detail = f"{status.detail}{DRIFT_NOTE}{note}" if status.detail \
                    else f"{DRIFT_NOTE[2:]}{note}"
                status = replace(status, drift=True, ok=False, detail=detail)
            statuses.append(status)
        updated[server] = replace(result, statuses=tuple(statuses))
    return updated, summaries


def _short_place(place: str) -> str:
    if place.startswith("container:"):
        return place.removeprefix("container:")
    return place
