"""Bounded JSON answers from a monitoring engine, with failures said in words.

An engine that is refused, hangs, asks for credentials, or sends something that is not JSON
(an HTML login page from a proxy in front of it, a truncated body) must give the operator a
clear line, never a traceback. A query result can be huge (a careless ``match`` over a big
fleet): the body is read in chunks and refused past ``max_bytes``, never loaded whole.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from console.config import expand_env
from console.engine.shared import exception_chain

__all__ = ["MAX_ANSWER_BYTES", "SourceError", "auth_headers", "get_json"]

MAX_ANSWER_BYTES = 16 * 1024 * 1024


class SourceError(Exception):
    """An engine's answer could not be used; the message is the operator's line."""


def auth_headers(bearer_token: str | None, user: str | None,
                 password: str | None) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    """Expand the credential templates now, at send time, and never keep the values."""
    if bearer_token:
        return {"Authorization": f"Bearer {expand_env(bearer_token, 'bearer_token')}"}, None
    if user is not None and password is not None:
        return {}, httpx.BasicAuth(user, expand_env(password, "basic_auth.password"))
    return {}, None


async def get_json(client: httpx.AsyncClient, url: str, *,
                   params: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None,
                   auth: httpx.BasicAuth | None = None,
                   max_bytes: int = MAX_ANSWER_BYTES) -> Any:
    """GET ``url`` and decode its JSON; SourceError with the reason on any failure."""
    try:
        async with client.stream("GET", url, params=params, headers=headers,
                                 auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT
                                 ) as response:
            _check_status(response)
            body = await _read_bounded(response, max_bytes)
    except SourceError:
        raise
    except httpx.ConnectError as exc:
        raise SourceError(_connect_reason(exc)) from None
    except httpx.TimeoutException as exc:
        raise SourceError(f"no answer in time ({_timeout_phase(exc)})") from None
    except httpx.RemoteProtocolError as exc:
        if "without sending a response" in str(exc):
            # httpcore's words when a kept-alive connection was closed before any answer
            # (the engine was killed or restarted between rounds): nothing was truncated.
            raise SourceError("the connection broke (the engine stopped or restarted?)") \
                from None
        raise SourceError("the connection closed mid-answer (truncated)") from None
    except httpx.NetworkError:
        # A kept-alive connection to an engine that was killed or restarted breaks on the
        # next read or write; the next round opens a new one.
        raise SourceError("the connection broke (the engine stopped or restarted?)") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"request failed: {type(exc).__name__}") from None
    try:
        # A round of 500 targets is about a megabyte of JSON: decoding it was a third of the
        # fleet view's idle CPU with the standard library, orjson takes a fraction of that.
        return orjson.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        kind = "truncated JSON" if body.lstrip()[:1] in (b"{", b"[") else "not JSON"
        raise SourceError(f"the answer is {kind} ({exc.__class__.__name__} at byte "
                          f"{getattr(exc, 'pos', getattr(exc, 'start', '?'))})") from None


def _check_status(response: httpx.Response) -> None:
    code = response.status_code
    if code in (401, 403):
        raise SourceError(f"HTTP {code}: {'credentials refused' if code == 401 else 'forbidden'}"
                          " (check bearer_token / basic_auth and their environment variables)")
    if code >= 400 and code != 400 and code != 422:
        # Prometheus answers 400/422 with a JSON error body worth reading; others are not.
        raise SourceError(f"HTTP {code} {response.reason_phrase}".rstrip())


async def _read_bounded(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(f"the answer is {int(declared) // 1_000_000} MB, over the "
                          f"{max_bytes // 1_000_000} MB limit: refused (narrow `match`)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"the answer is over the {max_bytes // 1_000_000} MB limit: "
                              "refused (narrow `match`)")
        chunks.append(chunk)
    return b"".join(chunks)


def _connect_reason(exc: httpx.ConnectError) -> str:
    causes = list(exception_chain(exc))
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "DNS: the name does not resolve"
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return "TLS handshake failed"
    text = " ".join(str(c) for c in causes).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "name resolution" in text:
        return "DNS: the name does not resolve"
    return "cannot connect"


def _timeout_phase(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connecting"
    if isinstance(exc, httpx.ReadTimeout):
        return "waiting for the answer"
    return "timeout"
