"""A container read without Docker: raw reads, the fast path against the general decoders,
and every line of every block ingested once."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from console.engine.logs.docker_reader import ContainerReader, log_blocks, raw_reads
from console.engine.logs.framing import Dechunker, DockerLogDecoder
from tests.support.docker import docker_log_body
from tests.support.logs import make_log_service


class _Reads:
    """A connection whose ``read1`` hands out given pieces, like a socket would; a read
    after the last piece would block forever on a kept-alive connection, so it fails."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)

    def read1(self, size: int) -> bytes:
        assert self.pieces, "read past the end of the response: a real one would hang"
        return self.pieces.pop(0)


def _rows_of(blocks: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    rows: list[tuple[str, str]] = []
    for block in blocks:
        if isinstance(block, tuple):
            rows += zip(block[0], block[1], strict=True)
        else:
            rows += [tuple(r.decode("utf-8", "replace").split(" ", 1)) for r in block]
    return rows


def test_raw_reads_take_what_is_there_and_the_dechunker_stops_at_the_end() -> None:
    body = (b"3\r\nabc\r\n" * 3) + b"0\r\n\r\n" + b"NOT PART OF THE BODY"
    fp = io.BufferedReader(io.BytesIO(body))
    response = SimpleNamespace(raw=SimpleNamespace(chunked=True, _fp=SimpleNamespace(fp=fp)))
    reads, chunked = raw_reads(response)  # type: ignore[arg-type]
    dechunk, parts = Dechunker(), []
    for data in reads:
        parts.append(dechunk.feed(data))
        if dechunk.done:
            break
    assert chunked and b"".join(parts) == b"abcabcabc"


@pytest.mark.parametrize("seed", range(30))
def test_fast_frames_read_what_the_general_decoders_read(seed: int) -> None:
    """The C-speed splitter and the general decoders give the same lines, whatever the
    read boundaries; the odd shapes (two frames in a chunk, a 40 KB line, a CRLF line,
    invalid UTF-8, a line that looks like a chunk end) pass to the general decoders."""
    import random

    rng = random.Random(seed)
    texts = [b"plain", "caf\u00e9 \u2603".encode(), b"bad \xff\xfe utf8", b"crlf\r",
             b"looks like 0\r\n\r", b"tab\tand \x1b[2J", b"", b"x" * 300]
    odd = rng.random() < 0.3
    if odd:
        texts.append(b"y" * 40_000)
    lines = [(rng.choice((1, 2)), f"2026-11-24T12:00:{i % 60:02d}.{rng.randrange(10**9):09d}"
              .rstrip("0") + "Z", rng.choice(texts)) for i in range(rng.randrange(1, 400))]
    body = docker_log_body(lines, pack=2 if rng.random() < 0.2 else 1)
    cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randrange(0, 40))))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]

    def response(pieces: list[bytes]) -> SimpleNamespace:
        return SimpleNamespace(raw=SimpleNamespace(chunked=True, _fp=SimpleNamespace(
            fp=_Reads(pieces))))

    fast = list(log_blocks(response(pieces), DockerLogDecoder(False)))  # type: ignore[arg-type]
    decoder = DockerLogDecoder(False)
    reference = decoder.feed(Dechunker().feed(body)) + decoder.flush()
    assert _rows_of(fast) == _rows_of([reference])
    assert len(_rows_of(fast)) == len(lines)


def _reader(service, src) -> ContainerReader:  # type: ignore[no-untyped-def]
    return ContainerReader(src, api=None, follow=False, window_s=60,  # type: ignore[arg-type]
                           ingest=service._ingest, initial_tail=service.initial_tail)


@pytest.mark.parametrize("tty", [False, True])
def test_a_container_read_ingests_every_line_of_every_block(tty: bool) -> None:
    """Through ``ContainerReader`` itself, the fast blocks (stamps, texts) and the general
    decoders' records (a TTY stream) are both handled whole, in slices: 1,000 lines of
    different lengths, one an empty line, all ingested once, in order."""
    service = make_log_service()
    src = service._source("alpha", "c", "container")
    texts = [f"line {i} " + "x" * (i % 50) if i % 97 else "" for i in range(1, 1001)]
    stamps = [f"2026-11-24T12:00:00.{i:09d}Z" for i in range(1, 1001)]
    if tty:
        body = b"".join(f"{s} {t}\r\n".encode() for s, t in zip(stamps, texts, strict=True))
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 5000]), body[i:i + 5000])
                        for i in range(0, len(body), 5000)) + b"0\r\n\r\n"
    else:
        body = docker_log_body([(1, s, t.encode()) for s, t in zip(stamps, texts, strict=True)])
    reader = _reader(service, src)
    reader._response = SimpleNamespace(raw=SimpleNamespace(  # type: ignore[assignment]
        chunked=True, _fp=SimpleNamespace(
            fp=_Reads([body[i:i + 70_000] for i in range(0, len(body), 70_000)]))))
    reader._decoder = DockerLogDecoder(tty)
    for _ in reader:
        pass
    assert [line.text for line in service.buffered()] == texts


def test_a_stamp_that_is_no_date_keeps_its_line() -> None:
    """Docker never sends one, but a stamp-shaped string that is no date (month 13) must
    not stop the reader: the row is kept, with the time of the row before it."""
    service = make_log_service()
    src = service._source("alpha", "c", "container")
    reader = _reader(service, src)
    reader._decoder = DockerLogDecoder(False)
    reader._handle_rows(["2026-11-24T12:00:00.5Z", "2026-13-45T12:00:00Z"], ["ok", "odd"])
    lines = service.buffered()
    assert [line.text for line in lines] == ["ok", "2026-13-45T12:00:00Z odd"]
    assert lines[1].time == lines[0].time


def _frames_response(payloads: list[bytes]) -> SimpleNamespace:
    """A chunked Docker log response holding these frame payloads, one frame per chunk."""
    frames = [bytes([1, 0, 0, 0]) + len(p).to_bytes(4, "big") + p for p in payloads]
    body = b"".join(b"%x\r\n%s\r\n" % (len(f), f) for f in frames) + b"0\r\n\r\n"
    return SimpleNamespace(raw=SimpleNamespace(chunked=True, _fp=SimpleNamespace(
        fp=_Reads([body]))))


def test_a_line_cut_by_a_restart_is_one_line_live_and_after_the_resume() -> None:
    """The process died mid-line: its last message has no newline and its own stamp. The
    live follow ends there; the read after the restart starts at that stamp and meets the
    same message, then the new start's lines. Each line is delivered once, the cut one
    apart from the next start's first line (``docker logs`` prints those two joined)."""
    service = make_log_service()
    src = service._source("alpha", "c", "container")
    reads = [[b"2026-11-24T12:00:01.1Z line 1\n", b"2026-11-24T12:00:01.2Z cut mid-li"],
             [b"2026-11-24T12:00:01.2Z cut mid-li", b"2026-11-24T12:00:05.3Z next start\n",
              b"2026-11-24T12:00:05.4Z more\n"]]
    for payloads in reads:
        src.since_param(0, 60)  # arms the resume boundary, as every open does
        reader = _reader(service, src)
        reader._response = _frames_response(payloads)  # type: ignore[assignment]
        reader._decoder = DockerLogDecoder(False)
        for _ in reader:
            pass
    assert [line.text for line in service.buffered()] == [
        "line 1", "cut mid-li", "next start", "more"]
