"""A migration's ``docker exec`` output, read from a fake Docker daemon on a unix socket.

The fake answers the three calls a migration makes (exec create, exec start, exec inspect)
over real HTTP, through a real docker-py client. It can send the ``101 UPGRADED`` head and
the first frames in one write, as a Docker socket forwarded over SSH often delivers them:
docker-py's own ``exec_start`` loses those frames (they sit in ``http.client``'s buffer);
the console's reader must not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from console.config import Config, ConsoleSettings, MigrateAction, ServerConfig
from console.engine.actions import ActionService, OutputLine
from console.engine.actions.exec_stream import ExecStartError, ExecStream
from console.engine.audit import AuditLog
from console.engine.dockerapi import DockerClients
from console.engine.hosts import LocalHost

pytestmark = pytest.mark.timeout(60)

API = "1.41"


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(data)) + data


class FakeDockerd:
    """HTTP/1.1 on a unix socket: keep-alive requests, and a hijacked exec start."""

    def __init__(self, path: Path, *, coalesce: bool = True, start_status: int = 101) -> None:
        self.path = str(path)
        self.coalesce = coalesce
        self.start_status = start_status
        self.release = threading.Event()  # the rest of the output is sent once set
        self.requests: list[str] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(8)
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()

    def _requests(self, conn: socket.socket) -> Iterator[tuple[str, str]]:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            length = next((int(line.split(":")[1]) for line in lines
                           if line.lower().startswith("content-length:")), 0)
            while len(buffer) < length:
                buffer += conn.recv(65536)
            buffer = buffer[length:]
            method, path, _ = lines[0].split(" ", 2)
            yield method, path

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            for method, path in self._requests(conn):
                self.requests.append(f"{method} {path}")
                if path.endswith("/exec") and method == "POST":
                    self._json(conn, 201, {"Id": "e1"})
                elif path.endswith("/exec/e1/json"):
                    self._json(conn, 200, {"Running": False, "ExitCode": 0})
                elif path.endswith("/exec/e1/start"):
                    self._start(conn)
                    return
                elif path.endswith("/exec/nope/start"):
                    self._json(conn, 404, {"message": "No such exec instance: nope"})
                else:
                    self._json(conn, 404, {"message": f"no {path}"})

    @staticmethod
    def _json(conn: socket.socket, status: int, doc: object) -> None:
        body = json.dumps(doc).encode()
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def _start(self, conn: socket.socket) -> None:
        if self.start_status != 101:
            self._json(conn, self.start_status, {"message": "container app is not running"})
            return
        head = (b"HTTP/1.1 101 UPGRADED\r\nContent-Type: "
                b"application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\n"
                b"Upgrade: tcp\r\n\r\n")
        first = frame(1, b"@@ops-console-pid 42\n") + frame(1, b"started\n") + \
            frame(2, b"warming up\n")
        if self.coalesce:
            conn.sendall(head + first)  # one write: as SSH forwarding delivers it
        else:
            conn.sendall(head)
            time.sleep(0.05)  # read apart: docker-py's own reader gets this case right
            conn.sendall(first)
        self.release.wait(20)
        with contextlib.suppress(OSError):  # the reader may have closed its end already
            conn.sendall(frame(1, b"done\n"))


@pytest.fixture
def dockerd(tmp_path: Path) -> Iterator[FakeDockerd]:
    daemon = FakeDockerd(tmp_path / "docker.sock")
    yield daemon
    daemon.close()


def make_service(tmp_path: Path, dockerd: FakeDockerd) -> ActionService:
    server = ServerConfig(name="alpha", docker_socket=dockerd.path,
                          migrate=MigrateAction(command=("migrate", "up"), container="app"))
    config = Config(ConsoleSettings(audit_log=tmp_path / "audit.jsonl"), (server,))
    clients = DockerClients(factory=lambda url, timeout: docker.DockerClient(
        base_url=url, version=API, timeout=int(timeout)))
    return ActionService(config, {"alpha": LocalHost(server)}, clients=clients,
                         audit=AuditLog(config.console.audit_log, user="t", hostname="h"))


async def run_until_released(service: ActionService, dockerd: FakeDockerd
                             ) -> tuple[list[OutputLine], list[OutputLine], int | None]:
    """Migrate; returns (lines seen before the output was released, all lines, pid)."""
    lines: list[OutputLine] = []
    task = asyncio.create_task(service.migrate("alpha", lines.append))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not any(x.text == "warming up" for x in lines) and loop.time() < deadline:
        await asyncio.sleep(0.01)
    early = list(lines)
    run = service.running_migration("alpha")
    pid = int(run.pid) if run is not None and run.pid is not None else None
    dockerd.release.set()
    result = await asyncio.wait_for(task, 10)
    assert result.ok, result.detail
    return early, lines, pid


@pytest.mark.parametrize("coalesce", [True, False], ids=["head-and-frames-in-one-write",
                                                          "head-then-frames"])
async def test_the_first_lines_stream_before_the_end_and_the_pid_is_known(
        tmp_path: Path, dockerd: FakeDockerd, coalesce: bool) -> None:
    dockerd.coalesce = coalesce
    early, lines, pid = await run_until_released(make_service(tmp_path, dockerd), dockerd)
    assert [(x.stream, x.text) for x in early] == [("stdout", "started"),
                                                   ("stderr", "warming up")]
    assert pid == 42  # the marker was read, so a cancel can kill the process
    assert [x.text for x in lines if x.stream != "console"] == ["started", "warming up",
                                                                 "done"]
    assert "@@ops-console-pid 42" not in [x.text for x in lines]


async def test_twenty_runs_in_a_row_never_miss_the_first_line(tmp_path: Path) -> None:
    for attempt in range(20):
        daemon = FakeDockerd(tmp_path / f"d{attempt}.sock")
        try:
            early, _, pid = await run_until_released(make_service(tmp_path, daemon), daemon)
        finally:
            daemon.close()
        assert early and early[0].text == "started", (attempt, early)
        assert pid == 42, attempt


def test_docker_refusing_the_start_is_an_error_with_its_message(tmp_path: Path) -> None:
    daemon = FakeDockerd(tmp_path / "docker.sock")
    try:
        with pytest.raises(ExecStartError, match="404 No such exec instance: nope"):
            ExecStream(daemon.path, API, "nope").open()
    finally:
        daemon.close()


async def test_a_start_refused_by_docker_is_a_failed_migration_not_a_crash(
        tmp_path: Path) -> None:
    daemon = FakeDockerd(tmp_path / "docker.sock", start_status=409)
    try:
        result = await make_service(tmp_path, daemon).migrate("alpha")
    finally:
        daemon.close()
    assert not result.ok
    assert "could not start" in result.detail and "container app is not running" in \
        result.detail


def test_close_from_another_thread_ends_a_blocked_read(tmp_path: Path,
                                                       dockerd: FakeDockerd) -> None:
    stream = ExecStream(dockerd.path, API, "e1").open()
    frames: list[object] = []
    reader = threading.Thread(target=lambda: frames.extend(stream), daemon=True)
    reader.start()
    deadline = threading.Event()
    while len(frames) < 3 and not deadline.wait(0.01):
        pass
    stream.close()  # the fake is still holding the rest back
    reader.join(5)
    assert not reader.is_alive()
    assert frames[:3] == [(b"@@ops-console-pid 42\n", None), (b"started\n", None),
                          (None, b"warming up\n")]
