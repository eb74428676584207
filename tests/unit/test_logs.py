"""The log pipeline without Docker: decoding, cutting, resume, redaction, buffers, summary."""

from __future__ import annotations

import asyncio
import io
import os
import stat
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import jwt
import pytest

from console.config import Config, ConsoleSettings, LogRuleConfig, LogsConfig, ServerConfig
from console.engine import logs as logs_mod
from console.engine.logs import (
    MAX_LINE_BYTES,
    DockerLogDecoder,
    LineAssembler,
    LogBatch,
    LogService,
    _Clock,
    _Dechunker,
    _raw_reads,
    _read_ahead,
    _Source,
    export_lines,
)
from console.engine.redact import redact
from console.models import LogLine, Severity, utcnow
from tests.fakes import NoContainers

# --------------------------------------------------------------------------- fakes


def make_service(buffer_lines: int = 10_000, rules=(), flush: float = 0.01) -> LogService:  # type: ignore[no-untyped-def]
    server = ServerConfig(name="alpha", logs=LogsConfig(buffer_lines=buffer_lines,
                                                        rules=tuple(rules)))
    config = Config(ConsoleSettings(), (server,))
    return LogService(config, {"alpha": SimpleNamespace()}, containers=NoContainers(),
                      flush_interval=flush)


def frame(payload: bytes, stream: int = 1) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


TS = "2026-11-24T12:00:00.{:09d}Z"

# --------------------------------------------------------------------------- decoding


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
        d = _Dechunker()
        out = b"".join(d.feed(body[i:i + size]) for i in range(0, len(body), size))
        assert out == b"hello world!" and d.done


def test_raw_reads_take_what_is_there_and_the_dechunker_stops_at_the_end() -> None:
    body = (b"3\r\nabc\r\n" * 3) + b"0\r\n\r\n" + b"NOT PART OF THE BODY"
    fp = io.BufferedReader(io.BytesIO(body))  # type: ignore[arg-type]
    response = SimpleNamespace(raw=SimpleNamespace(chunked=True, _fp=SimpleNamespace(fp=fp)))
    reads, chunked = _raw_reads(response)
    dechunk, parts = _Dechunker(), []
    for data in reads:
        parts.append(dechunk.feed(data))
        if dechunk.done:
            break
    assert chunked and b"".join(parts) == b"abcabcabc"


def test_read_ahead_hands_over_every_byte_in_order_and_the_error_at_the_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Small reads stay in the caller's thread; after a backlog-sized one a helper reads
    ahead until it has caught up (a small read, CAUGHT_UP_S after the last large one),
    then the caller reads again, until the next backlog. Everything comes in order, then
    the error that ended the read."""
    import threading
    import time

    monkeypatch.setattr(logs_mod, "READ_AHEAD_PAUSE", 0.0)
    monkeypatch.setattr(logs_mod, "CAUGHT_UP_S", 0.2)
    readers: list[str] = []
    big = b"x" * logs_mod.BACKLOG_BYTES
    items = ([f"small {i};".encode() for i in range(3)] + [big]
             + [b"burst;", big, b"burst;", b"quiet;"] + [f"line {i};".encode() for i in range(5)]
             + [big] + [f"tail {i};".encode() for i in range(5)])

    def chunks():  # type: ignore[no-untyped-def]
        for item in items:
            if item == b"quiet;":
                time.sleep(0.3)  # the flood is over: the next read is small and late
            readers.append(threading.current_thread().name)
            yield item
        raise ConnectionResetError("link dropped")

    got: list[bytes] = []
    with pytest.raises(ConnectionResetError):
        for data in _read_ahead(chunks(), "c"):
            got.append(data)
    me, helper = threading.current_thread().name, "read-ahead:c"
    assert readers == [me] * 4 + [helper] * 4 + [me] * 6 + [helper] * 5
    assert got == items


def test_read_ahead_stops_its_helper_when_the_reader_stops(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A reader that stops mid-flood (close, an exception in handling) leaves no helper
    blocked on a full hand-off."""
    import threading

    monkeypatch.setattr(logs_mod, "READ_AHEAD_BYTES", 64 * 1024)
    read = 0

    def endless():  # type: ignore[no-untyped-def]
        nonlocal read
        while True:
            read += 1
            yield b"y" * logs_mod.BACKLOG_BYTES

    stream = _read_ahead(endless(), "endless")
    next(stream)
    next(stream)  # the helper runs now, and soon fills the hand-off
    stream.close()
    helper = next(t for t in threading.enumerate() if t.name == "read-ahead:endless")
    helper.join(timeout=5)
    assert not helper.is_alive()
    assert read < 20  # bounded: it stopped at the limit, it did not read on


