"""One read of one container's log through the Docker API, in its own thread.

This is the only module of the console that touches library internals, and it does so on
purpose: docker-py's private ``APIClient._url``, ``_get`` and ``_raise_for_status`` (to ask
for ``/containers/{id}/logs`` as a raw streamed response, without docker-py's per-frame
Python generator) and urllib3's ``response.raw._fp.fp`` (the connection's buffered reader,
whose ``read1`` returns everything the socket has). Together with ``FastFrames`` this is
what lets the console ingest a flood faster than ``docker logs | grep -c``: the public
``logs(stream=True)`` path yields one Python object per frame and could not keep up
(``bench/bench_ingest.py`` measures it). When the connection objects are not the expected
ones, ``raw_reads`` falls back to urllib3's public (slower) reader.

Reading fast, and staying bounded
---------------------------------
The reader thread takes whatever the socket has (``read1``) and handles that whole batch at
once: one split of the HTTP chunks, Docker's frames and the stamps (``FastFrames``, one
regular expression, checked by sums; anything unusual goes to ``Dechunker`` and
``DockerLogDecoder``), one classification pass, one lock. During a backlog a helper thread
reads ahead (``read_ahead``) so that dockerd never waits on a full socket while lines are
classified.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from console.engine.logs.framing import Dechunker, DockerLogDecoder, FastFrames
from console.engine.logs.readahead import read_ahead
from console.engine.logs.source import Ingest, Source
from console.engine.logs.stamps import NS, STAMPED, Clock, newest
from console.models import utcnow

__all__ = [
    "READ_SIZE",
    "SLICE",
    "Block",
    "ContainerReader",
    "DockerLogsAPI",
    "LogResponse",
    "block_bytes",
    "log_blocks",
    "raw_reads",
]

READ_SIZE = 256 * 1024
SLICE = 256  # lines handled between two GIL hand-overs

Block = tuple[list[str], list[str]] | list[bytes]
"""Lines as ``(stamps, texts)`` from ``FastFrames``, or records ``b"<stamp> <text>"``."""


class LogResponse(Protocol):
    """docker-py's streamed answer (a ``requests.Response``): ``raw`` is urllib3's
    ``HTTPResponse``, read through its private parts (see the module docstring), hence
    untyped."""

    @property
    def raw(self) -> Any: ...

    def close(self) -> None: ...


class DockerLogsAPI(Protocol):
    """What a reader needs of docker-py's low-level ``APIClient`` (private parts included:
    see the module docstring)."""

    def inspect_container(self, container: str) -> Mapping[str, Any]: ...

    def _url(self, pathfmt: str, *args: str) -> str: ...

    def _get(self, url: str, **kwargs: object) -> LogResponse: ...

    def _raise_for_status(self, response: LogResponse) -> None: ...


class ContainerReader:
    """One read of one container's log (follow or once), run in its own thread.

    ``open()`` returns the object the StreamPump iterates: iterating does the reading and
    the ingest (through ``ingest``), yielding nothing; ``close()`` from another thread shuts
    the socket down, which is the only way to interrupt the blocking read.
    """

    def __init__(self, src: Source, api: DockerLogsAPI, follow: bool, window_s: float, *,
                 ingest: Ingest, initial_tail: int | None, tail: str | None = None) -> None:
        self.src = src
        self.api = api
        self.follow = follow
        self.window_s = window_s
        self.tail = tail
        self._ingest = ingest
        self._initial_tail = initial_tail
        self._response: LogResponse | None = None
        self._decoder = DockerLogDecoder(tty=False)  # replaced in open(), once Tty is known
        self._clock = Clock()
        self._closed = threading.Event()

    def open(self) -> ContainerReader:
        container = self.src.container_id or self.src.name
        tty = bool((self.api.inspect_container(container).get("Config") or {}).get("Tty"))
        since, tail = self.src.since_param(int(utcnow().timestamp() * NS), self.window_s,
                                           self._initial_tail)
        params = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": int(self.follow),
                  "tail": self.tail or tail, "since": since}
        url = self.api._url("/containers/{0}/logs", container)
        response = self.api._get(url, params=params, stream=True,
                                 timeout=None if self.follow else 60)
        self.api._raise_for_status(response)
        self._response = response
        self._decoder = DockerLogDecoder(tty)
        if self._closed.is_set():
            self.close()
        return self

    def read_all(self) -> None:
        """One-shot read in the calling thread (refresh)."""
        self.open()
        for _ in self:
            pass

    def __iter__(self) -> Iterator[None]:
        assert self._response is not None, "open() first"
        blocks = log_blocks(self._response, self._decoder)
        for block in read_ahead(blocks, self.src.name, block_bytes):
            count = len(block[1]) if isinstance(block, tuple) else len(block)
            for start in range(0, count, SLICE):
                piece = slice(start, start + SLICE)
                if isinstance(block, tuple):
                    self._handle_rows(block[0][piece], block[1][piece])
                else:
                    self._handle(block[piece])
                # Hand the GIL over: a reader that holds it for whole 5 ms switch intervals
                # makes every event-loop turn of the UI wait that long (convoy effect).
                time.sleep(0)
        yield from ()  # a generator that yields nothing, so that the pump can iterate it

    def _handle(self, records: list[bytes]) -> None:
        """Records from the general decoder: ``b"<stamp> <text>"`` each."""
        if not records:
            return
        block = b"\n".join(records).decode("utf-8", "replace")
        rows = STAMPED.findall(block)
        if len(rows) == len(records):  # every row has Docker's UTC stamp: the C-speed way
            self._handle_rows([row[0] for row in rows], [row[1] for row in rows])
            return
        ns_list, times, texts = self._split(block.split("\n"))
        self._store(times, texts, ns_list.__getitem__)

    def _handle_rows(self, stamps: list[str], texts: list[str]) -> None:
        """Rows already split into Docker's UTC stamps and texts."""
        if not stamps:
            return
        try:
            times = list(map(datetime.fromisoformat, stamps))
        except ValueError:  # digits in the shape of a stamp, not a date: row by row
            ns_list, times, texts = self._split([f"{s} {t}" for s, t in zip(stamps, texts,
                                                                          strict=True)])
            self._store(times, texts, ns_list.__getitem__)
            return
        nanos = self._clock.nanos
        self._store(times, texts, lambda i: nanos(stamps[i]))

    def _store(self, times: list[datetime], texts: list[str],
               ns_of: Callable[[int], int]) -> None:
        src = self.src
        if src.resume_ns:  # a resume boundary is armed: filter line by line
            keep = [i for i in range(len(texts)) if src.accept(ns_of(i), texts[i])]
            times = [times[i] for i in keep]
            texts = [texts[i] for i in keep]
        else:
            src.advance(*newest(times, texts, ns_of))
        src.cut = self._decoder.cut_lines
        self._ingest(src, times, texts)

    def _split(self, rows: list[str]) -> tuple[list[int], list[datetime], list[str]]:
        """Rows some of which have no usable stamp (a TTY stream's odd line, an offset
        instead of Z): parsed one by one, an unstamped row taking the time before it."""
        parse = self._clock.parse
        stamps: list[int] = []
        times: list[datetime] = []
        texts: list[str] = []
        last: tuple[int, datetime] | None = None
        for row in rows:
            stamp, _, text = row.partition(" ")
            parsed = parse(stamp)
            if parsed is None:
                parsed, text = last or (0, utcnow()), row
            last = parsed
            stamps.append(parsed[0])
            times.append(parsed[1])
            texts.append(text)
        return stamps, times, texts

    def close(self) -> None:
        self._closed.set()
        response = self._response
        if response is None:
            return
        from docker.types import CancellableStream  # lazy: docker-py is slow to import

        with contextlib.suppress(Exception):
            CancellableStream(iter(()), response).close()
        with contextlib.suppress(Exception):
            response.close()


