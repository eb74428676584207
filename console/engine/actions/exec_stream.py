"""A started ``docker exec``'s output, read from a connection of our own to the Docker socket.

Why not docker-py's ``exec_start(stream=True)``: it sends the request through ``requests``,
lets ``http.client`` parse the ``101 UPGRADED`` answer, and then reads the frames from the
raw socket *under* ``http.client``'s buffered reader. Whatever arrived in the same read as
the answer's head is in that buffer, which docker-py never looks at again: those frames are
lost. Over a Docker socket forwarded through SSH the head and the first frames often arrive
together (the forwarding coalesces them), so a migration's first lines vanished, the pid
marker among them: the caller saw nothing until the final status, and a cancel could not
kill the process. Here the head is parsed from our own buffer and every byte after it is
kept, so nothing between the head and the first frame can be dropped.

The stream protocol is Docker's: after the head, frames of an 8-byte header (stream id,
three zero bytes, big-endian length) and a payload; stream 1 is stdout, 2 stderr.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Iterator

__all__ = ["ExecStartError", "ExecStream", "socket_path_of"]

Frame = tuple[bytes | None, bytes | None]
_HEADER = struct.Struct(">BxxxL")
_MAX_HEAD = 64 * 1024
_READ = 64 * 1024


class ExecStartError(RuntimeError):
    """Docker refused to start the exec (the message is Docker's, e.g. no such exec)."""


def socket_path_of(base_url: str) -> str:
    """The socket path of a ``unix://`` Docker URL (every Host gives one)."""
    if not base_url.startswith("unix://"):
        raise ExecStartError(f"a migration's output needs a unix Docker socket, not {base_url}")
    return base_url.removeprefix("unix://")


class ExecStream:
    """``POST /exec/{id}/start`` (attached, no TTY), then its frames as (stdout, stderr).

    ``open()`` connects and reads the answer's head (blocking: run it in a thread);
    iterating yields each frame as soon as it is complete; ``close()`` from another thread
    ends a blocked read (the iteration then simply stops).
    """

    def __init__(self, socket_path: str, api_version: str, exec_id: str, *,
                 connect_timeout: float = 15.0) -> None:
        self._path = socket_path
        self._version = api_version
        self._exec_id = exec_id
        self._connect_timeout = connect_timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._closed = threading.Event()

    def open(self) -> ExecStream:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock = sock
        try:
            sock.settimeout(self._connect_timeout)
            sock.connect(self._path)
            sock.sendall(self._request())
            status, headers = self._read_head()
            if status not in (101, 200):
                raise ExecStartError(self._error_text(status, headers))
            sock.settimeout(None)  # a migration may print nothing for minutes
        except BaseException:
            self.close()
            raise
        return self

    def _request(self) -> bytes:
        body = json.dumps({"Detach": False, "Tty": False}).encode()
        head = (f"POST /v{self._version}/exec/{self._exec_id}/start HTTP/1.1\r\n"
                "Host: docker\r\nContent-Type: application/json\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        return head.encode("ascii") + body

    def _read_head(self) -> tuple[int, dict[str, str]]:
        """Status and headers; the bytes after the head stay in the buffer (the frames)."""
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            if len(self._buffer) > _MAX_HEAD or not self._fill():
                raise ExecStartError("Docker closed the connection before answering")
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[:end + 4]
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise ExecStartError(f"not an HTTP answer from Docker: {head[0][:80]!r}")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(parts[1]), headers

    def _error_text(self, status: int, headers: dict[str, str]) -> str:
        length = headers.get("content-length", "")
        want = int(length) if length.isdigit() else _MAX_HEAD
        while len(self._buffer) < min(want, _MAX_HEAD) and self._fill():
            pass
        raw = bytes(self._buffer[:want]).decode("utf-8", errors="replace")
        try:
            message = str(json.loads(raw).get("message", raw))
        except (ValueError, AttributeError):
            message = raw
        return f"{status} {message.strip()[:300]}".strip()

    def _fill(self) -> bool:
        """One read into the buffer; False at the end of the stream (or once closed)."""
        sock = self._sock
        if sock is None or self._closed.is_set():
            return False
        try:
            data = sock.recv(_READ)
        except OSError:
            if self._closed.is_set():
                return False
            raise
        if not data:
            return False
        self._buffer += data
        return True

    def __iter__(self) -> Iterator[Frame]:
        while True:
            while len(self._buffer) >= _HEADER.size:
                kind, length = _HEADER.unpack_from(self._buffer)
                if len(self._buffer) < _HEADER.size + length:
                    break
                payload = bytes(self._buffer[_HEADER.size:_HEADER.size + length])
                del self._buffer[:_HEADER.size + length]
                if payload and kind == 1:
                    yield payload, None
                elif payload and kind in (2, 3):  # 3: Docker's own error about the stream
                    yield None, payload
            if not self._fill():
                return

    def close(self) -> None:
        """End the stream; safe from any thread, and twice."""
        self._closed.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
