"""Bytes to lines: the line splitter, Docker's frames (general and fast), HTTP chunks."""

from __future__ import annotations

from console.engine.logs.framing import (
    MAX_LINE_BYTES,
    Dechunker,
    DockerLogDecoder,
    FastFrames,
    LineAssembler,
)
from tests.support.docker import docker_log_body


def frame(payload: bytes, stream: int = 1) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_line_assembler_handles_any_chunking() -> None:
    data = b"one\ntwo\nthree\nfour"
    for size in (1, 2, 3, 5, 100):
        asm = LineAssembler()
        lines = []
        for i in range(0, len(data), size):
            lines += asm.feed(data[i:i + size])
        assert lines == [b"one", b"two", b"three"]
        assert asm.flush() == [b"four"]


def test_line_assembler_cuts_long_lines_and_stays_bounded() -> None:
    asm = LineAssembler(max_bytes=100)
    out = []
    for _ in range(1000):  # a 1 MB line arriving in 1 KB pieces
        out += asm.feed(b"x" * 1024)
        assert len(asm._pending) <= 100
    out += asm.feed(b"\nshort\n" + b"y" * 250 + b"\n")
    assert len(out) == 3
    assert out[0].startswith(b"x" * 100) and b"1,023,900 bytes cut" in out[0]
    assert out[1] == b"short"
    assert out[2].startswith(b"y" * 100) and b"150 bytes cut" in out[2]
    assert asm.cut_lines == 2


def test_line_assembler_text_lines_are_decoded_without_the_carriage_return() -> None:
    """``feed_text``/``flush_text``: CRLF output (a shell, ``docker exec``) comes out as
    the lines a reader expects, invalid UTF-8 replaced, cut by the same rule."""
    asm = LineAssembler(max_bytes=10)
    assert asm.feed_text(b"one\r\ncaf\xc3\xa9\r\nbad \xff\n") == ["one", "caf\u00e9", "bad \ufffd"]
    assert asm.feed_text(b"a\rb\r\r\n") == ["a\rb"]  # only the trailing ones go
    # the \r counts towards the cut: the rule is the byte rule of feed
    assert asm.feed_text(b"z" * 25 + b"\r\nlast\r") == ["z" * 10 + " … [16 bytes cut]"]
    assert asm.flush_text() == ["last"]
    assert asm.flush_text() == []
    assert asm.cut_lines == 1


def test_docker_frames_split_anywhere_and_partial_messages_joined() -> None:
    long_text = b"a" * 20_000
    stream = (frame(b"2026-11-24T12:00:00.1Z hello\n")
              + frame(b"2026-11-24T12:00:00.2Z " + long_text[:16_384])  # partial: no \n
              + frame(b"2026-11-24T12:00:00.2Z " + long_text[16_384:] + b" end\n")
              + frame(b"2026-11-24T12:00:00.3Z bye\n", stream=2))
    for size in (1, 7, 4096, len(stream)):
        dec = DockerLogDecoder(tty=False, max_bytes=MAX_LINE_BYTES)
        records = []
        for i in range(0, len(stream), size):
            records += dec.feed(stream[i:i + size])
        assert [r[:28] for r in records] == [b"2026-11-24T12:00:00.1Z hello",
                                             b"2026-11-24T12:00:00.2Z " + b"a" * 5,
                                             b"2026-11-24T12:00:00.3Z bye"]
        joined = records[1]
        assert b"Z a" in joined and joined.count(b"2026-11-24") == 1  # repeated stamp gone
        assert b"bytes cut" in joined and len(joined) < MAX_LINE_BYTES + 100


def test_a_one_megabyte_message_costs_sixteen_kilobytes() -> None:
    dec = DockerLogDecoder(tty=False)
    stamp = b"2026-11-24T12:00:00.5Z "
    chunk = 16 * 1024
    body = b"z" * (1024 * 1024)
    records = []
    for i in range(0, len(body), chunk):
        piece = body[i:i + chunk] + (b"\n" if i + chunk >= len(body) else b"")
        records += dec.feed(frame(stamp + piece))
        assert dec._partial is None or len(dec._partial) <= MAX_LINE_BYTES + 64
    assert len(records) == 1 and len(records[0]) < MAX_LINE_BYTES + 100
    assert dec.cut_lines == 1


def test_tty_streams_are_split_on_newlines() -> None:
    dec = DockerLogDecoder(tty=True)
    assert dec.feed(b"2026-11-24T12:00:00Z a\r\n2026-11-24T12:00:01Z b\r\n2026") == [
        b"2026-11-24T12:00:00Z a", b"2026-11-24T12:00:01Z b"]


def test_dechunker() -> None:
    body = b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n"
    for size in (1, 3, len(body)):
        d = Dechunker()
        out = b"".join(d.feed(body[i:i + size]) for i in range(0, len(body), size))
        assert out == b"hello world!" and d.done


def test_fast_frames_do_the_common_reads_and_stop_at_the_last_chunk() -> None:
    lines = [(1, f"2026-11-24T12:00:00.{i:09d}Z", f"line {i}".encode()) for i in range(1, 500)]
    body = docker_log_body(lines)
    fast = FastFrames(MAX_LINE_BYTES)
    half = len(body) // 2
    first, second = fast.feed(body[:half]), fast.feed(body[half:] + b"NOT THE BODY")
    assert first is not None and second is None  # bytes after the last chunk: not vouched
    fast = FastFrames(MAX_LINE_BYTES)
    first, second = fast.feed(body[:half]), fast.feed(body[half:])
    assert first is not None and second is not None and fast.done
    fast = FastFrames(MAX_LINE_BYTES)  # the last chunk in a read alone
    assert fast.feed(body[:-5]) is not None and not fast.done
    assert fast.feed(body[-5:]) == ([], []) and fast.done
    assert first[1] + second[1] == [f"line {i}" for i in range(1, 500)]
    assert first[0][0] == "2026-11-24T12:00:00.000000001Z"


def test_a_message_without_newline_and_a_later_stamp_is_a_line_of_its_own() -> None:
    """A long line's 16 KB frames share one stamp and are joined; a message left without a
    newline by a process that died has its own stamp, and the next frame (a new start,
    later) does not continue it."""
    stream = (frame(b"2026-11-24T12:00:01.2Z cut mid-li")
              + frame(b"2026-11-24T12:00:05.3Z next start\n")
              + frame(b"2026-11-24T12:00:05.4Z " + b"a" * 16_384)
              + frame(b"2026-11-24T12:00:05.4Z tail\n"))
    dec = DockerLogDecoder(tty=False)
    assert dec.feed(stream) == [b"2026-11-24T12:00:01.2Z cut mid-li",
                                b"2026-11-24T12:00:05.3Z next start",
                                b"2026-11-24T12:00:05.4Z " + b"a" * 16_384 + b"tail"]
    assert dec.flush() == []