class _Reads:
    """A connection whose ``read1`` hands out given pieces, like a socket would; a read
    after the last piece would block forever on a kept-alive connection, so it fails."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)

    def read1(self, size: int) -> bytes:
        assert self.pieces, "read past the end of the response: a real one would hang"
        return self.pieces.pop(0)


def _chunked_log(lines: list[tuple[int, str, bytes]], *, pack: int = 1) -> bytes:
    """Docker's log stream as dockerd sends it: a frame per line, ``pack`` frames per HTTP
    chunk, 16 KB frames for long lines (the last one ending in a newline)."""
    frames: list[bytes] = []
    for stream, stamp, text in lines:
        payload = stamp.encode() + b" " + text + b"\n"
        parts = [payload[i:i + 16_384] for i in range(0, len(payload), 16_384)]
        frames += [bytes([stream, 0, 0, 0]) + len(p).to_bytes(4, "big") + p for p in parts]
    chunks = [b"".join(frames[i:i + pack]) for i in range(0, len(frames), pack)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def _rows_of(blocks: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    rows: list[tuple[str, str]] = []
    for block in blocks:
        if isinstance(block, tuple):
            rows += zip(block[0], block[1], strict=True)
        else:
            rows += [tuple(r.decode("utf-8", "replace").split(" ", 1)) for r in block]
    return rows


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
    body = _chunked_log(lines, pack=2 if rng.random() < 0.2 else 1)
    cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randrange(0, 40))))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]

    def response(pieces: list[bytes]) -> SimpleNamespace:
        return SimpleNamespace(raw=SimpleNamespace(chunked=True, _fp=SimpleNamespace(
            fp=_Reads(pieces))))

    fast = list(logs_mod._log_blocks(response(pieces), DockerLogDecoder(False)))
    decoder = DockerLogDecoder(False)
    reference = decoder.feed(_Dechunker().feed(body)) + decoder.flush()
    assert _rows_of(fast) == _rows_of([reference])
    assert len(_rows_of(fast)) == len(lines)


@pytest.mark.parametrize("tty", [False, True])
def test_a_container_read_ingests_every_line_of_every_block(tty: bool) -> None:
    """Through ``_ContainerReader`` itself, the fast blocks (stamps, texts) and the general
    decoders' records (a TTY stream) are both handled whole, in slices: 1,000 lines of
    different lengths, one an empty line, all ingested once, in order."""
    service = make_service()
    src = service._source("alpha", "c", "container")
    texts = [f"line {i} " + "x" * (i % 50) if i % 97 else "" for i in range(1, 1001)]
    stamps = [f"2026-11-24T12:00:00.{i:09d}Z" for i in range(1, 1001)]
    if tty:
        body = b"".join(f"{s} {t}\r\n".encode() for s, t in zip(stamps, texts, strict=True))
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 5000]), body[i:i + 5000])
                        for i in range(0, len(body), 5000)) + b"0\r\n\r\n"
    else:
        body = _chunked_log([(1, s, t.encode()) for s, t in zip(stamps, texts, strict=True)])
    reader = logs_mod._ContainerReader(service, src, api=None, follow=False, window_s=60)
    reader._response = SimpleNamespace(raw=SimpleNamespace(chunked=True, _fp=SimpleNamespace(
        fp=_Reads([body[i:i + 70_000] for i in range(0, len(body), 70_000)]))))
    reader._decoder = DockerLogDecoder(tty)
    for _ in reader:
        pass
    assert [line.text for line in service.buffered()] == texts


def test_a_stamp_that_is_no_date_keeps_its_line() -> None:
    """Docker never sends one, but a stamp-shaped string that is no date (month 13) must
    not stop the reader: the row is kept, with the time of the row before it."""
    service = make_service()
    src = service._source("alpha", "c", "container")
    reader = logs_mod._ContainerReader(service, src, api=None, follow=False, window_s=60)
    reader._decoder = DockerLogDecoder(False)
    reader._handle_rows(["2026-11-24T12:00:00.5Z", "2026-13-45T12:00:00Z"], ["ok", "odd"])
    lines = service.buffered()
    assert [line.text for line in lines] == ["ok", "2026-13-45T12:00:00Z odd"]
    assert lines[1].time == lines[0].time


def test_fast_frames_do_the_common_reads_and_stop_at_the_last_chunk() -> None:
    lines = [(1, f"2026-11-24T12:00:00.{i:09d}Z", f"line {i}".encode()) for i in range(1, 500)]
    body = _chunked_log(lines)
    fast = logs_mod._FastFrames(logs_mod.MAX_LINE_BYTES)
    half = len(body) // 2
    first, second = fast.feed(body[:half]), fast.feed(body[half:] + b"NOT THE BODY")
    assert first is not None and second is None  # bytes after the last chunk: not vouched
    fast = logs_mod._FastFrames(logs_mod.MAX_LINE_BYTES)
    first, second = fast.feed(body[:half]), fast.feed(body[half:])
    assert first is not None and second is not None and fast.done
    fast = logs_mod._FastFrames(logs_mod.MAX_LINE_BYTES)  # the last chunk in a read alone
    assert fast.feed(body[:-5]) is not None and not fast.done
    assert fast.feed(body[-5:]) == ([], []) and fast.done
    assert first[1] + second[1] == [f"line {i}" for i in range(1, 500)]
    assert first[0][0] == "2026-11-24T12:00:00.000000001Z"


def test_clock_parses_docker_stamps() -> None:
    clock = _Clock()
    ns, when = clock.parse("2026-11-24T12:00:00.123456789Z")  # type: ignore[misc]
    base = int(datetime(2026, 11, 24, 12, tzinfo=UTC).timestamp()) * 10**9
    assert ns == base + 123456789
    assert when == datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC)
    assert clock.parse("2026-11-24T12:00:00.5Z")[0] == base + 500_000_000  # type: ignore[index]
    assert clock.parse("2026-11-24T12:00:01Z")[0] == base + 10**9  # type: ignore[index]
    assert clock.parse("not-a-time") is None


# --------------------------------------------------------------------------- resume


def _numbered(src: _Source, start: int, stop: int) -> list[str]:
    return [f"line {i}" for i in range(start, stop)
            if src.accept(1_000 * 10**9 + i // 3 * 10**9, f"line {i}")]


def test_resume_drops_replayed_lines_and_keeps_new_ones() -> None:
    """Lines i share second i // 3; a reconnect asks since=<last second>, inclusive."""
    src = _Source("alpha", "c", "container", 100)
    src.opened_ns = 1
    assert _numbered(src, 0, 10) == [f"line {i}" for i in range(10)]
    since, tail = src.since_param(0, 900)
    assert since == "1003.000000000" and tail == "all"  # the last line's second, inclusive
    # the daemon replays second 3 (lines 9..) - or, to-the-second, from line 9 on
    assert _numbered(src, 9, 15) == [f"line {i}" for i in range(10, 15)]


