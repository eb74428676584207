"""Test-login: POST the configured credentials and classify the answer, never mutating.

The configured JSON's ``${VAR}`` templates are filled from the console's environment only
at send time (by the caller), and the request goes from the console or through the
server's SSH connection. The answer is classified (accepted, rejected_401, forbidden,
proxy_502, app_5xx, refused, timeout, ...) and the token decoded without verification.
With ``verify_with_secret`` the named secret is read from every place it is configured on
the server (``read_secret_places``: its env files and its containers' env), used once to
check the signature in each, and dropped. The password and the secret never leave this
module; the token leaves it only as a 12-character preview.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from console.config import ServerConfig, TestLoginAction
from console.engine import dockerapi
from console.engine.actions.audited import ActionRefused
from console.engine.actions.executions import ExecClient
from console.engine.actions.tokens import (
    SignatureCheck,
    TokenInfo,
    combine_checks,
    inspect_token,
    token_preview,
    verify_signature,
)
from console.engine.envfile import parse_env
from console.engine.host_api import Host, HostUnavailable
from console.engine.secrets.status import container_place
from console.engine.shared import chain_has, exception_chain
from console.models import utcnow

if TYPE_CHECKING:
    import httpx

__all__ = [
    "LoginResult",
    "LoginTester",
    "classify_login_status",
    "read_secret_places",
    "strings_in",
]

UpHost = Callable[[str, float], Awaitable[Host]]
"""``await up_host(server, timeout)``: the server's host once its link is up, or raises."""

@dataclass(frozen=True, slots=True)
class LoginResult:
    """One test-login, as shown and audited. No password, no secret, no full token."""

    server: str
    url: str
    from_: str
    ok: bool
    klass: str  # accepted | rejected_401 | forbidden | proxy_502 | app_5xx | refused | ...
    reason: str
    status: int | None = None
    latency_ms: float | None = None
    token_preview: str = ""
    token: TokenInfo | None = None
    signature: SignatureCheck | None = None
    body_preview: str = ""
    checked_at: datetime = field(default_factory=utcnow)

    @property
    def summary(self) -> str:
        parts = [self.klass]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.latency_ms is not None:
            parts.append(f"{self.latency_ms:.0f} ms")
        if self.signature is not None:
            parts.append(self.signature.text)
        return ", ".join(parts)


def classify_login_status(status: int, has_token: bool, token_field: str = "access_token"
                          ) -> tuple[str, str]:
    """(class, reason) for an HTTP answer to a login POST."""
    if 200 <= status < 300:
        if has_token:
            return "accepted", f"login accepted (HTTP {status}), a token was issued"
        return "no_token", f"HTTP {status} but the answer has no {token_field!r} field"
    if status == 401:
        return "rejected_401", "credentials rejected (HTTP 401)"
    if status == 403:
        return "forbidden", "forbidden (HTTP 403): the account or this client is not allowed"
    if status == 502:
        return "proxy_502", "proxy 502 Bad Gateway: the proxy cannot reach the backend"
    if 500 <= status < 600:
        return "app_5xx", f"server error (HTTP {status}) from the application"
    if 300 <= status < 400:
        return "redirect", f"HTTP {status} redirect: the login URL is probably not the API's"
    return "unexpected_status", f"unexpected HTTP {status} for a login"


def _classify_error(exc: BaseException, timeout: float) -> tuple[str, str]:
    """(class, reason) for a login that got no HTTP answer."""
    import httpx

    if isinstance(exc, HostUnavailable):
        return "unreachable", f"server unreachable: {exc}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout", f"no answer within {timeout:g} s"
    text = _chain_text(exc)
    if "refused" in text.lower() or chain_has(exc, ConnectionRefusedError):
        return "refused", "connection refused: nothing listens on that port"
    if isinstance(exc, httpx.ConnectError):
        return "unreachable", f"cannot connect: {text}"
    if isinstance(exc, httpx.HTTPError):
        return "error", f"HTTP error: {text}"
    return "error", f"{type(exc).__name__}: {text}"


