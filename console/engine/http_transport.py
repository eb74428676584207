"""httpx clients whose TCP connections are opened *from a server*, through its SSH connection.

Why: a health probe with ``from = "server"`` must see the backend the way the deploy host
sees it (``http://127.0.0.1:8000/health`` on the server), even when the public URL sits
behind nginx or a firewall. ``Host.open_tcp`` gives us a byte stream opened from the server
(an asyncssh direct-tcpip channel for SSH hosts); this module plugs that into httpcore as an
``AsyncNetworkBackend`` so httpx does everything else (HTTP/1.1, keep-alive pools, timeouts)
exactly as it does for ordinary sockets.

TLS over the tunnel: an SSH channel is not an asyncio transport, so ``loop.start_tls`` cannot
be used. ``TLSStream`` runs an ``ssl.SSLObject`` over two ``MemoryBIO`` buffers instead, which
is what asyncio itself does internally. Certificate verification and SNI are the same as for
a direct connection, and the ``ssl_object`` is exposed through ``get_extra_info`` so callers
can read the peer certificate (expiry) exactly as with httpx's own streams.

Requests sent from the console use the same backend over ``asyncio.open_connection``
(``LocalOpener``), so both paths share one classification and one TLS layer, and a new
connection costs about a third less CPU than with httpx's default anyio backend.

Pools are shared: ``ClientPool`` keeps one ``httpx.AsyncClient`` for everything fetched from
the console (and local hosts, where "from the server" is the same place) and one per SSH
server, reused across probe cycles so keep-alive connections survive between rounds. Inside
a client, each origin gets its own small httpcore pool (``PerOriginTransport``): one pool
for hundreds of endpoints costs seconds of CPU per cycle in httpcore's bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import typing
from collections.abc import Callable

import asyncssh
import httpcore
import httpx

from console.engine.host_api import Host, HostUnavailable, TCPReader, TCPWriter

__all__ = [
    "DEFAULT_LIMITS",
    "ClientPool",
    "ContextCache",
    "HostStream",
    "LocalOpener",
    "PerOriginTransport",
    "TCPOpener",
    "TLSStream",
    "TunnelBackend",
    "TunnelTransport",
    "default_ssl_context",
    "make_console_client",
    "make_tunnel_client",
]

# Probes hit many endpoints at once: no cap on concurrent connections (a cap would make 200
# endpoints wait in line and blow the cycle time), and idle connections kept for a while so
# the next cycle reuses them instead of paying a new TCP (and TLS) handshake.
DEFAULT_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=None,
                              keepalive_expiry=30.0)

_READ_CHUNK = 64 * 1024
_CLOSE_GRACE = 1.0  # seconds a close may wait for the peer before we stop caring

_T = typing.TypeVar("_T")

_STREAM_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, asyncssh.Error)


def default_ssl_context() -> ssl.SSLContext:
    """Verification on, CA bundle from ``SSL_CERT_FILE``/``SSL_CERT_DIR`` or certifi.

    Built once per pool: creating an SSLContext loads the whole CA bundle (~10 ms).
    """
    return httpx.create_ssl_context(verify=True, trust_env=True)


# --------------------------------------------------------------------------- streams


class HostStream(httpcore.AsyncNetworkStream):
    """A reader/writer pair from ``Host.open_tcp`` (asyncssh or asyncio) as an httpcore stream.

    asyncssh's ``SSHReader``/``SSHWriter`` and asyncio's ``StreamReader``/``StreamWriter``
    share the methods used here, so the same class serves SSH tunnels and test fakes.
    """

    def __init__(self, reader: TCPReader, writer: TCPWriter, peer: tuple[str, int]) -> None:
        self._reader = reader
        self._writer = writer
        self._peer = peer
        self._closed = False

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout(f"no data from {_peer_text(self._peer)} "
                                       f"within {_secs(timeout)}") from None
        except _STREAM_ERRORS as exc:
            raise httpcore.ReadError(_error_text(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout(f"{_peer_text(self._peer)} did not take the request "
                                        f"within {_secs(timeout)}") from None
        except _STREAM_ERRORS as exc:
            raise httpcore.WriteError(_error_text(exc)) from exc

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._writer.close()
            async with asyncio.timeout(_CLOSE_GRACE):
                await self._writer.wait_closed()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        tls = TLSStream(self, ssl_context, server_hostname)
        try:
            await tls.handshake(timeout)
        except BaseException:
            await self.aclose()
            raise
        return tls

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # httpcore asks this of idle keep-alive connections: "readable" means the peer
            # closed (or sent junk), so the connection is dropped instead of reused.
            return self._closed or self._reader.at_eof()
        if info == "server_addr":
            return self._peer
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        return None


class TLSStream(httpcore.AsyncNetworkStream):
    """TLS client over any httpcore stream, using ``ssl.SSLObject`` and memory BIOs.

    The raw stream's own timeouts and errors pass through; SSL errors during the handshake
    become ``httpcore.ConnectError`` (chained, so the verification reason stays readable)
    and later ones ``ReadError``/``WriteError``.
    """

    def __init__(self, raw: httpcore.AsyncNetworkStream, ssl_context: ssl.SSLContext,
                 server_hostname: str | None) -> None:
        self._raw = raw
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = ssl_context.wrap_bio(self._incoming, self._outgoing, server_side=False,
                                         server_hostname=server_hostname)
        self._eof = False

    async def _flush(self, timeout: float | None) -> None:
        data = self._outgoing.read()
        if data:
            await self._raw.write(data, timeout)

    async def _fill(self, timeout: float | None) -> None:
        data = await self._raw.read(_READ_CHUNK, timeout)
        if data:
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    async def _run(self, op: Callable[[], _T], timeout: float | None) -> _T:
        """Drive one SSL operation, moving bytes between the BIOs and the raw stream."""
        while True:
            try:
                result = op()
            except ssl.SSLWantReadError:
                await self._flush(timeout)
                await self._fill(timeout)
                continue
            await self._flush(timeout)
            return result

    async def handshake(self, timeout: float | None) -> None:
        try:
            await self._run(self._ssl.do_handshake, timeout)
        except ssl.SSLError as exc:
            raise httpcore.ConnectError(_error_text(exc)) from exc
        except httpcore.ReadTimeout as exc:
            raise httpcore.ConnectTimeout(f"TLS handshake not finished within {_secs(timeout)}") \
                from exc
        except (httpcore.ReadError, httpcore.WriteError) as exc:
            raise httpcore.ConnectError(f"connection closed during the TLS handshake: {exc}") \
                from exc

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._eof:
            return b""
        try:
            return await self._run(lambda: self._ssl.read(max_bytes), timeout)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            # A clean close_notify, or a peer that just dropped TCP after its answer (common;
            # httpcore treats it as end of stream, as the anyio backend does).
            self._eof = True
            return b""
        except ssl.SSLError as exc:
            raise httpcore.ReadError(_error_text(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            await self._run(lambda: self._ssl.write(buffer), timeout)
        except ssl.SSLError as exc:
            raise httpcore.WriteError(_error_text(exc)) from exc

    async def aclose(self) -> None:
        # No close_notify round trip: the peer does not need it for HTTP/1.1 with framing,
        # and waiting for its reply could hold a cancelled probe open.
        await self._raw.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("TLS inside TLS (an https proxy) is not supported")

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "ssl_object":
            return self._ssl
        if info == "is_readable":
            return self._eof or bool(self._raw.get_extra_info("is_readable"))
        return self._raw.get_extra_info(info)


# --------------------------------------------------------------------------- backend


class TCPOpener(typing.Protocol):
    """Anything that opens a TCP stream somewhere: a ``Host`` (from the server), or here."""

    name: str

    async def open_tcp(self, host: str, port: int) -> tuple[TCPReader, TCPWriter]: ...


class LocalOpener:
    """TCP connections from this machine, as asyncio streams (``from = "console"``).

    The same backend serves both paths, so a probe is classified by the same code whether
    it was sent from here or through a server; and asyncio streams cost about a third less
    CPU per new connection than httpx's default anyio backend (measured in the bench).
    """

    name = "console"

    async def open_tcp(self, host: str, port: int) -> tuple[TCPReader, TCPWriter]:
        return await asyncio.open_connection(host, port, happy_eyeballs_delay=0.25)


class TunnelBackend(httpcore.AsyncNetworkBackend):
    """Opens every TCP connection through ``opener.open_tcp`` (a Host: from the server).

    ``HostUnavailable`` passes through untouched (the server itself is down, which is a
    different story from the endpoint refusing); other failures become httpcore errors
    chained to the original, so the classifier can read the reason ("Connection refused",
    a resolver message) from the chain.
    """

    def __init__(self, opener: TCPOpener) -> None:
        self.opener = opener

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await self.opener.open_tcp(host, port)
        except HostUnavailable:
            raise
        except TimeoutError:
            raise httpcore.ConnectTimeout(
                f"no TCP connection from {self.opener.name} to {host}:{port} "
                f"within {_secs(timeout)}") from None
        except _STREAM_ERRORS as exc:
            raise httpcore.ConnectError(_error_text(exc)) from exc
        return HostStream(reader, writer, (host, port))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through a host tunnel")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TunnelTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` with its connection pool built on ``TunnelBackend``.

    httpx has no public ``network_backend`` argument, so this sets the one attribute the
    parent's methods use (``_pool``) itself instead of calling the parent's constructor
    (which would build a pool only to throw it away, once per origin); everything else
    (request conversion, exception mapping from httpcore to httpx) is the parent's,
    unchanged. Pinned by ``httpx<1`` in pyproject; a unit test covers the whole path.
    """

    def __init__(self, opener: TCPOpener, *, ssl_context: ssl.SSLContext | None = None,
                 limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        context = ssl_context or default_ssl_context()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=TunnelBackend(opener),
        )


