"""The suite's loopback guard itself works (so its silence elsewhere means something)."""

from __future__ import annotations

import socket

import pytest

from .. import conftest


def test_guard_refuses_and_records_a_public_address() -> None:
    with socket.socket() as sock, pytest.raises(OSError, match="beyond loopback"):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed
    assert conftest._outbound == ["('192.0.2.1', 80)"]
    conftest._outbound.clear()


def test_guard_lets_loopback_through() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())


def test_guard_refuses_name_lookups_of_public_hosts() -> None:
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("duckduckgo.com", 443)
    assert conftest._outbound == ["lookup 'duckduckgo.com'"]
    conftest._outbound.clear()
