"""The docker SDK, kept off the event loop: a bounded thread pool and one client per host.

The docker SDK is blocking (requests over a unix socket). Every short call goes through
``run_blocking`` so that a slow or hung daemon ties up one pool thread, never the event
loop. The pool is bounded so that 50 servers refreshing at once queue politely instead of
spawning hundreds of threads.

Long-lived streams (``events()``, ``logs(follow=True)``) would pin a pool thread forever and
starve everyone else, so they get a dedicated daemon thread each through ``pump_stream``.
The SDK offers no way to interrupt a blocked read except closing the stream from another
thread, which is what ``StreamPump.stop()`` does.

Clients are cached per Host in ``DockerClients`` and dropped when the host's connection
leaves ``up``: after a reconnect an SSH host forwards its Docker socket to a *new* local
socket, so a client built for the old URL would fail forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, Protocol, TypeAlias, TypeVar

from console.engine.host_api import Host, HostUnavailable
from console.models import ConnectionStatus

__all__ = [
    "DEFAULT_CLIENT_TIMEOUT",
    "DockerClient",
    "DockerClients",
    "StreamPump",
    "default_clients",
    "describe_docker_error",
    "make_client",
    "pool_size",
    "pump_stream",
    "run_blocking",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

DEFAULT_CLIENT_TIMEOUT = 15.0
"""Seconds a single docker API call may take before it is given up (not streams)."""


def pool_size() -> int:
    """Threads for short docker calls: enough for a fleet, bounded for a 2-core deploy host.

    ``OPS_CONSOLE_DOCKER_THREADS`` overrides it (benchmarks, very large fleets).
    """
    raw = os.environ.get("OPS_CONSOLE_DOCKER_THREADS", "")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return min(16, 4 + 2 * (os.cpu_count() or 1))


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The shared pool, created on first use so importing this module stays cheap."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=pool_size(),
                                       thread_name_prefix="ops-docker")
        return _pool


async def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking docker SDK call in the bounded pool and await its result."""
    loop = asyncio.get_running_loop()
    call = functools.partial(fn, *args, **kwargs)
    return await loop.run_in_executor(_executor(), call)


# --------------------------------------------------------------------------- clients


DockerClient: TypeAlias = Any
"""A ``docker.DockerClient``. docker-py ships no type information, so each service declares
the few calls it makes as a Protocol (``containers.events.ContainerClient``) and reads the
client through it."""


class ClientFactory(Protocol):
    def __call__(self, base_url: str, timeout: float) -> DockerClient: ...


def make_client(base_url: str, timeout: float) -> DockerClient:
    """A real ``docker.DockerClient``. Blocking: it asks the daemon for its API version."""
    import docker  # imported lazily: `ops-console --version` must not pay for it

    return docker.DockerClient(base_url=base_url, timeout=int(timeout), version="auto")


