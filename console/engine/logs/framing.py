"""Bytes to lines: the one line splitter, HTTP chunked decoding, and Docker's log frames.

Everything here is pure: bytes in, lines (or records) out, no I/O and no clock. Every reader
of the console that turns a byte stream into lines uses ``LineAssembler``, so a long line is
cut by one rule everywhere (``LineAssembler`` says which). Docker's multiplexed stream has
its own framing on top (``DockerLogDecoder``, and ``FastFrames`` for its usual shape), and
the raw HTTP body its chunked coding (``Dechunker``).
"""

from __future__ import annotations

import itertools
import re
import struct

from console.engine.logs.stamps import looks_like_time

__all__ = [
    "MAX_LINE_BYTES",
    "Dechunker",
    "DockerLogDecoder",
    "FastFrames",
    "LineAssembler",
    "cut_marker",
]

MAX_LINE_BYTES = 16 * 1024
"""The longest line kept whole; longer ones are cut at ingest (a 1 MB line costs 16 KB)."""

_STAMP_ROOM = 40
"""A Docker frame carries its timestamp (at most 31 bytes) and a space before the text."""


def cut_marker(dropped: int) -> bytes:
    """What replaces the cut part of a line: ``" … [1,234 bytes cut]"``."""
    return f" … [{dropped:,} bytes cut]".encode()