class PerOriginTransport(httpx.AsyncBaseTransport):
    """Routes each request to a connection pool of its own origin (scheme, host, port).

    Why: httpcore's pool scans every connection it holds for every request it assigns, so
    one pool serving 200 endpoints spends seconds of CPU per cycle (measured: 4 s for 200
    concurrent probes). A pool per origin holds one or two connections and keeps that scan
    trivial, while keep-alive reuse per endpoint is unchanged. The number of origins is
    bounded by the configured (and discovered) endpoints.

    ``factory(scheme)`` builds the pool for a new origin.
    """

    def __init__(self, factory: Callable[[bytes], httpx.AsyncBaseTransport]) -> None:
        self._factory = factory
        self._pools: dict[tuple[bytes, bytes, int | None], httpx.AsyncBaseTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = self._factory(url.raw_scheme)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            with contextlib.suppress(Exception):
                await pool.aclose()


class ContextCache:
    """The verifying SSL context, built on the first https origin and then shared.

    Loading the CA bundle costs 20-50 ms of CPU, which a cycle of plain-http probes should
    not pay. Plain-http pools get ``_UNUSED_CONTEXT``: never used for a handshake (the pool
    is per origin, and redirects are not followed), and it trusts nothing if it were.
    """

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self._context = context

    def for_scheme(self, scheme: bytes) -> ssl.SSLContext:
        if scheme != b"https":
            return _unused_context()
        if self._context is None:
            self._context = default_ssl_context()
        return self._context


_UNUSED: list[ssl.SSLContext] = []


def _unused_context() -> ssl.SSLContext:
    if not _UNUSED:
        _UNUSED.append(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))  # no CA loaded: trusts none
    return _UNUSED[0]


