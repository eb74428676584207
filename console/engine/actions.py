"""Actions: restart, migrate and test-login, each refused when unsafe and always audited.

Every action follows the same path: check it may run (``read_only``, one migration per
server, a configured command), write the *intent* to the audit log (no record, no action:
``AuditUnavailable`` becomes a refusal), run it, write the *outcome*. Refusals are raised as
``ActionRefused`` with a sentence for the operator; failures of the action itself come back
as results (``ok=False``) because they are information, not bugs.

**Migrate** runs the configured command in the configured container with ``docker exec``
through the Engine API, or on the host itself (over SSH, or locally) when no container is
set. Output is streamed line by line, stdout and stderr kept apart, to a callback on the
event loop. Cancelling needs the process id, which the Engine API does not give in the
container's namespace, so the command is started as ``sh -c 'echo <marker> $$; exec "$@"'``:
the first stdout line names the pid (and is not shown), and cancel runs ``kill -TERM`` on it
through a second exec, then ``kill -KILL`` if it is still there after a grace period. The
container therefore needs a ``sh``; every image with a migration tool has one. On the host
a small POSIX sh wrapper does the same and also tags each line ``o``/``e`` (through two
fifos) and reports the exit status, because ``Host.stream`` carries stdout only.

**Test-login** POSTs the configured JSON, whose ``${VAR}`` templates are filled from the
console's environment only at send time, from the console or through the server's SSH
connection. The answer is classified (accepted, rejected_401, forbidden, proxy_502,
app_5xx, refused, timeout, ...) and the token decoded without verification (alg, iss,
sub, iat, exp, time left). With ``verify_with_secret`` the named secret is read from
every place it is configured on the server (its env files and its containers' env), used
once to check the signature in each, and dropped: "valid" only when every place agrees.
The password and the secret never leave this module; the token leaves it only as a
12-character preview.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import time
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from console.config import Config, ConfigError, ServerConfig, expand_env_tree
from console.engine import dockerapi
from console.engine.audit import AuditLog, AuditRead, AuditUnavailable
from console.engine.host_api import Host, HostUnavailable
from console.engine.listeners import Listeners
from console.models import ActionResult, utcnow

__all__ = [
    "ActionRefused",
    "ActionService",
    "LoginResult",
    "MigrationRun",
    "OutputLine",
    "SignatureCheck",
    "TokenInfo",
    "classify_login_status",
    "inspect_token",
    "migration_plan",
    "token_preview",
    "verify_signature",
]

log = logging.getLogger(__name__)

PID_MARKER = "@@ops-console-pid"
KILL_GRACE = 5.0
"""Seconds between TERM and KILL when a migration is cancelled."""
END_GRACE = 5.0
"""Seconds to wait for the output to end after KILL before giving up on the process."""
CONNECT_WAIT = 10.0
"""Seconds an action waits for a server that is still connecting before it gives up."""
MAX_LINE = 16 * 1024
KEEP_LINES = 2_000
TOKEN_PREVIEW = 12

# Runs the command in place of the shell, after telling us its pid.
_CONTAINER_WRAPPER = f'echo "{PID_MARKER} $$"; exec "$@"'
# A docker exec'd process leads its own process group, so the group is signalled first
# (children included); busybox's kill takes no "--", hence the bare "-PID".
_KILL_SCRIPT = 'kill -{sig} -"$1" 2>/dev/null || kill -{sig} "$1"'

# On a host: stdout and stderr through two fifos, each line tagged "o " / "e ", the pid as
# "p N" and the exit status as "x N" (Host.stream gives stdout only, and no exit status).
# ``setsid`` (when present) gives the command its own process group, so that a cancel
# reaches the children it spawned too. Without job control a background job would share
# the wrapper's group.
_HOST_WRAPPER = r"""
d=$(mktemp -d "${TMPDIR:-/tmp}/ops-migrate.XXXXXX") || exit 125
trap 'rm -rf "$d"' EXIT
mkfifo "$d/o" "$d/e" || exit 125
tag() { while IFS= read -r l || [ -n "$l" ]; do printf '%s %s\n' "$1" "$l"; done; }
tag o < "$d/o" & a=$!
tag e < "$d/e" & b=$!
s=; if command -v setsid >/dev/null 2>&1; then s=setsid; fi
$s "$@" > "$d/o" 2> "$d/e" < /dev/null &
p=$!
printf 'p %s\n' "$p"
wait "$p"; rc=$?
wait "$a" "$b"
printf 'x %s\n' "$rc"
"""


class ActionRefused(Exception):
    """The console will not run this action; the message says why, for the operator."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class OutputLine:
    """One line of a migration's output. ``stream``: stdout, stderr, or console (ours)."""

    stream: str
    text: str
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What an unverified decode of a JWT says. Claim values are server data: render safely."""

    alg: str
    typ: str | None
    iss: str | None
    sub: str | None
    iat: datetime | None
    exp: datetime | None
    nbf: datetime | None
    claims: tuple[tuple[str, str], ...]  # every claim, name and a short text form

    def time_left(self, now: datetime | None = None) -> float | None:
        if self.exp is None:
            return None
        return (self.exp - (now or utcnow())).total_seconds()

    @property
    def expired(self) -> bool:
        left = self.time_left()
        return left is not None and left <= 0


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The verdict of checking a token against a server secret (never the secret itself).

    ``verdict``: ``valid``, ``invalid`` or ``unavailable`` (could not check: why in ``text``).
    """

    verdict: str
    text: str
    place: str = ""
    places: tuple[tuple[str, str], ...] = ()  # (place, verdict) for every place checked

    @property
    def ok(self) -> bool:
        return self.verdict == "valid"


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