class LineAssembler:
    """Bytes in any chunking -> complete lines (without ``\\n``), each at most ``max_bytes``.

    ``feed(data)`` returns the lines that ``data`` completed; ``flush()`` the unfinished last
    line when the stream ends. ``feed_text`` / ``flush_text`` do the same and decode each
    line (UTF-8, invalid bytes replaced) without a trailing ``\\r``.

    The cutting rule: a line longer than ``max_bytes`` keeps its first ``max_bytes`` bytes,
    followed by ``cut_marker(n)`` (``" … [n bytes cut]"``, ``n`` the bytes dropped), so it is
    never longer than ``max_bytes`` plus the marker, and the reader sees that it was cut.
    The line is not split into several lines: what is dropped is gone. The unfinished tail
    is buffered for the next chunk, but never more than ``max_bytes`` of it, so a line that
    never ends costs ``max_bytes`` of memory. ``cut_lines`` counts the lines cut so far.
    """

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._pending = bytearray()
        self._dropped = 0
        self.cut_lines = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The lines ``data`` completes, in order; the rest waits for the next chunk."""
        parts = data.split(b"\n")
        rest = parts.pop()
        lines: list[bytes] = []
        if parts:
            first = None
            if self._pending or self._dropped:
                self._append(parts[0])
                first = self._take()
            limit = self.max_bytes
            lines = [p if len(p) <= limit else self._cut(p, len(p) - limit) for p in parts]
            if first is not None:
                lines[0] = first
        self._append(rest)
        return lines

    def flush(self) -> list[bytes]:
        """The unfinished last line, when the stream ends."""
        return [self._take()] if self._pending or self._dropped else []

    def feed_text(self, data: bytes) -> list[str]:
        """``feed``, each line decoded and without a trailing ``\\r`` (CRLF output)."""
        return [_decode(line) for line in self.feed(data)]

    def flush_text(self) -> list[str]:
        """``flush``, decoded like ``feed_text``."""
        return [_decode(line) for line in self.flush()]

    def _append(self, data: bytes) -> None:
        room = self.max_bytes - len(self._pending)
        if len(data) <= room:
            self._pending += data
        else:
            self._pending += data[:max(room, 0)]
            self._dropped += len(data) - max(room, 0)

    def _take(self) -> bytes:
        line = bytes(self._pending)
        if self._dropped:
            line += cut_marker(self._dropped)
            self.cut_lines += 1
        self._pending.clear()
        self._dropped = 0
        return line

    def _cut(self, line: bytes, dropped: int) -> bytes:
        self.cut_lines += 1
        return line[:self.max_bytes] + cut_marker(dropped)


def _decode(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", "replace")


class Dechunker:
    """HTTP/1.1 chunked transfer decoding over raw reads (``done`` at the last chunk)."""

    def __init__(self) -> None:
        self._buf = b""
        self._left = 0  # bytes of the current chunk still to come
        self._skip = 0  # CRLF after a chunk still to skip
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos = 0
        size = len(buf)
        while pos < size and not self.done:
            if self._left:
                take = min(self._left, size - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._skip = 2
                continue
            if self._skip:
                take = min(self._skip, size - pos)
                pos += take
                self._skip -= take
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            length = int(buf[pos:eol].split(b";", 1)[0] or b"0", 16)
            pos = eol + 2
            if length == 0:
                self.done = True
            self._left = length
        self._buf = buf[pos:] if not self.done else b""
        return b"".join(out)


class DockerLogDecoder:
    """Docker's log stream -> records ``b"<RFC3339Nano> <text>"``, one per log line.

    Non-TTY containers multiplex stdout and stderr in frames (8-byte header, then a payload
    that is one log message). Docker splits a message longer than 16 KB into several frames,
    each with the same timestamp and only the last ending in ``\\n``: those are joined here,
    their repeated timestamps removed, and cut at ``max_bytes`` (plus room for the stamp)
    by ``LineAssembler``'s rule. TTY containers send a plain byte stream, split on newlines
    by a ``LineAssembler``.

    A process that dies mid-line leaves a message without ``\\n`` too, stamped with its own
    time; ``docker logs`` then prints it joined to the next start's first line. Here a frame
    whose stamp differs from the unfinished message's is a new line, so those stay two
    lines, and a re-read after a restart meets the same two lines as the live follow did.
    """

    def __init__(self, tty: bool, max_bytes: int = MAX_LINE_BYTES) -> None:
        self.tty = tty
        self.max_bytes = max_bytes
        self._lines = LineAssembler(max_bytes) if tty else None
        self._buf = b""
        self._partial: bytearray | None = None
        self._stamp = b""  # the unfinished message's own stamp
        self._dropped = 0
        self._cut = 0

    @property
    def cut_lines(self) -> int:
        return self._lines.cut_lines if self._lines is not None else self._cut

    def feed(self, data: bytes) -> list[bytes]:
        if self._lines is not None:
            return [line.rstrip(b"\r") for line in self._lines.feed(data)]
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos = 0
        size = len(buf)
        limit = self.max_bytes + _STAMP_ROOM
        while pos + 8 <= size:
            length = int.from_bytes(buf[pos + 4:pos + 8], "big")
            end = pos + 8 + length
            if end > size:
                break
            if length:
                payload = buf[pos + 8:end]
                if self._partial is None and payload[-1] == 10 and length <= limit:
                    out.append(payload[:-1])
                else:
                    self._slow(payload, out)
            pos = end
        self._buf = buf[pos:]
        return out

    def _slow(self, payload: bytes, out: list[bytes]) -> None:
        complete = payload.endswith(b"\n")
        body = payload[:-1] if complete else payload
        space = body.find(b" ")
        stamp = body[:space] if space > 0 and looks_like_time(body[:space]) else b""
        if self._partial is not None and stamp and stamp != self._stamp:
            out.append(self._take())  # the unfinished message ended with its process
        if self._partial is None:
            self._partial = bytearray()
            self._stamp = stamp
            self._add(body)
        else:
            self._add(body[space + 1:] if stamp else body)
        if complete:
            out.append(self._take())

    def _take(self) -> bytes:
        assert self._partial is not None
        record = bytes(self._partial)
        if self._dropped:
            record += cut_marker(self._dropped)
            self._cut += 1
        self._partial = None
        self._dropped = 0
        return record

    def _add(self, data: bytes) -> None:
        assert self._partial is not None
        room = self.max_bytes + _STAMP_ROOM - len(self._partial)
        if len(data) <= room:
            self._partial += data
        else:
            self._partial += data[:max(room, 0)]
            self._dropped += len(data) - max(room, 0)

    def flush(self) -> list[bytes]:
        if self._lines is not None:
            return self._lines.flush()
        return [] if self._partial is None else [self._take()]


_FRAME = re.compile(
    rb"([0-9a-fA-F]{1,8})\r\n"  # an HTTP chunk: its size in hex
    rb"[\x01\x02]\x00\x00\x00([\x00-\xff]{4})"  # a Docker frame: stdout/stderr, length
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) ([^\n]*)\n"  # stamp, text
    rb"\r\n"  # the chunk's end
)
_LAST_CHUNK = b"0\r\n\r\n"


class FastFrames:
    """Docker's chunked, multiplexed log stream in its usual shape, split at C speed.

    dockerd writes one log line per frame and one frame per HTTP chunk, so a read is
    ``<hex size>\\r\\n<8-byte frame header><stamp> <text>\\n\\r\\n`` over and over. One
    regular expression splits every whole chunk of a read into (stamp, text); where a
    Python loop per chunk and per frame cost more than a microsecond a line.

    Nothing is taken on trust: the chunk sizes, the frames' declared lengths and the
    matched bytes must all add up, and the matches must cover the read exactly. Texts
    cannot contain a newline, so a chunk holding two frames, a frame split over chunks or
    a long line's partial frames all break a match, and then ``feed`` returns None: the
    caller hands ``rest`` (from the last whole chunk on) to the general decoders.
    """

    def __init__(self, max_bytes: int) -> None:
        self.limit = max_bytes + _STAMP_ROOM
        self.rest = b""
        self.done = False

    def feed(self, data: bytes) -> tuple[list[str], list[str]] | None:
        buf = self.rest + data if self.rest else data
        self.rest = buf  # nothing is consumed until a block is vouched for
        done = buf.endswith(_LAST_CHUNK) and (len(buf) == 5 or buf[-7:-5] == b"\r\n")
        if done:
            head, rest = buf[:-5], b""
        else:
            end = buf.rfind(b"\n\r\n") + 3
            head, rest = (buf[:end], buf[end:]) if end >= 3 else (b"", buf)
        if not head:  # no whole chunk yet (or only the last, empty one)
            if len(rest) > self.limit + 32:  # a chunk this long is not one line's frame
                return None
            self.rest, self.done = rest, done
            return [], []
        rows = _FRAME.findall(head)
        if not rows:
            return None
        sizes, lengths, stamps, texts = zip(*rows, strict=True)
        count = len(rows)
        declared = struct.unpack(f">{count}I", b"".join(lengths))
        payload = sum(map(len, stamps)) + sum(map(len, texts)) + 2 * count
        if (sum(declared) != payload or max(declared) > self.limit
                or sum(map(int, sizes, itertools.repeat(16))) != payload + 8 * count
                or sum(map(len, sizes)) + payload + 12 * count != len(head)):
            return None
        self.rest, self.done = rest, done
        return (b"\n".join(stamps).decode("ascii").split("\n"),
                b"\n".join(texts).decode("utf-8", "replace").split("\n"))