def _chain_text(exc: BaseException) -> str:
    parts: list[str] = []
    for item in exception_chain(exc):
        text = str(item).strip()
        if text and text not in parts:
            parts.append(text)
    return ": ".join(parts) or type(exc).__name__


def _token_from(body: object, token_field: str) -> str | None:
    """The token at ``token_field`` (dots walk into objects: ``data.access_token``)."""
    current = body
    for part in token_field.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current if isinstance(current, str) and current else None


def _scrub(text: str, values: Sequence[str]) -> str:
    """Hide anything we sent or were given (an API echoing the request body in an error)."""
    for value in sorted({v for v in values if len(v) >= 3}, key=len, reverse=True):
        text = text.replace(value, "•••")
    return text


def strings_in(tree: object) -> list[str]:
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, Mapping):
        return [s for v in tree.values() for s in strings_in(v)]
    if isinstance(tree, list | tuple):
        return [s for v in tree for s in strings_in(v)]
    return []



@dataclass(frozen=True, slots=True)
class _Target:
    server: str
    url: str
    from_: str


def _result(t: _Target, ok: bool, klass: str, reason: str, *, status: int | None = None,
            latency_ms: float | None = None, preview: str = "", token: TokenInfo | None = None,
            signature: SignatureCheck | None = None, body_preview: str = "") -> LoginResult:
    return LoginResult(server=t.server, url=t.url, from_=t.from_, ok=ok, klass=klass,
                       reason=reason, status=status, latency_ms=latency_ms,
                       token_preview=preview, token=token, signature=signature,
                       body_preview=body_preview)


class LoginTester:
    """Sends one test-login and inspects the answer; the ActionService audits around it."""

    def __init__(self, up_host: UpHost, hosts: Mapping[str, Host],
                 clients: dockerapi.DockerClients, connect_wait: Callable[[], float]) -> None:
        self._up_host = up_host
        self._hosts = hosts
        self._clients = clients
        self._connect_wait = connect_wait

    async def run(self, cfg: ServerConfig, action: TestLoginAction, body: object,
                  sent_values: list[str]) -> LoginResult:
        """POST ``body`` (already filled from the environment); ``sent_values`` are hidden
        from anything the answer echoes."""
        target = _Target(cfg.name, action.url, action.from_)
        via_server = action.from_ == "server" and not cfg.is_local
        try:
            host = await self._up_host(cfg.name, min(action.timeout, self._connect_wait())) \
                if via_server else self._hosts.get(cfg.name)
            client = _http_client(host, via_server)
        except (HostUnavailable, ActionRefused) as exc:
            return _result(target, False, "unreachable", str(exc))
        async with client:
            started = time.perf_counter()
            try:
                response = await client.post(action.url, json=body, timeout=action.timeout)
                content = response.content
            except Exception as exc:  # noqa: BLE001 - every failure is a class to show
                klass, reason = _classify_error(exc, action.timeout)
                return _result(target, False, klass, _scrub(reason, sent_values),
                               latency_ms=_ms(started))
        latency = _ms(started)
        return await self._inspect_answer(cfg, action, target, response.status_code, content,
                                          latency, sent_values)

    async def _inspect_answer(self, cfg: ServerConfig, action: TestLoginAction,
                              target: _Target, status: int, content: bytes, latency: float,
                              sent_values: list[str]) -> LoginResult:
        try:
            parsed = json.loads(content)
        except ValueError:
            parsed = None
        token = _token_from(parsed, action.token_field)
        klass, reason = classify_login_status(status, token is not None, action.token_field)
        hidden = [*sent_values, *([token] if token else [])]
        # scrubbed before it is cut, so a cut can never leave half a password behind
        preview = _scrub(content[:64 * 1024].decode("utf-8", errors="replace"), hidden)[:300]
        if token is None:
            return _result(target, False, klass, reason, status=status, latency_ms=latency,
                           body_preview=preview)
        try:
            info = inspect_token(token)
        except ValueError as exc:
            return _result(target, False, "bad_token", str(exc), status=status,
                           latency_ms=latency, preview=token_preview(token))
        signature = None
        if action.verify_with_secret:
            signature = await self._check_signature(cfg, token, action.verify_with_secret)
        ok = signature is None or signature.verdict != "invalid"
        if signature is not None and signature.verdict == "invalid":
            reason += "; but " + signature.text
        return _result(target, ok, klass, reason, status=status, latency_ms=latency,
                       preview=token_preview(token), token=info, signature=signature)

    async def _check_signature(self, cfg: ServerConfig, token: str, name: str
                               ) -> SignatureCheck:
        """Verify against *every* place ``name`` is configured on the server, then drop it.

        Why every place and not just one: the running backend signs with its container's
        env, so checking against that alone almost always says "valid", and checking the env
        file alone misses a container started by hand. The env file is what the next
        restart loads and what other consumers are configured from; a token that fails
        against it is the drift that locks users out after the next restart. So the verdict
        is "valid" only when every place agrees, and an INVALID one names the place.
        """
        try:
            host = await self._up_host(cfg.name, self._connect_wait())
            found = await read_secret_places(cfg, host, self._clients, name)
        except Exception as exc:  # noqa: BLE001 - the verdict says why it could not check
            text = str(exc) if isinstance(exc, HostUnavailable) \
                else dockerapi.describe_docker_error(exc)
            return SignatureCheck("unavailable",
                                  f"cannot verify: reading {name} failed ({text})")
        try:
            checks = [verify_signature(token, value, place) for place, value in found if value]
        finally:
            found.clear()  # the values go now; only verdicts and place names remain
        return combine_checks(cfg.name, name, checks)