class DockerClients:
    """One docker client per Host, built from ``await host.docker_base_url()`` on demand.

    Shared by every service through ``default_clients()`` so a server has one client (and
    one connection pool) however many panes use it. Tests pass their own instance with a
    fake ``factory``.
    """

    def __init__(self, factory: ClientFactory = make_client,
                 timeout: float = DEFAULT_CLIENT_TIMEOUT) -> None:
        self._factory = factory
        self._timeout = timeout
        self._clients: dict[int, DockerClient] = {}
        self._unsubscribe: dict[int, Callable[[], None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def get(self, host: Host) -> DockerClient:
        """The client for ``host``; raises HostUnavailable when the host is down."""
        key = id(host)
        client = self._clients.get(key)
        if client is not None:
            return client
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            client = self._clients.get(key)
            if client is not None:
                return client
            if not host.status.is_up:
                raise HostUnavailable(f"{host.name}: {host.status.describe()}")
            base_url = await host.docker_base_url()
            client = await run_blocking(self._factory, base_url, self._timeout)
            self._clients[key] = client
            if key not in self._unsubscribe:
                self._unsubscribe[key] = host.add_status_listener(
                    functools.partial(self._on_status, key))
            return client

    def invalidate(self, host: Host) -> None:
        """Forget the host's client (closed in the pool); the next ``get`` builds a new one."""
        self._drop(id(host))

    def _on_status(self, key: int, status: ConnectionStatus) -> None:
        if not status.is_up:
            self._drop(key)

    def _drop(self, key: int) -> None:
        client = self._clients.pop(key, None)
        if client is not None:
            _executor().submit(_close_quietly, client)

    def close(self) -> None:
        """Drop every client and stop listening to the hosts."""
        for key in list(self._clients):
            self._drop(key)
        for unsubscribe in self._unsubscribe.values():
            unsubscribe()
        self._unsubscribe.clear()


class _Closable(Protocol):
    def close(self) -> None: ...


def _close_quietly(client: _Closable) -> None:
    with contextlib.suppress(Exception):
        client.close()


_default_clients: DockerClients | None = None


def default_clients() -> DockerClients:
    """The process-wide client cache that services use unless given their own."""
    global _default_clients
    if _default_clients is None:
        _default_clients = DockerClients()
    return _default_clients


# --------------------------------------------------------------------------- streams


class StreamPump:
    """A blocking docker stream read in its own daemon thread, items handed to the loop.

    ``open_stream`` runs in the thread and returns the SDK's stream (a ``CancellableStream``
    or anything iterable with ``close()``). Each item is passed to ``on_item`` *on the event
    loop*; ``on_end(error)`` is called once on the loop when the stream ends, with the
    exception that ended it or None. ``opened`` resolves when the stream is established (so
    a caller can list state *after* subscribing and miss nothing in between).
    """

    def __init__(self, open_stream: Callable[[], Any], on_item: Callable[[Any], None],
                 on_end: Callable[[BaseException | None], None], *, name: str) -> None:
        self._open_stream = open_stream
        self._on_item = on_item
        self._on_end = on_end
        self._loop = asyncio.get_running_loop()
        self._stream: Any = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self.opened: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> StreamPump:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Close the stream from this thread; the reader thread then ends by itself."""
        self._stopped.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            _close_quietly(stream)

    def _run(self) -> None:
        error: BaseException | None = None
        try:
            stream = self._open_stream()
            with self._lock:
                self._stream = stream
            if self._stopped.is_set():
                _close_quietly(stream)
                return
            self._call_soon(self._set_opened, None)
            for item in _iterate(stream):
                if self._stopped.is_set():
                    break
                self._call_soon(self._on_item, item)
        except BaseException as exc:  # noqa: BLE001 - reported to the loop, not lost
            error = exc
        finally:
            self._call_soon(self._finish, error)

    def _set_opened(self, error: BaseException | None) -> None:
        if not self.opened.done():
            if error is None:
                self.opened.set_result(None)
            else:
                self.opened.set_exception(error)

    def _finish(self, error: BaseException | None) -> None:
        if self._stopped.is_set():
            error = None
        self._set_opened(error or HostUnavailable("the stream ended before it was opened"))
        self._on_end(error)

    def _call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(fn, *args)


def _iterate(stream: Any) -> Iterator[Any]:
    yield from stream


def pump_stream(open_stream: Callable[[], Any], on_item: Callable[[Any], None],
                on_end: Callable[[BaseException | None], None], *, name: str) -> StreamPump:
    """Start a ``StreamPump`` (must be called on the event loop)."""
    return StreamPump(open_stream, on_item, on_end, name=name).start()


# --------------------------------------------------------------------------- errors


def describe_docker_error(exc: BaseException, socket_path: str = "") -> str:
    """One plain sentence for a failed docker call, without a traceback's noise.

    The SDK wraps a missing or refused socket in several layers ("Error while fetching
    server API version: ('Connection aborted.', FileNotFoundError(2, ...))").
    """
    if isinstance(exc, HostUnavailable):
        return str(exc) or "server unreachable"
    text = str(exc)
    where = f" at {socket_path}" if socket_path else ""
    lowered = text.lower()
    if "filenotfounderror" in lowered or "no such file" in lowered:
        return f"Docker socket not found{where}"
    if "permission denied" in lowered or "permissionerror" in lowered:
        return f"permission denied on the Docker socket{where}"
    if "connection refused" in lowered or "connectionrefusederror" in lowered:
        return f"Docker daemon refused the connection{where}"
    if "timed out" in lowered or "timeout" in lowered:
        return f"Docker did not answer in time{where}"
    explanation = getattr(exc, "explanation", None)
    if explanation:
        text = str(explanation)
    text = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"Docker error{where}: {text[:300]}"