# --------------------------------------------------------------------------- migrate


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """Exactly what ``m`` will run, and where: what the confirmation modal says."""

    server: str
    command: tuple[str, ...]
    container: str | None
    timeout: float
    protected: bool

    @property
    def target(self) -> str:
        return self.container or "host"

    @property
    def where(self) -> str:
        if self.container:
            return f"in container {self.container} on {self.server} (docker exec)"
        return f"on the host {self.server} itself"

    @property
    def command_text(self) -> str:
        return " ".join(_shell_quote(part) for part in self.command)


def _shell_quote(part: str) -> str:
    import shlex

    return shlex.quote(part)


def migration_plan(server: ServerConfig) -> MigrationPlan | None:
    """The plan for ``server`` or None when it has no ``[servers.actions.migrate]``."""
    if server.migrate is None:
        return None
    return MigrationPlan(server=server.name, command=tuple(server.migrate.command),
                         container=server.migrate.container, timeout=server.migrate.timeout,
                         protected=server.protected)


class MigrationRun:
    """A running (or finished) migration: its output so far, its state, and cancel().

    Lives on the event loop. The UI keeps a reference to show the output and elapsed time;
    the engine keeps one per server so that a second migration is refused while it runs.
    """

    def __init__(self, plan: MigrationPlan, user_callback: Callable[[OutputLine], None] | None
                 ) -> None:
        self.plan = plan
        self.started_at = utcnow()
        self._t0 = time.monotonic()
        self._t_end: float | None = None
        self.lines: deque[OutputLine] = deque(maxlen=KEEP_LINES)
        self.dropped_lines = 0
        self.state = "starting"  # starting | running | cancelling | done
        self.exit_status: int | None = None
        self.outcome = ""  # succeeded | failed | cancelled | timeout | error
        self.cancel_reason = ""
        self.pid: str | None = None
        self.pid_known = asyncio.Event()
        self.cancel_requested = asyncio.Event()
        self.finished = asyncio.Event()
        self._listeners: Listeners[OutputLine] = Listeners("migration output")
        if user_callback is not None:
            self._listeners.add(user_callback)

    @property
    def server(self) -> str:
        return self.plan.server

    @property
    def elapsed_s(self) -> float:
        end = self._t_end if self._t_end is not None else time.monotonic()
        return end - self._t0

    @property
    def running(self) -> bool:
        return not self.finished.is_set()

    def cancel(self, reason: str = "cancelled by the operator") -> bool:
        """Ask for the process to be killed; False if it already ended."""
        if self.finished.is_set():
            return False
        if not self.cancel_requested.is_set():
            self.cancel_reason = reason
            self.cancel_requested.set()
        return True

    def subscribe(self, callback: Callable[[OutputLine], None]) -> Callable[[], None]:
        """``callback(line)`` for each line of output from now on (``lines`` has the past)."""
        return self._listeners.add(callback)

    def emit(self, stream: str, text: str) -> None:
        line = OutputLine(stream=stream, text=text, elapsed_s=round(self.elapsed_s, 3))
        if len(self.lines) == self.lines.maxlen:
            self.dropped_lines += 1
        self.lines.append(line)
        self._listeners.emit(line)

    def stderr_tail(self, n: int = 20) -> list[str]:
        return [line.text for line in self.lines if line.stream == "stderr"][-n:]

    def finish(self, outcome: str, exit_status: int | None) -> None:
        self.outcome = outcome
        self.exit_status = exit_status
        self.state = "done"
        self._t_end = time.monotonic()
        self.finished.set()


