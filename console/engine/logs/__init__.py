"""Logs: container logs and host files, classified by the auth rules, redacted, buffered.

One module per part (each says why it is built the way it is):

- ``framing``: bytes to lines (``LineAssembler``, the one line splitter), HTTP chunks,
  Docker's frames;
- ``stamps``: Docker's timestamps, ``since``, times in host files;
- ``source``: a source's ring buffer and resume state, the registry of sources;
- ``docker_reader``: one read of a container's log, the only module that touches
  docker-py or urllib3 internals;
- ``readahead``: a helper thread that reads ahead during a backlog;
- ``container_sources`` and ``files``: which containers and files are read, and how
  they are followed and retried;
- ``store``: classification, ring buffers, auth events and counts;
- ``delivery``: coalesced batches to the listeners;
- ``model``: the read model (``LogsSnapshot``) and the change event (``LogChange``);
- ``service``: ``LogService``, which wires them together;
- ``export``: lines to a file; ``tuning``: the collector's thresholds for floods.
"""

from __future__ import annotations

from console.engine.logs.container_sources import ContainerView, ServerContainersView
from console.engine.logs.export import export_lines, format_line
from console.engine.logs.framing import MAX_LINE_BYTES, DockerLogDecoder, LineAssembler
from console.engine.logs.model import LogBatch, LogChange, LogsSnapshot, SourceStatus
from console.engine.logs.service import FLUSH_INTERVAL, LogService
from console.engine.logs.source import INITIAL_TAIL, INITIAL_WINDOW_S
from console.engine.logs.tuning import freeze_startup_heap, tune_gc

__all__ = [
    "FLUSH_INTERVAL",
    "INITIAL_TAIL",
    "INITIAL_WINDOW_S",
    "MAX_LINE_BYTES",
    "ContainerView",
    "DockerLogDecoder",
    "LineAssembler",
    "LogBatch",
    "LogChange",
    "LogService",
    "LogsSnapshot",
    "ServerContainersView",
    "SourceStatus",
    "export_lines",
    "format_line",
    "freeze_startup_heap",
    "tune_gc",
]
