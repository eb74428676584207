"""Small local servers a test drives: HTTP/1.1 answers it chooses, a login endpoint, TLS.

``HTTPServer`` and ``serve`` answer with the bytes a responder returns (or never answer);
``LoginServer`` reads a JSON login body and answers what its handler says; ``CertFactory``
issues a throwaway CA and leaf certificates for HTTPS servers; ``FaultHTTPServer``'s paths
misbehave on demand (never-ending bodies, a trickle) until told to heal.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

Responder = Callable[[bytes], Awaitable[bytes | None]]


def http_response(status: int, body: bytes | str = b"", headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> bytes:
    """A complete HTTP/1.1 response with Content-Length (keep-alive friendly)."""
    if isinstance(body, str):
        body = body.encode()
    phrase = httpx.codes.get_reason_phrase(status) or "Status"
    lines = [f"HTTP/1.1 {status} {phrase}", f"Content-Length: {len(body)}",
             f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def fixed(response: bytes, delay: float = 0.0) -> Responder:
    async def respond(_head: bytes) -> bytes:
        if delay:
            await asyncio.sleep(delay)
        return response
    return respond


async def never(_head: bytes) -> bytes | None:
    """Accept the request and never answer."""
    await asyncio.Event().wait()
    return None


class HTTPServer:
    """A small HTTP/1.1 server on 127.0.0.1 whose answers the test chooses.

    ``respond(head)`` returns the raw response bytes; returning None closes the connection
    without an answer. Connections are kept alive between requests, and ``accepted`` counts
    TCP connections so tests can see keep-alive reuse.
    """

    def __init__(self, respond: Responder, *, ssl_context: ssl.SSLContext | None = None,
                 host: str = "127.0.0.1", greeting: bytes = b"") -> None:
        self.respond = respond
        self.greeting = greeting
        self.ssl_context = ssl_context
        self.host = host
        self.port = 0
        self.accepted = 0
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def url(self, path: str = "/health") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}{path}"

    async def __aenter__(self) -> HTTPServer:
        self._server = await asyncio.start_server(self._handle, self.host, 0,
                                                  ssl=self.ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.accepted += 1
        try:
            if self.greeting:  # a server that speaks first (SSH, SMTP) or rejects at once
                writer.write(self.greeting)
                await writer.drain()
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    return
                self.requests += 1
                answer = await self.respond(head)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            return
        except asyncio.CancelledError:
            return  # our own shutdown; ending quietly keeps asyncio from logging it
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


@contextlib.asynccontextmanager
async def serve(respond: Responder | bytes, **kwargs: object) -> AsyncIterator[HTTPServer]:
    server = HTTPServer(fixed(respond) if isinstance(respond, bytes) else respond,
                        **kwargs)  # type: ignore[arg-type]
    async with server:
        yield server


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def unaccepting_port() -> object:
    """A port whose accept queue is full: further connects hang (a real connect timeout)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))
    try:
        yield port
    finally:
        filler.close()
        listener.close()


@dataclass
class TLSFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


class CertFactory:
    """A throwaway CA and leaf certificates (``cryptography``, already an asyncssh dep)."""

    def __init__(self, directory: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.dir = directory
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        self._ca_cert = self._build("ops-console test CA", self._ca_key, None,
                                    dt.timedelta(days=30), ca=True)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self._pem(self._ca_cert))
        self._count = 0

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def leaf(self, hostname: str = "localhost", days: float = 90,
             self_signed: bool = False) -> TLSFiles:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = ec.generate_private_key(ec.SECP256R1())
        issuer = None if self_signed else (self._ca_cert, self._ca_key)
        cert = self._build(hostname, key, issuer, dt.timedelta(days=days), san=hostname)
        self._count += 1
        cert_path = self.dir / f"leaf{self._count}.pem"
        key_path = self.dir / f"leaf{self._count}.key"
        cert_path.write_bytes(self._pem(cert))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return TLSFiles(cert_path, key_path)

    @staticmethod
    def _pem(cert: object) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return cert.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined]

    @staticmethod
    def _build(name: str, key: object, issuer: tuple[object, object] | None,
               lifetime: dt.timedelta, ca: bool = False, san: str | None = None) -> object:
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import NameOID

        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        issuer_cert, issuer_key = issuer if issuer else (None, key)
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_cert.subject if issuer_cert else subject)  # type: ignore
            .public_key(key.public_key())  # type: ignore[attr-defined]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + lifetime)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            try:
                general: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(san))
            except ValueError:
                general = x509.DNSName(san)
            builder = builder.add_extension(x509.SubjectAlternativeName([general]),
                                            critical=False)
        return builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]


class LoginServer:
    """A tiny HTTP/1.1 server; ``handler(body) -> (status, body)`` or None: never answer."""

    def __init__(self, handler: Callable[[dict], tuple[int, bytes] | None]) -> None:
        self.handler = handler
        self.requests: list[dict] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> LoginServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1/auth/login"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            body = json.loads(await reader.readexactly(length))
            self.requests.append(body)
            answer = self.handler(body)
            if answer is None:
                await asyncio.sleep(30)
                return
            status, payload = answer
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
                         .encode() + payload)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


class FaultHTTPServer:
    """A local HTTP server whose paths misbehave on demand, then heal when told to.

    Paths: ``/forever-slow`` (200, a chunked body that gains a chunk every 50 ms and never
    ends), ``/forever-fast`` (200, a chunked body as fast as the socket takes it, never
    ends), ``/trickle`` (a complete, valid answer sent one byte every 40 ms). Setting
    ``healthy = True`` makes every path answer a normal ``{"status": "ok"}`` at once, which
    is how a test checks recovery. ``open_connections`` counts sockets still held open, so
    a console that never lets go of a stuck endpoint is caught.
    """

    OK_BODY = b'{"status": "ok"}'

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.healthy = False
        self.open_connections = 0
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            if hasattr(self._server, "close_clients"):
                self._server.close_clients()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1].decode("ascii", "replace")
            self.requests.append(path)
            if self.healthy:
                await self._ok(writer)
            elif path == "/forever-slow":
                await self._forever(writer, b"x" * 16, 0.05)
            elif path == "/forever-fast":
                await self._forever(writer, b"y" * 4096, 0)
            elif path == "/trickle":
                await self._trickle(writer)
            else:
                await self._ok(writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client hung up: exactly what a deadline should do
        except asyncio.CancelledError:
            pass  # the test's loop is shutting down with a forever-stream still open
        finally:
            self.open_connections -= 1
            writer.close()

    async def _ok(self, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(self.OK_BODY), self.OK_BODY))
        await writer.drain()

    async def _forever(self, writer: asyncio.StreamWriter, chunk: bytes, pause: float) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        while not self.healthy:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            await asyncio.sleep(pause)

    async def _trickle(self, writer: asyncio.StreamWriter) -> None:
        answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(self.OK_BODY), self.OK_BODY))
        for i in range(len(answer)):
            writer.write(answer[i:i + 1])
            await writer.drain()
            await asyncio.sleep(0.04)