class _LineSplitter:
    """Bytes in, complete decoded lines out; an over-long line is cut, not buffered forever."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[str]:
        self._buffer += data
        *complete, self._buffer = self._buffer.split(b"\n")
        lines = [_decode_line(part) for part in complete]
        while len(self._buffer) > MAX_LINE:
            lines.append(_decode_line(self._buffer[:MAX_LINE]))
            self._buffer = self._buffer[MAX_LINE:]
        return lines

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, b""
        return [_decode_line(rest)] if rest else []


def _decode_line(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", errors="replace")


class _Execution:
    """One way of running the command (docker exec, host shell); the service drives it."""

    async def start(self) -> None:
        """Begin running; output arrives through the run's ``emit`` from here on."""
        raise NotImplementedError

    async def wait_output_end(self) -> None:
        """Return when the output has ended (the process exited or was killed)."""
        raise NotImplementedError

    async def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process (needs the pid from the wrapper)."""
        raise NotImplementedError

    async def exit_status(self) -> int | None:
        raise NotImplementedError

    async def abandon(self) -> None:
        """Stop reading (the process would not die); release threads and streams."""


class _DockerExec(_Execution):
    """``docker exec`` through the Engine API: stdout and stderr demultiplexed, live."""

    def __init__(self, run: MigrationRun, client: Any, container: str) -> None:
        self.run = run
        self.client = client
        self.container = container
        self.exec_id = ""
        self._stdout = _LineSplitter()
        self._stderr = _LineSplitter()
        self._ended = asyncio.Event()
        self._error: BaseException | None = None
        self._pump: dockerapi.StreamPump | None = None
        self._first_stdout = True

    async def start(self) -> None:
        argv = ["sh", "-c", _CONTAINER_WRAPPER, "ops-console-migrate", *self.run.plan.command]
        created = await dockerapi.run_blocking(self.client.api.exec_create, self.container,
                                               argv, stdout=True, stderr=True, stdin=False,
                                               tty=False)
        self.exec_id = created["Id"]
        api = self.client.api
        self._pump = dockerapi.pump_stream(
            lambda: api.exec_start(self.exec_id, stream=True, demux=True),
            self._on_frame, self._on_end, name=f"migrate:{self.run.server}")
        await self._pump.opened

    def _on_frame(self, frame: Any) -> None:
        out, err = frame if isinstance(frame, tuple) else (frame, None)
        if out:
            for text in self._stdout.feed(out):
                self._stdout_line(text)
        if err:
            for text in self._stderr.feed(err):
                self.run.emit("stderr", text)

    def _stdout_line(self, text: str) -> None:
        if self._first_stdout:
            self._first_stdout = False
            if text.startswith(PID_MARKER + " "):
                self.run.pid = text.split()[-1]
                self.run.pid_known.set()
                return
        self.run.emit("stdout", text)

    def _on_end(self, error: BaseException | None) -> None:
        for text in self._stdout.flush():
            self._stdout_line(text)
        for text in self._stderr.flush():
            self.run.emit("stderr", text)
        self._error = error
        self._ended.set()

    async def wait_output_end(self) -> None:
        await self._ended.wait()
        if self._error is not None:
            raise self._error

    async def signal(self, sig: signal.Signals) -> None:
        if self.run.pid is None:
            return
        script = _KILL_SCRIPT.format(sig=sig.name.removeprefix("SIG"))
        argv = ["sh", "-c", script, "ops-console-kill", self.run.pid]

        def kill() -> None:
            created = self.client.api.exec_create(self.container, argv, stdout=True,
                                                  stderr=True, tty=False)
            self.client.api.exec_start(created["Id"], stream=False)

        await dockerapi.run_blocking(kill)

    async def exit_status(self) -> int | None:
        """The exec's exit code; Docker may need a moment to record it after the stream ends."""
        for _ in range(20):
            info = await dockerapi.run_blocking(self.client.api.exec_inspect, self.exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            await asyncio.sleep(0.1)
        return None

    async def abandon(self) -> None:
        if self._pump is not None:
            self._pump.stop()


class _HostExec(_Execution):
    """The command on the server itself, through ``Host.stream`` and the tagging wrapper."""

    def __init__(self, run: MigrationRun, host: Host) -> None:
        self.run = run
        self.host = host
        self._splitter = _LineSplitter()
        self._status: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stream: Any = None

    async def start(self) -> None:
        argv = ["sh", "-c", _HOST_WRAPPER, "ops-console-migrate", *self.run.plan.command]
        self._stream = self.host.stream(argv)
        self._task = asyncio.create_task(self._read(), name=f"migrate:{self.run.server}")

    async def _read(self) -> None:
        try:
            async for chunk in self._stream:
                for text in self._splitter.feed(chunk):
                    self._line(text)
            for text in self._splitter.flush():
                self._line(text)
        finally:
            with contextlib.suppress(Exception):
                await self._stream.aclose()

    def _line(self, text: str) -> None:
        tag, _, rest = text.partition(" ")
        if tag == "o":
            self.run.emit("stdout", rest)
        elif tag == "e":
            self.run.emit("stderr", rest)
        elif tag == "p" and rest.strip().isdigit():
            self.run.pid = rest.strip()
            self.run.pid_known.set()
        elif tag == "x" and rest.strip().lstrip("-").isdigit():
            self._status = int(rest.strip())
        else:  # the wrapper itself complained (no mktemp, no fifo): show it as is
            self.run.emit("stderr", text)

    async def wait_output_end(self) -> None:
        assert self._task is not None
        await asyncio.shield(self._task)

    async def signal(self, sig: signal.Signals) -> None:
        if self.run.pid is None:
            return
        script = _KILL_SCRIPT.format(sig=sig.name.removeprefix("SIG"))
        await self.host.run(["sh", "-c", script, "ops-console-kill", self.run.pid],
                            timeout=15.0)

    async def exit_status(self) -> int | None:
        return self._status

    async def abandon(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


# --------------------------------------------------------------------------- test-login


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
    if "refused" in text.lower() or _chain_has(exc, ConnectionRefusedError):
        return "refused", "connection refused: nothing listens on that port"
    if isinstance(exc, httpx.ConnectError):
        return "unreachable", f"cannot connect: {text}"
    if isinstance(exc, httpx.HTTPError):
        return "error", f"HTTP error: {text}"
    return "error", f"{type(exc).__name__}: {text}"


def _chain_text(exc: BaseException) -> str:
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).strip()
        if text and text not in parts:
            parts.append(text)
        current = current.__cause__ or current.__context__
    return ": ".join(parts) or type(exc).__name__


def _chain_has(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def token_preview(token: str) -> str:
    """The first 12 characters and an ellipsis: enough to tell tokens apart, not to use one."""
    return token[:TOKEN_PREVIEW] + "…" if len(token) > TOKEN_PREVIEW else "…"


def _claim_time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _claim_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:119] + "…"


def inspect_token(token: str) -> TokenInfo:
    """Decode a JWT *without* verifying it: what the server put in, for the operator to read.

    Raises ``ValueError`` with a plain reason when it is not a JWT at all.
    """
    import jwt

    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ValueError(f"the token is not a readable JWT ({exc})") from None
    if not isinstance(claims, dict):
        raise ValueError("the token's payload is not a JSON object")

    def text(name: str) -> str | None:
        value = claims.get(name)
        return None if value is None else _claim_text(value)

    return TokenInfo(
        alg=str(header.get("alg", "?")),
        typ=None if header.get("typ") is None else str(header.get("typ")),
        iss=text("iss"),
        sub=text("sub"),
        iat=_claim_time(claims.get("iat")),
        exp=_claim_time(claims.get("exp")),
        nbf=_claim_time(claims.get("nbf")),
        claims=tuple((str(k), _claim_text(v)) for k, v in claims.items()),
    )


def verify_signature(token: str, secret: str, place: str = "") -> SignatureCheck:
    """Check only the signature (not expiry): "would a token issued now validate?"."""
    import jwt

    where = f" ({place})" if place else ""
    try:
        alg = str(jwt.get_unverified_header(token).get("alg", ""))
    except jwt.PyJWTError as exc:
        return SignatureCheck("unavailable", f"cannot verify: not a JWT ({exc})", place)
    if alg.lower() == "none":
        return SignatureCheck("invalid", "signature INVALID: the token is unsigned (alg none)",
                              place)
    if not alg.upper().startswith("HS"):
        return SignatureCheck("unavailable",
                              f"cannot verify a {alg} token with a shared secret", place)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            jwt.PyJWS().decode_complete(token, key=secret, algorithms=[alg])
    except jwt.InvalidSignatureError:
        return SignatureCheck("invalid", f"signature INVALID: the secret differs{where}", place)
    except jwt.PyJWTError as exc:
        return SignatureCheck("unavailable", f"cannot verify: {type(exc).__name__}", place)
    return SignatureCheck("valid", f"signature valid{where}", place)


def _token_from(body: Any, token_field: str) -> str | None:
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


def _strings_in(tree: Any) -> list[str]:
    if isinstance(tree, str):
        return [tree]
    if isinstance(tree, Mapping):
        return [s for v in tree.values() for s in _strings_in(v)]
    if isinstance(tree, list | tuple):
        return [s for v in tree for s in _strings_in(v)]
    return []


# --------------------------------------------------------------------------- service

# async (server, name) -> [(place, value or None), ...]; the caller clears the list.
SecretFetcher = Callable[[str, str], Any]
ChangeCallback = Callable[[str], None]


class ActionService:
    """Restart, migrate and test-login over the fleet's hosts, each one audited.

    ``containers`` is the fleet's ContainerService (restart goes through it so its pane shows
    the restart live); ``clients`` the docker client cache (default: the shared one);
    ``audit`` the log (default: ``config.console.audit_log``); ``secret_fetcher`` an
    ``async (server, name) -> [(place, value or None)]`` for signature checks (default:
    read the server's env files and its configured containers' env, see
    ``_check_signature``).
    """

    def __init__(self, config: Config, hosts: Mapping[str, Host], *,
                 containers: Any = None,
                 clients: dockerapi.DockerClients | None = None,
                 audit: AuditLog | None = None,
                 secret_fetcher: SecretFetcher | None = None,
                 http_client_factory: Callable[[Host | None, bool], Any] | None = None,
                 ) -> None:
        self.config = config
        self.hosts = hosts
        self.containers = containers
        self._clients = clients
        self.audit = audit or AuditLog(config.console.audit_log)
        self._secret_fetcher = secret_fetcher
        self._http_client_factory = http_client_factory
        self._migrations: dict[str, MigrationRun] = {}
        self._last: dict[str, dict[str, Any]] = {}
        self._listeners: Listeners[str] = Listeners("actions")

    # -- service protocol ----------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to follow: actions run when asked."""

    async def refresh(self) -> None:
        """Nothing to probe: actions are never run by a refresh."""

    async def stop(self) -> None:
        """Kill running migrations: a console that quits must not leave one unattended."""
        runs = [run for run in self._migrations.values() if run.running]
        for run in runs:
            run.cancel("the console is stopping")
        if runs:
            await asyncio.gather(*(asyncio.wait_for(run.finished.wait(), KILL_GRACE + 2 *
                                                    END_GRACE) for run in runs),
                                 return_exceptions=True)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per server: the running migration (if any) and the last result of each action."""
        result: dict[str, dict[str, Any]] = {}
        for server in self.config.servers:
            entry = dict(self._last.get(server.name, {}))
            run = self._migrations.get(server.name)
            if run is not None:
                entry["running_migration"] = run
            result[server.name] = entry
        return result

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """``callback(server)`` when an action starts or ends on a server."""
        return self._listeners.add(callback)

    def _changed(self, server: str) -> None:
        self._listeners.emit(server)

    @property
    def clients(self) -> dockerapi.DockerClients:
        if self._clients is None:
            shared = getattr(self.containers, "clients", None)
            self._clients = shared if shared is not None else dockerapi.default_clients()
        return self._clients

    @property
    def read_only(self) -> bool:
        return self.config.console.read_only

    def _server(self, name: str) -> ServerConfig:
        try:
            return self.config.server(name)
        except KeyError:
            raise ActionRefused(f"unknown server {name!r}") from None

    def _host(self, name: str) -> Host:
        host = self.hosts.get(name)
        if host is None:
            raise ActionRefused(f"server {name!r} has no connection in this console")
        return host

    async def _up_host(self, name: str, timeout: float | None = None) -> Host:
        """The host, once up: an action asked for right after start-up waits for the link
        (a few seconds) instead of failing; a server that stays down fails with its state."""
        host = self._host(name)
        wait = CONNECT_WAIT if timeout is None else timeout
        if not host.status.is_up and not await host.wait_up(wait):
            raise HostUnavailable(f"{name}: {host.status.describe()}")
        return host

    # -- audit -----------------------------------------------------------------------------

    async def _refuse(self, action: str, server: str, target: str, reason: str) -> NoReturn:
        """Record the refusal (best effort: a refusal changes nothing) and raise it."""
        try:
            await asyncio.to_thread(self.audit.refused, action, server, target, reason)
        except (AuditUnavailable, OSError) as exc:
            log.warning("could not audit a refusal: %s", exc)
        raise ActionRefused(reason)

    async def _intent(self, action: str, server: str, target: str, **details: Any) -> str:
        try:
            return await asyncio.to_thread(self.audit.intent, action, server, target,
                                           **details)
        except AuditUnavailable as exc:
            raise ActionRefused(f"{action} on {server} refused: {exc.strerror}. Nothing was "
                                "run; an action must not run unaudited.") from None

    async def _outcome(self, action_id: str, action: str, server: str, target: str,
                       **fields: Any) -> str:
        """Write the outcome; returns a warning sentence if it could not be written."""
        try:
            await asyncio.to_thread(self.audit.outcome, action_id, action, server, target,
                                    **fields)
        except AuditUnavailable as exc:
            return f"the outcome could not be written to the audit log: {exc.strerror}"
        return ""

    def _mutating_allowed(self, action: str) -> str | None:
        if self.read_only:
            return f"{action} refused: the console is read-only ([console] read_only = true)"
        return None

    async def read_audit(self, limit: int | None = 500) -> AuditRead:
        """The audit log, newest first (for the audit view and ``report``); off the loop."""
        return await asyncio.to_thread(self.audit.read, limit)

    # -- restart ---------------------------------------------------------------------------

    async def restart(self, server: str, container: str) -> ActionResult:
        """Restart one container (id or name) through the ContainerService, audited."""
        cfg = self._server(server)
        label = self._container_label(server, container)
        refusal = self._mutating_allowed("restart")
        if refusal:
            await self._refuse("restart", cfg.name, label, refusal)
        if self.containers is None:
            raise ActionRefused("restart is not available: no container service")
        started = utcnow()
        action_id = await self._intent("restart", cfg.name, label, container_id=container,
                                       protected=cfg.protected)
        try:
            info = await self.containers.restart(server, container)
        except asyncio.CancelledError:
            await asyncio.shield(self._outcome(action_id, "restart", cfg.name, label,
                                               outcome="cancelled", ok=False))
            raise
        except Exception as exc:  # noqa: BLE001 - reported and audited, not raised
            detail = dockerapi.describe_docker_error(exc, cfg.docker_socket)
            warning = await self._outcome(action_id, "restart", cfg.name, label,
                                          outcome="error", ok=False, detail=detail)
            return self._remember(ActionResult("restart", cfg.name, label, False,
                                               _join(detail, warning), None, started, utcnow()))
        state = getattr(info, "state", "gone")
        ok = state in ("running", "restarting")
        detail = f"{label} is {state}" if info is not None else f"{label} is gone"
        warning = await self._outcome(action_id, "restart", cfg.name, label,
                                      outcome="succeeded" if ok else "failed", ok=ok,
                                      detail=detail)
        return self._remember(ActionResult("restart", cfg.name, label, ok,
                                           _join(detail, warning), None, started, utcnow()))

    def _container_label(self, server: str, container: str) -> str:
        find = getattr(self.containers, "find", None)
        info = find(server, container) if callable(find) else None
        return info.name if info is not None else container

    def _remember(self, result: ActionResult) -> ActionResult:
        self._last.setdefault(result.server, {})[result.action] = result
        self._changed(result.server)
        return result

    # -- migrate ---------------------------------------------------------------------------

    def plan(self, server: str) -> MigrationPlan | None:
        """What ``migrate(server)`` would run (for the confirmation), or None if unset."""
        return migration_plan(self._server(server))

    def running_migration(self, server: str) -> MigrationRun | None:
        return self._migrations.get(server)

    def cancel_migration(self, server: str) -> bool:
        run = self._migrations.get(server)
        return run.cancel() if run is not None else False

    async def migrate(self, server: str, on_output: Callable[[OutputLine], None] | None = None,
                      *, on_start: Callable[[MigrationRun], None] | None = None
                      ) -> ActionResult:
        """Run the server's migration to its end, streaming output to ``on_output``.

        ``on_start`` receives the ``MigrationRun`` once it is registered (to cancel it or
        show its elapsed time). Cancelling the awaiting task also kills the process.
        """
        cfg = self._server(server)
        plan = migration_plan(cfg)
        if plan is None:
            raise ActionRefused(f"no migration is configured for {cfg.name} "
                                "([servers.actions.migrate])")
        refusal = self._mutating_allowed("migrate")
        if refusal:
            await self._refuse("migrate", cfg.name, plan.target, refusal)
        busy = self._migrations.get(cfg.name)
        if busy is not None:
            await self._refuse("migrate", cfg.name, plan.target,
                               f"a migration is already running on {cfg.name} (for "
                               f"{busy.elapsed_s:.0f}s); wait for it to end or cancel it")
        run = MigrationRun(plan, on_output)
        self._migrations[cfg.name] = run  # before any await: a second call is refused
        self._changed(cfg.name)
        try:
            return await self._migrate(cfg, run, on_start)
        finally:
            self._migrations.pop(cfg.name, None)
            self._changed(cfg.name)

    async def _migrate(self, cfg: ServerConfig, run: MigrationRun,
                       on_start: Callable[[MigrationRun], None] | None) -> ActionResult:
        plan = run.plan
        action_id = await self._intent("migrate", cfg.name, plan.target,
                                       command=list(plan.command),
                                       where="container" if plan.container else "host",
                                       protected=cfg.protected)
        if on_start is not None:
            on_start(run)
        try:
            detail = await self._execute(cfg, run)
        except asyncio.CancelledError:
            if not run.finished.is_set():
                run.finish("cancelled", run.exit_status)
            await asyncio.shield(self._outcome(
                action_id, "migrate", cfg.name, plan.target, outcome="cancelled", ok=False,
                exit_status=run.exit_status, elapsed_s=round(run.elapsed_s, 3),
                detail="the console stopped waiting; the process was sent TERM"))
            raise
        ok = run.outcome == "succeeded"
        warning = await self._outcome(action_id, "migrate", cfg.name, plan.target,
                                      outcome=run.outcome, ok=ok, exit_status=run.exit_status,
                                      elapsed_s=round(run.elapsed_s, 3), detail=detail)
        if warning:
            run.emit("console", warning)
        return self._remember(ActionResult("migrate", cfg.name, plan.target, ok,
                                           _join(detail, warning), run.exit_status,
                                           run.started_at, utcnow()))

    async def _execute(self, cfg: ServerConfig, run: MigrationRun) -> str:
        """Start, wait for the end / a cancel / the timeout, and settle the outcome."""
        try:
            execution = await self._start_execution(cfg, run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the operator sees why it did not start
            detail = f"could not start: {self._describe(cfg, exc)}"
            run.emit("console", detail)
            run.finish("error", None)
            return detail
        run.state = "running"
        self._changed(cfg.name)
        try:
            ended = await self._wait_end_or_cancel(run, execution)
            if not ended:
                await self._kill(run, execution)
            status = await execution.exit_status()
        except asyncio.CancelledError:
            run.cancel("the console stopped waiting")
            await asyncio.shield(self._kill(run, execution))
            raise
        except Exception as exc:  # noqa: BLE001 - connection lost mid-run, etc.
            detail = f"lost the migration's output: {self._describe(cfg, exc)}"
            run.emit("console", detail)
            await execution.abandon()
            run.finish("error", None)
            return detail
        return self._settle(run, status)

    async def _start_execution(self, cfg: ServerConfig, run: MigrationRun) -> _Execution:
        host = await self._up_host(cfg.name)
        execution: _Execution
        if run.plan.container:
            client = await self.clients.get(host)
            execution = _DockerExec(run, client, run.plan.container)
        else:
            execution = _HostExec(run, host)
        await execution.start()
        return execution

    async def _wait_end_or_cancel(self, run: MigrationRun, execution: _Execution) -> bool:
        """True when the output ended by itself; False on cancel or timeout."""
        end = asyncio.ensure_future(execution.wait_output_end())
        cancel = asyncio.ensure_future(run.cancel_requested.wait())
        try:
            done, _ = await asyncio.wait({end, cancel}, timeout=run.plan.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancel.cancel()
        if end in done:
            end.result()  # re-raise a stream error
            return True
        end.cancel()
        if not done:
            run.cancel(f"timed out after {run.plan.timeout:g} s")
        return False

    async def _kill(self, run: MigrationRun, execution: _Execution) -> None:
        """TERM, then KILL after a grace period, then give up waiting for the output."""
        run.state = "cancelling"
        run.emit("console", f"cancelling: {run.cancel_reason or 'cancel requested'}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.pid_known.wait(), 2.0)
        if run.pid is None:
            run.emit("console", "the process id is not known; stopping the output only")
            await execution.abandon()
            return
        for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, END_GRACE)):
            try:
                await execution.signal(sig)
            except Exception as exc:  # noqa: BLE001 - say so, then try harder
                run.emit("console", f"sending {sig.name} failed: {exc}")
            try:
                await asyncio.wait_for(asyncio.shield(execution.wait_output_end()), grace)
                return
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - the stream broke: the process is gone or lost
                return
        run.emit("console", "the process did not end after KILL; no longer waiting for it")
        await execution.abandon()

    def _settle(self, run: MigrationRun, status: int | None) -> str:
        if run.cancel_requested.is_set():
            outcome = "timeout" if run.cancel_reason.startswith("timed out") else "cancelled"
            detail = f"{run.cancel_reason}; exit status {_status_text(status)}"
        elif status == 0:
            outcome, detail = "succeeded", "exit status 0"
        elif status is None:
            outcome, detail = "error", "the exit status could not be read"
        else:
            outcome, detail = "failed", f"exit status {status}"
            tail = run.stderr_tail(1)
            if tail:
                detail += f": {tail[-1][:200]}"
        run.emit("console", f"{outcome}: {detail} after {run.elapsed_s:.1f}s")
        run.finish(outcome, status)
        return detail

    def _describe(self, cfg: ServerConfig, exc: BaseException) -> str:
        return dockerapi.describe_docker_error(exc, cfg.docker_socket)

    # -- test-login ------------------------------------------------------------------------

    async def test_login(self, server: str) -> LoginResult:
        """POST the configured credentials and inspect the answer; audited, never mutating."""
        cfg = self._server(server)
        action = cfg.test_login
        if action is None:
            raise ActionRefused(f"no test-login is configured for {cfg.name} "
                                "([servers.actions.test_login])")
        try:
            body = expand_env_tree(action.json, f"servers.{cfg.name}.actions.test_login.json")
        except ConfigError as exc:
            await self._refuse("test_login", cfg.name, action.url,
                               f"test-login on {cfg.name}: {exc.message} (needed by "
                               f"{exc.where}); set it in the console's environment")
        sent_values = [v for v in _strings_in(body) if v not in _strings_in(action.json)]
        action_id = await self._intent("test_login", cfg.name, action.url, url=action.url,
                                       sent_from=action.from_,
                                       verify_with_secret=action.verify_with_secret)
        try:
            result = await self._login(cfg, body, sent_values)
        except asyncio.CancelledError:
            await asyncio.shield(self._outcome(action_id, "test_login", cfg.name, action.url,
                                               outcome="cancelled", ok=False))
            raise
        finally:
            del body
        warning = await self._outcome(
            action_id, "test_login", cfg.name, action.url,
            outcome="succeeded" if result.ok else "failed", ok=result.ok,
            status=result.status, klass=result.klass, latency_ms=result.latency_ms,
            signature=result.signature.verdict if result.signature else None,
            detail=result.reason)
        if warning:
            result = dataclasses.replace(result, reason=_join(result.reason, warning))
        self._last.setdefault(cfg.name, {})["test_login"] = result
        self._changed(cfg.name)
        return result

    async def _login(self, cfg: ServerConfig, body: Any, sent_values: list[str]) -> LoginResult:
        action = cfg.test_login
        assert action is not None
        base = {"server": cfg.name, "url": action.url, "from_": action.from_}
        via_server = action.from_ == "server" and not cfg.is_local
        try:
            host = await self._up_host(cfg.name, min(action.timeout, CONNECT_WAIT)) \
                if via_server else self.hosts.get(cfg.name)
            client = self._http_client(host, via_server)
        except (HostUnavailable, ActionRefused) as exc:
            return LoginResult(ok=False, klass="unreachable", reason=str(exc), **base)
        async with client:
            started = time.perf_counter()
            try:
                response = await client.post(action.url, json=body, timeout=action.timeout)
                content = response.content
            except Exception as exc:  # noqa: BLE001 - every failure is a class to show
                klass, reason = _classify_error(exc, action.timeout)
                return LoginResult(ok=False, klass=klass, reason=_scrub(reason, sent_values),
                                   latency_ms=_ms(started), **base)
        latency = _ms(started)
        return await self._inspect_answer(cfg, response.status_code, content, latency,
                                          sent_values, base)

    async def _inspect_answer(self, cfg: ServerConfig, status: int, content: bytes,
                              latency: float, sent_values: list[str],
                              base: dict[str, Any]) -> LoginResult:
        action = cfg.test_login
        assert action is not None
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
            return LoginResult(ok=False, klass=klass, reason=reason, status=status,
                               latency_ms=latency, body_preview=preview, **base)
        try:
            info = inspect_token(token)
        except ValueError as exc:
            return LoginResult(ok=False, klass="bad_token", reason=str(exc), status=status,
                               latency_ms=latency, token_preview=token_preview(token), **base)
        signature = None
        if action.verify_with_secret:
            signature = await self._check_signature(cfg, token, action.verify_with_secret)
        ok = signature is None or signature.verdict != "invalid"
        if signature is not None and signature.verdict == "invalid":
            reason += "; but " + signature.text
        return LoginResult(ok=ok, klass=klass, reason=reason, status=status,
                           latency_ms=latency, token_preview=token_preview(token),
                           token=info, signature=signature, **base)

    def _http_client(self, host: Host | None, via_server: bool) -> Any:
        if self._http_client_factory is not None:
            return self._http_client_factory(host, via_server)
        from console.engine import http_transport

        if via_server:
            if host is None:
                raise HostUnavailable("no connection to this server")
            return http_transport.make_tunnel_client(host)
        return http_transport.make_console_client()

    async def _check_signature(self, cfg: ServerConfig, token: str, name: str
                               ) -> SignatureCheck:
        """Verify against *every* place ``name`` is configured on the server, then drop it.

        Why every place and not just one: the running backend signs with its container's
        env, so checking against that alone almost always says "valid", and checking the env
        file alone misses a container started by hand. The env file is what the next
        restart loads and what other consumers are configured from; a token that fails
        against it is the drift that locked users out in incident 003. So the verdict is
        "valid" only when every place agrees, and an INVALID one names the place.
        """
        try:
            found = await self._fetch_secret_places(cfg, name)
        except Exception as exc:  # noqa: BLE001 - the verdict says why it could not check
            text = str(exc) if isinstance(exc, HostUnavailable) \
                else dockerapi.describe_docker_error(exc)
            return SignatureCheck("unavailable",
                                  f"cannot verify: reading {name} failed ({text})")
        try:
            checks = [verify_signature(token, value, place) for place, value in found if value]
        finally:
            found.clear()  # the values go now; only verdicts and place names remain
        return _combine_checks(cfg.name, name, checks)

    async def _fetch_secret_places(self, cfg: ServerConfig, name: str
                                   ) -> list[tuple[str, str | None]]:
        if self._secret_fetcher is not None:
            return list(await self._secret_fetcher(cfg.name, name))
        return await self._read_secret_places(cfg, name)

    async def _read_secret_places(self, cfg: ServerConfig, name: str
                                  ) -> list[tuple[str, str | None]]:
        """(place, value) for the server's env files, then its configured containers.

        Read fresh each time and never cached: the caller verifies and clears the list.
        The containers are ``[servers.secrets] containers``, else the migration container.
        """
        from console.engine.envfile import parse_env

        host = await self._up_host(cfg.name)
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
            client = await self.clients.get(host)
            for container in containers:
                value = await dockerapi.run_blocking(_container_env_value, client, container,
                                                     name)
                found.append((f"container {container}", value))
        return found


def _combine_checks(server: str, name: str, checks: list[SignatureCheck]) -> SignatureCheck:
    """One verdict from the per-place checks; the text names the places that disagree."""
    if not checks:
        return SignatureCheck("unavailable", f"cannot verify: {name} not found on {server}")
    invalid = [c.place for c in checks if c.verdict == "invalid"]
    valid = [c.place for c in checks if c.verdict == "valid"]
    places = tuple((c.place, c.verdict) for c in checks)
    if invalid:
        text = f"signature INVALID: the secret differs ({name} in {', '.join(invalid)})"
        if valid:
            text += f"; valid with {', '.join(valid)}"
        return SignatureCheck("invalid", text, invalid[0], places)
    if len(valid) == len(checks):
        return SignatureCheck("valid", f"signature valid ({name} in {', '.join(valid)})",
                              valid[0], places)
    other = next(c for c in checks if c.verdict == "unavailable")
    return SignatureCheck(other.verdict, other.text, other.place, places)


def _container_env_value(client: Any, container: str, name: str) -> str | None:
    """One variable from a container's Config.Env (runs in the docker pool)."""
    try:
        data = client.api.inspect_container(container)
    except Exception as exc:  # noqa: BLE001
        if getattr(getattr(exc, "response", None), "status_code", None) == 404:
            return None
        raise
    for item in (data.get("Config") or {}).get("Env") or ():
        key, sep, value = str(item).partition("=")
        if sep and key == name:
            return value
    return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 1)


def _status_text(status: int | None) -> str:
    return "unknown" if status is None else str(status)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
