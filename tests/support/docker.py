"""Fake Docker: one daemon per server, served through one fake of docker-py's low-level API.

``FakeDaemon`` holds what a server's Docker knows: containers (as ``docker inspect``
documents, with their env, labels and mounts), volumes, the open event streams and the
exec'd processes. ``FakeAPI`` answers the ``APIClient`` calls the services make over it:
``containers`` / ``inspect_container`` / ``restart`` for the containers service,
``volumes`` for the secrets service, ``exec_*`` for migrations. ``events()`` *blocks* its
reading thread until an event is pushed or it is closed from another thread, exactly like
``CancellableStream``. ``docker_log_body`` is a log stream as dockerd sends it.
"""

from __future__ import annotations

import copy
import itertools
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.engine.dockerapi import DockerClients
from console.engine.shared import (
    COMPOSE_PROJECT_LABEL,
    COMPOSE_SERVICE_LABEL,
    COMPOSE_WORKING_DIR_LABEL,
)
from tests.support.clock import FROZEN_NOW

# --------------------------------------------------------------------------- documents

def inspect_doc(cid: str, name: str, *, project: str | None = "crm", service: str | None = None,
                state: str = "running", health: str | None = "healthy", restarts: int = 0,
                started: datetime | None = None, image: str = "ops-lab-app:1",
                exit_code: int = 0, env: dict[str, str] | None = None,
                working_dir: str | None = None, mounts: Sequence[str] = (),
                extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A ``docker inspect`` document with just the fields the services read."""
    labels = dict(extra_labels or {})
    if project:
        labels[COMPOSE_PROJECT_LABEL] = project
    if service:
        labels[COMPOSE_SERVICE_LABEL] = service
    if working_dir:
        labels[COMPOSE_WORKING_DIR_LABEL] = working_dir
    started = started or FROZEN_NOW - timedelta(hours=3, minutes=5)
    state_doc: dict[str, Any] = {
        "Status": state,
        "ExitCode": exit_code,
        "StartedAt": started.strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
    }
    if health:
        state_doc["Health"] = {"Status": health}
    return {"Id": cid, "Name": f"/{name}", "Image": "sha256:" + "0" * 64,
            "RestartCount": restarts, "State": state_doc,
            "Mounts": [{"Type": "volume", "Name": m, "Destination": "/data"} for m in mounts],
            "Config": {"Image": image, "Labels": labels,
                       "Env": [f"{k}={v}" for k, v in (env or {}).items()]}}


# --------------------------------------------------------------------------- daemon

class FakeEventStream:
    """Blocks the reading thread like the SDK's stream; ``close()`` ends it from any thread."""

    _END = object()

    def __init__(self) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self.closed = threading.Event()

    def push(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def end(self) -> None:
        """The daemon went away: the stream stops without anyone closing it."""
        self._queue.put(self._END)

    def close(self) -> None:
        self.closed.set()
        self._queue.put(self._END)

    def __iter__(self) -> FakeEventStream:
        return self

    def __next__(self) -> Any:
        item = self._queue.get()
        if item is self._END:
            raise StopIteration
        return item


class ExecProcess:
    """A docker exec'd process: prints the pid marker, then its script, then waits."""

    def __init__(self, pid: int, frames: list[tuple[bytes | None, bytes | None]],
                 exit_code: int, hang: bool, ignore_term: bool) -> None:
        self.pid = pid
        self.frames = frames
        self.exit_code = exit_code
        self.hang = hang
        self.ignore_term = ignore_term
        self.killed_with: list[str] = []
        self.ended = threading.Event()
        self.release = threading.Event()

    def kill(self, sig: str) -> None:
        self.killed_with.append(sig)
        if sig == "KILL" or not self.ignore_term:
            self.exit_code = 128 + (9 if sig == "KILL" else 15)
            self.release.set()


class ExecStream:
    def __init__(self, proc: ExecProcess) -> None:
        self.proc = proc
        self.closed = False

    def __iter__(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        yield (f"@@ops-console-pid {self.proc.pid}\n".encode(), None)
        yield from self.proc.frames
        if self.proc.hang:
            while not self.proc.release.wait(0.02):
                if self.closed:
                    return
        self.proc.ended.set()

    def close(self) -> None:
        self.closed = True


class FakeDaemon:
    """One server's Docker: containers by id, volumes, open event streams, exec'd processes
    (each runs ``script``), and a switch to break it."""

    def __init__(self, docs: list[dict[str, Any]] | None = None) -> None:
        self.docs: dict[str, dict[str, Any]] = {d["Id"]: d for d in docs or []}
        self.volumes: dict[str, dict[str, Any]] = {}
        self.streams: list[FakeEventStream] = []
        self.event_filters: list[Any] = []
        self.calls: list[tuple[str, Any]] = []
        self.broken: Exception | None = None
        self.restart_gate: threading.Event | None = None
        self.script: dict[str, Any] = {"frames": [], "exit_code": 0, "hang": False,
                                       "ignore_term": False}
        self.processes: dict[str, ExecProcess] = {}
        self.created: list[tuple[str, list[str]]] = []
        self._exec_ids = itertools.count(1)

    def add(self, name: str, env: dict[str, str], *, project: str | None = "crm",
            working_dir: str | None = "/srv/crm", mounts: Sequence[str] = (),
            state: str = "running", extra_labels: dict[str, str] | None = None) -> None:
        """A container with an environment, as Compose creates one (id ``id-<name>``)."""
        cid = f"id-{name}"
        self.docs[cid] = inspect_doc(cid, name, project=project, state=state, health=None,
                                     env=env, working_dir=working_dir, mounts=mounts,
                                     extra_labels=extra_labels)

    def volume(self, name: str, project: str | None = None) -> None:
        self.volumes[name] = {"Name": name, "Driver": "local",
                              "Labels": {COMPOSE_PROJECT_LABEL: project} if project else None,
                              "CreatedAt": "2026-11-24T07:00:00Z"}

    def find(self, ref: str) -> dict[str, Any] | None:
        """By id or by name, as Docker looks a container up."""
        return self.docs.get(ref) or next(
            (d for d in self.docs.values() if d["Name"] == f"/{ref}"), None)

    def check(self) -> None:
        if self.broken is not None:
            raise self.broken

    def emit(self, cid: str, action: str) -> None:
        for stream in self.streams:
            if not stream.closed.is_set():
                stream.push({"Type": "container", "Action": action, "id": cid,
                             "Actor": {"ID": cid, "Attributes": {}}})

    @property
    def live_stream(self) -> FakeEventStream | None:
        live = [s for s in self.streams if not s.closed.is_set()]
        return live[-1] if live else None


# --------------------------------------------------------------------------- API, client

class FakeAPI:
    """The part of docker-py's ``APIClient`` the services call, answered from a daemon."""

    def __init__(self, daemon: FakeDaemon) -> None:
        self.daemon = daemon

    def containers(self, all: bool = False, filters: dict[str, Any] | None = None
                   ) -> list[dict[str, Any]]:
        """The list form: state as a word, labels and mounts at the top, as Docker lists."""
        self.daemon.calls.append(("containers", filters))
        self.daemon.check()
        docs = list(self.daemon.docs.values())
        label = (filters or {}).get("label")
        if label:
            key, _, value = label.partition("=")
            docs = [d for d in docs if d["Config"]["Labels"].get(key) == value]
        return [{"Id": d["Id"], "Names": [d["Name"]], "State": d["State"]["Status"],
                 "Labels": dict(d["Config"]["Labels"]), "Mounts": copy.deepcopy(d["Mounts"])}
                for d in docs]

    def inspect_container(self, cid: str) -> dict[str, Any]:
        """A copy (callers clear the env from it); an unknown one is docker's NotFound."""
        import docker.errors

        self.daemon.calls.append(("inspect", cid))
        self.daemon.check()
        doc = self.daemon.find(cid)
        if doc is None:
            raise docker.errors.NotFound(f"No such container: {cid}")
        return copy.deepcopy(doc)

    def restart(self, cid: str, timeout: int = 10) -> None:
        self.daemon.calls.append(("restart", cid))
        self.daemon.check()
        gate = self.daemon.restart_gate
        if gate is not None:
            gate.wait(10)
        doc = self.daemon.docs[cid]
        doc["State"]["StartedAt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        doc["State"]["Status"] = "running"
        if "Health" in doc["State"]:
            doc["State"]["Health"]["Status"] = "starting"

    def volumes(self) -> dict[str, Any]:
        self.daemon.check()
        return {"Volumes": [dict(v) for v in self.daemon.volumes.values()], "Warnings": None}

    def exec_create(self, container: str, cmd: list[str], **_: Any) -> dict[str, str]:
        """Starts the daemon's ``script``; the console's kill wrapper signals a process."""
        daemon = self.daemon
        daemon.created.append((container, list(cmd)))
        exec_id = f"exec{next(daemon._exec_ids)}"
        if "ops-console-kill" in cmd:
            sig = re.match(r"kill -(\w+)", cmd[2]).group(1)
            pid = int(cmd[-1])
            for proc in daemon.processes.values():
                if proc.pid == pid:
                    proc.kill(sig)
            return {"Id": exec_id}
        daemon.processes[exec_id] = ExecProcess(
            pid=100 + len(daemon.processes), frames=list(daemon.script["frames"]),
            exit_code=daemon.script["exit_code"], hang=daemon.script["hang"],
            ignore_term=daemon.script["ignore_term"])
        return {"Id": exec_id}

    def exec_start(self, exec_id: str, stream: bool = False, demux: bool = False,
                   **_: Any) -> Any:
        proc = self.daemon.processes.get(exec_id)
        if proc is None:
            return b""
        return ExecStream(proc)

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        proc = self.daemon.processes[exec_id]
        return {"Running": not proc.ended.is_set(), "ExitCode": proc.exit_code}


class FakeDockerClient:
    """A ``docker.DockerClient``: the low-level API under ``api``, and ``events()``."""

    def __init__(self, daemon: FakeDaemon | None = None) -> None:
        self.daemon = daemon if daemon is not None else FakeDaemon()
        self.api = FakeAPI(self.daemon)
        self.closed = False

    def events(self, decode: bool = False, filters: dict[str, Any] | None = None
               ) -> FakeEventStream:
        self.daemon.check()
        stream = FakeEventStream()
        self.daemon.streams.append(stream)
        self.daemon.event_filters.append(filters)
        return stream

    def close(self) -> None:
        self.closed = True


def fake_clients(daemons: dict[str, FakeDaemon]) -> DockerClients:
    """A DockerClients whose factory maps ``unix:///fake/<server>.sock`` to that daemon."""

    def factory(base_url: str, timeout: float) -> FakeDockerClient:
        server = Path(base_url.removeprefix("unix://")).stem
        daemon = daemons[server]
        daemon.check()
        return FakeDockerClient(daemon)

    return DockerClients(factory=factory)


def standard_daemons() -> dict[str, FakeDaemon]:
    """Deterministic data for the shell tests and snapshots."""
    alpha = FakeDaemon([
        inspect_doc("a1" * 32, "crm-backend-1", service="backend", health="healthy"),
        inspect_doc("a2" * 32, "crm-nginx-1", service="nginx", health=None, restarts=2,
                    started=FROZEN_NOW - timedelta(days=2, hours=4), image="ops-lab-app:1"),
        inspect_doc("a3" * 32, "crm-worker-1", service="worker", state="exited", health=None,
                    exit_code=137),
    ])
    bravo = FakeDaemon([
        inspect_doc("b1" * 32, "crm2-backend-1", project="crm2", service="backend",
                    health="unhealthy", restarts=5,
                    started=FROZEN_NOW - timedelta(minutes=7)),
        inspect_doc("b2" * 32, "loose-container", project=None, health="starting",
                    image="busybox:latest", started=FROZEN_NOW - timedelta(seconds=20)),
    ])
    return {"alpha": alpha, "bravo": bravo}


# --------------------------------------------------------------------------- logs

def docker_log_body(lines: list[tuple[int, str, bytes]], *, pack: int = 1) -> bytes:
    """Docker's log stream as dockerd sends it: a frame per line, ``pack`` frames per HTTP
    chunk, 16 KB frames for long lines (the last one ending in a newline)."""
    frames: list[bytes] = []
    for stream, stamp, text in lines:
        payload = stamp.encode() + b" " + text + b"\n"
        parts = [payload[i:i + 16_384] for i in range(0, len(payload), 16_384)]
        frames += [bytes([stream, 0, 0, 0]) + len(p).to_bytes(4, "big") + p for p in parts]
    chunks = [b"".join(frames[i:i + pack]) for i in range(0, len(frames), pack)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