def raw_reads(response: LogResponse) -> tuple[Iterator[bytes], bool]:
    """The response body as it arrives, in reads of whatever the socket has, and whether
    those reads still carry the HTTP/1.1 chunked coding.

    ``read1`` on the connection's buffered reader returns everything already received (up
    to READ_SIZE) and blocks only when nothing is: a flood comes in large reads, a trickle
    line by line without delay. When the connection objects are not the expected ones,
    urllib3's own (slower) chunk reader is used, and the reads are plain body.
    """
    raw = response.raw
    fp = getattr(getattr(raw, "_fp", None), "fp", None)  # urllib3 internals: see above
    if not getattr(raw, "chunked", False) or fp is None or not hasattr(fp, "read1"):
        return raw.stream(READ_SIZE, decode_content=False), False
    return iter(functools.partial(fp.read1, READ_SIZE), b""), True


def log_blocks(response: LogResponse, decoder: DockerLogDecoder) -> Iterator[Block]:
    """A Docker log response as blocks of lines, until its end.

    A block is ``(stamps, texts)`` from ``FastFrames`` (the shape of almost every read),
    or records ``b"<stamp> <text>"`` from ``decoder`` (TTY streams, lines over 16 KB,
    anything unusual). Once the fast path meets a read it cannot vouch for, it hands that
    read and every later one to the general decoders, from the chunk where it stopped.
    """
    reads, chunked = raw_reads(response)
    fast = FastFrames(decoder.max_bytes) if chunked and not decoder.tty else None
    dechunk = Dechunker() if chunked else None
    for data in reads:
        if fast is not None:
            rows = fast.feed(data)
            if rows is not None:
                if rows[0]:
                    yield rows
                if fast.done:
                    return
                continue
            data, fast = fast.rest, None
        records = decoder.feed(dechunk.feed(data) if dechunk is not None else data)
        if records:
            yield records
        if dechunk is not None and dechunk.done:
            break
    records = decoder.flush()
    if records:
        yield records


def block_bytes(block: Block) -> int:
    """About how many bytes a block of lines holds (its texts)."""
    texts = block[1] if isinstance(block, tuple) else block
    return sum(map(len, texts))