def test_resume_with_second_granularity_replay() -> None:
    src = _Source("alpha", "c", "container", 100)
    for i in range(5):
        src.accept(10 * 10**9 + i * 1000, f"n{i}")
    src.since_param(0, 900)
    replay = [(10 * 10**9 + i * 1000, f"n{i}") for i in range(8)]  # whole second again
    assert [text for ns, text in replay if src.accept(ns, text)] == ["n5", "n6", "n7"]


def test_after_resume_out_of_order_lines_are_kept() -> None:
    src = _Source("alpha", "c", "container", 100)
    src.accept(100, "a")
    src.since_param(0, 900)
    assert src.accept(100, "a") is False
    assert src.accept(200, "b") is True
    assert src.accept(150, "late stderr line") is True  # not filtered once resumed


@pytest.mark.parametrize("seed", range(40))
def test_block_accept_ends_in_the_same_state_as_line_by_line(seed: int) -> None:
    """``advance`` with ``_newest`` (the reader's fast path) leaves the resume state
    ``accept`` would: out-of-order stderr lines, repeated times, several nanoseconds within
    one microsecond (where only datetimes are compared first), a block older than the last.
    """
    import random

    rng = random.Random(seed)
    one = _Source("alpha", "c", "container", 100)
    many = _Source("alpha", "c", "container", 100)
    base = 1_700_000_000 * 10**9
    for _ in range(4):
        stamps = [base + rng.randrange(0, 4_000) for _ in range(rng.randrange(1, 8))]
        times = [datetime.fromtimestamp(ns // 1000 / 1e6, UTC) for ns in stamps]
        texts = [rng.choice("abcd") for _ in stamps]
        assert [one.accept(ns, t) for ns, t in zip(stamps, texts, strict=True)] == [True] * len(
            stamps)
        many.advance(*logs_mod._newest(times, texts, stamps.__getitem__))
        assert (many.last_ns, many.boundary) == (one.last_ns, one.boundary)


def test_first_read_asks_for_a_bounded_window() -> None:
    src = _Source("alpha", "c", "container", 100)
    now = 2_000 * 10**9
    since, tail = src.since_param(now, 900)
    assert since == "1100.000000000" and tail == str(logs_mod.INITIAL_TAIL)
    since, tail = src.since_param(now + 10**9, 900)  # nothing seen meanwhile
    assert since == "1995.000000000" and tail == "all"


# --------------------------------------------------------------------------- service


async def _batches(service: LogService) -> list[LogBatch]:
    got: list[LogBatch] = []
    service.subscribe(got.append)
    await service.start()
    return got


async def _settle(service: LogService) -> None:
    await asyncio.sleep(service.flush_interval * 3 + 0.05)


async def test_feed_classifies_redacts_and_delivers_in_order() -> None:
    service = make_service()
    got = await _batches(service)
    token = jwt.encode({"sub": "1"}, "s" * 32, algorithm="HS256")
    service.feed("alpha", "crm-backend-1", [
        "[AUTH] Login failed: invalid password for a@b",
        f"issued token {token}",
        "POST /login password=hunter2",
        "nothing",
    ])
    service.feed("alpha", "crm-nginx-1", ['"GET / HTTP/1.1" 502 1'])
    await _settle(service)
    lines = [line for batch in got for line in batch.lines]
    assert [line.seq for line in lines] == sorted(line.seq for line in lines)
    texts = [line.text for line in lines]
    assert token not in " ".join(texts) and "hunter2" not in " ".join(texts)
    assert "issued token [redacted jwt]" in texts
    events = [line for batch in got for line in batch.events]
    assert [(e.source, e.rule, e.severity) for e in events] == [
        ("crm-backend-1", "failed_login", Severity.WARNING),
        ("crm-nginx-1", "bad_gateway", Severity.ERROR)]
    await service.stop()


async def test_batches_are_coalesced() -> None:
    service = make_service(flush=0.2)
    got = await _batches(service)
    for i in range(50):
        service.feed("alpha", "c", [f"line {i}"])
    await asyncio.sleep(0.5)
    assert 1 <= len(got) <= 3
    assert sum(len(b.lines) for b in got) == 50
    await service.stop()


async def test_ring_buffer_overflow_is_counted_never_silent() -> None:
    service = make_service(buffer_lines=100, flush=0.2)
    got = await _batches(service)
    service.feed("alpha", "c", [f"line {i}" for i in range(1000)])
    await asyncio.sleep(0.4)
    assert sum(len(b.lines) for b in got) == 100
    assert sum(b.skipped for b in got) == 900
    assert [line.text for line in got[-1].lines][-1] == "line 999"
    assert service.skipped_total == 900
    assert service.sources()[0].skipped == 900
    assert len(service.buffered()) == 100
    await service.stop()


async def test_auth_events_survive_a_flood_of_ordinary_lines() -> None:
    service = make_service(buffer_lines=100, flush=0.2)
    got = await _batches(service)
    service.feed("alpha", "c", ["JWT expired"] + [f"noise {i}" for i in range(1000)])
    await asyncio.sleep(0.4)
    assert [e.text for b in got for e in b.events] == ["JWT expired"]
    assert sum(b.events_skipped for b in got) == 0
    assert [e.rule for e in service.buffered(auth_only=True)] == ["jwt_expired"]
    await service.stop()


def test_auth_summary_window_counts_and_recent() -> None:
    service = make_service()
    now = utcnow()
    old = now - timedelta(seconds=2000)
    service.feed("alpha", "crm-backend-1", ["JWT expired", "JWT expired", "x"],
                 times=[old, now - timedelta(seconds=10), now])
    service.feed("alpha", "crm-nginx-1", ["[AUTH] Login failed: bad \x1b[2J"], times=[now])
    summary = service.auth_summary(900, server="alpha", now=now)
    assert summary["window_s"] == 900
    assert summary["counts"] == {"jwt_expired": 1, "failed_login": 1}
    assert [e["rule"] for e in summary["recent"]] == ["jwt_expired", "failed_login"]
    assert summary["recent"][-1]["line"].endswith("\\x1b[2J")  # printable for JSON/report
    assert summary["recent"][-1]["severity"] == "warning"
    assert service.auth_summary(900, server="bravo", now=now)["counts"] == {}
    assert service.rule_counts(3600, now=now) == {"jwt_expired": 2, "failed_login": 1}
    rate = service.rate_per_minute(60, now=now)
    assert len(rate) == 60 and sum(rate[-2:]) == 2 and sum(rate) == 3


def test_config_rules_and_a_bad_one() -> None:
    service = make_service(rules=[LogRuleConfig("deploy", "DEPLOY", "info"),
                                  LogRuleConfig("broken", "(", "info")])
    assert service.problems and "broken" in service.problems[0]
    service.feed("alpha", "c", ["DEPLOY 3", "JWT expired"])
    assert [e.rule for e in service.buffered(auth_only=True)] == ["jwt_expired"]
    good = make_service(rules=[LogRuleConfig("deploy", "DEPLOY", "info")])
    good.feed("alpha", "c", ["DEPLOY 3"])
    assert [e.rule for e in good.buffered(auth_only=True)] == ["deploy"]


def test_feed_cuts_huge_lines() -> None:
    service = make_service()
    service.feed("alpha", "c", ["x" * (1024 * 1024)])
    (line,) = service.buffered()
    assert len(line.text) < MAX_LINE_BYTES + 100 and "chars cut" in line.text


def test_export_is_redacted_escaped_and_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    when = datetime(2026, 11, 24, 12, tzinfo=UTC)
    lines = [LogLine("alpha", "crm-backend-1", when, "password=hunter2 \x1b]52;c;x\x07 [b]",
                     "failed_login", Severity.WARNING, 1),
             LogLine("alpha", "/var/log/x", when, "plain", None, None, 2)]
    target = tmp_path / "sub" / "out.log"
    assert export_lines(lines, target) == 2
    text = target.read_text()
    assert "hunter2" not in text and "\x1b" not in text and "\x07" not in text
    assert "\\x1b]52;c;x\\x07 [b]" in text
    assert text.splitlines()[0].startswith(
        "2026-11-24T12:00:00.000000Z alpha crm-backend-1 [failed_login] password=[redacted]")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


REDACTED_CASES = [
    ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnop"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNz"),
    ('{"email": "a@b", "password": "s3cr\\"et"}', "s3cr"),
    ("{'password': 'x9x9x9', 'a': 1}", "x9x9x9"),
    ("JWT_SECRET=abc123xyz DATABASE_URL=postgresql://crm:dbpass99@db/crm", "abc123xyz"),
    ("JWT_SECRET=abc123xyz DATABASE_URL=postgresql://crm:dbpass99@db/crm", "dbpass99"),
    ("GET /reset?token=tok777&x=1 HTTP/1.1", "tok777"),
    ("password: hunter2", "hunter2"),
    ('"client_secret": "cs-123456"', "cs-123456"),
    # the keys spelled api_key / private-key: the key words start with "api" and "private"
    ("x api_key = k1-secret-value", "k1-secret-value"),
    ("X_API_KEY=ak-4242 y", "ak-4242"),
    ("apikey=ak-4343", "ak-4343"),
    ("STRIPE_API-KEY=sk_live_77", "sk_live_77"),
    ("private_key=pk-0001 end", "pk-0001"),
    ("GET /v1?api_key=q-5555&page=2", "q-5555"),
    ("privatekey=pk-0002", "pk-0002"),
    ("X-Api-Key: hk-6161 sent", "hk-6161"),
    ("private-key:  pk-0003", "pk-0003"),
    # request headers as apps and proxies log them
    ("Authorization: Token drf-1234567", "drf-1234567"),
    ("proxy-authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpw"),
    ("headers: Cookie: session=sess-8080; csrf=c-1", "sess-8080"),
    ("Set-Cookie: sid=sid-9090; Path=/; HttpOnly", "sid-9090"),
    ("x-auth-token: xt-3131 next", "xt-3131"),
    ("X-Signing-Key: sg-2727", "sg-2727"),
]


@pytest.mark.parametrize(("raw", "gone"), REDACTED_CASES)
def test_redaction(raw: str, gone: str) -> None:
    out = redact(raw)
    assert gone not in out and "[redacted" in out


@pytest.mark.parametrize(("raw", "gone"), REDACTED_CASES)
def test_the_log_pipeline_redacts_what_redact_does(raw: str, gone: str) -> None:
    """Lines reach redaction only through the triggers of the rules' literal scan: a
    secret whose key has no trigger would be stored as it came."""
    service = make_service()
    service.feed("alpha", "c", ["before", raw, "after"])
    stored = [line.text for line in service.buffered()]
    assert stored[0] == "before" and stored[2] == "after"
    assert gone not in stored[1] and "[redacted" in stored[1]


@pytest.mark.parametrize("text", [
    "[AUTH] Invalid token: Signature verification failed",
    "[AUTH] Authorization header missing",
    "GET /api/v1/contacts 401 (no cookie)",
    "[AUTH] Login failed: Password mismatch for a@b",
    "Basic authentication required",
    "http://example.com/x",
])
def test_redaction_leaves_auth_messages_alone(text: str) -> None:
    assert redact(text) == text


def test_redaction_is_linear_on_hostile_lines() -> None:
    import time

    hostile = "password" + "=" * 16_000 + "token" * 3000
    start = time.perf_counter()
    redact(hostile)
    redact("authorization: " * 1000 + "cookie:" * 1000 + "x-key: " * 1000)
    redact("a" * 16_000 + "'" + "b" * 16_000)
    assert time.perf_counter() - start < 0.5


def test_tune_gc_collects_young_objects_less_often() -> None:
    import gc

    before = gc.get_threshold()
    try:
        logs_mod.tune_gc()
        assert gc.get_threshold() == (logs_mod.GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
