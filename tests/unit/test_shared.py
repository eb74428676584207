"""The engine's shared helpers: retry timing, exception chains, Docker's "not found"."""

from __future__ import annotations

from types import SimpleNamespace

from console.engine import dockerapi
from console.engine.shared import (
    LazyDockerClients,
    chain_has,
    exception_chain,
    is_not_found,
    retry_delay,
)


def test_retry_delay_doubles_from_one_second_up_to_the_cap() -> None:
    assert [retry_delay(n) for n in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert retry_delay(-3) == 1.0
    assert retry_delay(10_000) == 30.0
    assert retry_delay(2, base=0.5, cap=1.5) == 1.5


def test_exception_chain_walks_causes_contexts_and_groups_once_each() -> None:
    refused = ConnectionRefusedError("refused")
    try:
        try:
            raise refused
        except ConnectionRefusedError as exc:
            raise OSError("connect failed") from exc
    except OSError as outer:
        wrapped = outer
    group = ExceptionGroup("several", [ValueError("a"), wrapped])
    chain = list(exception_chain(group))
    assert chain[0] is group
    assert refused in chain and wrapped in chain
    assert len(chain) == len({id(e) for e in chain})
    assert chain_has(group, ConnectionRefusedError)
    assert not chain_has(group, TimeoutError)


def test_exception_chain_survives_a_loop() -> None:
    first, second = ValueError("first"), ValueError("second")
    first.__context__ = second
    second.__context__ = first
    assert list(exception_chain(first)) == [first, second]


def test_is_not_found_by_status_or_by_class_name() -> None:
    class NotFound(Exception):
        pass

    gone = Exception("no such container")
    gone.response = SimpleNamespace(status_code=404)  # type: ignore[attr-defined]
    other = Exception("server error")
    other.response = SimpleNamespace(status_code=500)  # type: ignore[attr-defined]
    assert is_not_found(gone)
    assert is_not_found(NotFound())
    assert not is_not_found(other)
    assert not is_not_found(ValueError("404"))


def test_lazy_docker_clients_uses_the_given_cache_or_the_shared_one() -> None:
    class Service(LazyDockerClients):
        def __init__(self, clients: dockerapi.DockerClients | None) -> None:
            self._clients = clients

    mine = dockerapi.DockerClients()
    assert Service(mine).clients is mine
    assert Service(None).clients is dockerapi.default_clients()