# --------------------------------------------------------------------------- clients


def make_console_client(*, ssl_context: ssl.SSLContext | ContextCache | None = None,
                        limits: httpx.Limits = DEFAULT_LIMITS) -> httpx.AsyncClient:
    """An ordinary client for requests sent from this machine.

    ``trust_env=False``: an ``HTTP_PROXY`` in the operator's shell must not silently turn a
    "connection refused" into a proxy's 502. Redirects are not followed: a health endpoint
    that redirects is itself worth seeing.
    """
    contexts = ssl_context if isinstance(ssl_context, ContextCache) \
        else ContextCache(ssl_context)
    opener = LocalOpener()
    transport = PerOriginTransport(lambda scheme: TunnelTransport(
        opener, ssl_context=contexts.for_scheme(scheme), limits=limits))
    return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False)


def make_tunnel_client(host: Host, *, ssl_context: ssl.SSLContext | ContextCache | None = None,
                       limits: httpx.Limits = DEFAULT_LIMITS) -> httpx.AsyncClient:
    """A client whose every connection is opened from ``host`` (through its SSH link)."""
    contexts = ssl_context if isinstance(ssl_context, ContextCache) \
        else ContextCache(ssl_context)
    transport = PerOriginTransport(lambda scheme: TunnelTransport(
        host, ssl_context=contexts.for_scheme(scheme), limits=limits))
    return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False)


class ClientPool:
    """One httpx client per (server, from), shared by every probe and reused across cycles.

    ``client(host, via_server)`` returns the console client when the request is sent from
    here (``from = "console"``) or when "the server" is this machine (a local host); else
    the tunnel client of that host. ``aclose()`` closes them all. One SSL context (CA
    bundle loaded once, on the first https endpoint) serves every client.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None,
                 limits: httpx.Limits = DEFAULT_LIMITS) -> None:
        self._contexts = ContextCache(ssl_context)
        self._limits = limits
        self._console: httpx.AsyncClient | None = None
        self._tunnels: dict[str, httpx.AsyncClient] = {}

    def client(self, host: Host | None, *, via_server: bool) -> httpx.AsyncClient:
        if host is None or not via_server:
            if self._console is None:
                self._console = make_console_client(ssl_context=self._contexts,
                                                    limits=self._limits)
            return self._console
        client = self._tunnels.get(host.name)
        if client is None:
            client = make_tunnel_client(host, ssl_context=self._contexts, limits=self._limits)
            self._tunnels[host.name] = client
        return client

    def discard(self, name: str) -> httpx.AsyncClient | None:
        """Forget a server's tunnel client (its link went down) and return it for closing."""
        return self._tunnels.pop(name, None)

    async def aclose(self) -> None:
        clients = list(self._tunnels.values())
        if self._console is not None:
            clients.append(self._console)
        self._tunnels.clear()
        self._console = None
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()


def _peer_text(peer: tuple[str, int]) -> str:
    return f"{peer[0]}:{peer[1]}"


def _secs(timeout: float | None) -> str:
    return "the time limit" if timeout is None else f"{timeout:g} s"


def _error_text(exc: BaseException) -> str:
    """asyncssh errors carry their text in ``reason``; others in ``str()``."""
    if isinstance(exc, asyncssh.Error) and exc.reason:
        return exc.reason
    return str(exc) or type(exc).__name__
