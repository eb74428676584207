"""What came back over HTTP, and the small text helpers every judgement of it uses."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

__all__ = [
    "BODY_PREVIEW_BYTES",
    "BODY_READ_LIMIT",
    "NOT_JSON",
    "Answer",
    "clip",
    "parse_json",
    "status_text",
]

BODY_PREVIEW_BYTES = 2048
BODY_READ_LIMIT = 64 * 1024  # enough for any health document; more is not parsed


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back over HTTP, before it is judged against the check."""

    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    latency_ms: float
    cert_expires_at: float | None = None  # epoch seconds, https only


NOT_JSON = object()
"""What ``parse_json`` answers for a body that is not JSON (``None`` is JSON's null)."""


def parse_json(body: bytes) -> object:
    """The decoded JSON value of ``body``, or ``NOT_JSON``."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_text(status: int) -> str:
    """``503 Service Unavailable``: the code and its reason phrase."""
    phrase = httpx.codes.get_reason_phrase(status)
    return f"{status} {phrase}" if phrase else str(status)