def _http_client(host: Host | None, via_server: bool) -> httpx.AsyncClient:
    from console.engine import http_transport

    if via_server:
        if host is None:
            raise HostUnavailable("no connection to this server")
        return http_transport.make_tunnel_client(host)
    return http_transport.make_console_client()


async def read_secret_places(cfg: ServerConfig, host: Host, clients: dockerapi.DockerClients,
                             name: str) -> list[tuple[str, str | None]]:
    """``[(place, value or None)]`` of secret ``name`` on a server, for a signature check.

    **The single exception to "secret values are dropped at once".** It exists only so that
    test-login can verify a token with the server's signing secret: the caller uses the
    values in memory, never shows, logs, stores or puts them in a message, and clears the
    list as soon as the signature is checked. Nothing is cached: read fresh each time.

    Places, in this order: the server's ``[servers.secrets] env_files`` (an absent or
    unreadable file is left out), then its configured containers (``[servers.secrets]
    containers``, else the migration container), labelled ``container:<name>`` as in the
    secrets pane. A down server raises ``HostUnavailable``.
    """
    found: list[tuple[str, str | None]] = []
    for path in cfg.secrets.env_files:
        try:
            raw = await host.read_file(path)
        except (FileNotFoundError, PermissionError):
            continue
        found.append((path, parse_env(raw, path).get(name)))
    containers = list(cfg.secrets.containers)
    if not containers and cfg.migrate is not None and cfg.migrate.container:
        containers.append(cfg.migrate.container)
    if containers:
        client: ExecClient = await clients.get(host)
        for container in containers:
            value = await dockerapi.run_blocking(_container_env_value, client, container, name)
            found.append((container_place(container), value))
    return found


def _container_env_value(client: ExecClient, container: str, name: str) -> str | None:
    """One variable from a container's Config.Env (runs in the docker pool)."""
    try:
        data = client.api.inspect_container(container)
    except Exception as exc:
        import docker.errors  # in the pool thread: importing docker costs start-up time

        if isinstance(exc, docker.errors.NotFound):
            return None
        raise
    config = data.get("Config")
    env = config.get("Env") if isinstance(config, Mapping) else None
    for item in env if isinstance(env, list) else ():
        key, sep, value = str(item).partition("=")
        if sep and key == name:
            return value
    return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)
