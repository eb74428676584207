"""Small stand-ins shared by the unit and lab tests of the log pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from console.config import Config, ConsoleSettings, LogRuleConfig, LogsConfig, ServerConfig
from console.engine.contracts import Change
from console.engine.logs import LogService


class NoContainers:
    """A ContainerService with nothing listed and nothing followed: the LogService under
    test reads only what a test feeds it, or the host files it is configured with."""

    def subscribe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        return lambda: None

    def snapshot(self) -> dict[str, Any]:
        return {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def refresh(self) -> None:
        pass


def make_log_service(buffer_lines: int = 10_000, rules: Iterable[LogRuleConfig] = (),
                     flush: float = 0.01) -> LogService:
    """A LogService for server "alpha" over no containers and a host it never uses: it
    holds what a test feeds it."""
    server = ServerConfig(name="alpha", logs=LogsConfig(buffer_lines=buffer_lines,
                                                        rules=tuple(rules)))
    config = Config(ConsoleSettings(), (server,))
    return LogService(config, {"alpha": SimpleNamespace()},  # type: ignore[dict-item]
                      containers=NoContainers(), flush_interval=flush)


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
