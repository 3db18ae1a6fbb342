"""The caller's address: the TCP peer, or X-Forwarded-For's right-most untrusted hop behind a
trusted proxy."""

from __future__ import annotations

from unittest import mock

from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from torouter.edge.client_ip import ClientAddress


def request(peer: str, *forwarded: str) -> mock.Mock:
    headers = CIMultiDict(("X-Forwarded-For", value) for value in forwarded)
    made = make_mocked_request("GET", "/v1/models", headers=headers)
    return mock.Mock(remote=peer, headers=made.headers)


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert ClientAddress(()).of(request("192.0.2.1", "198.51.100.7")) == "192.0.2.1"


def test_an_untrusted_peers_forwarded_header_changes_nothing() -> None:
    addresses = ClientAddress(("10.0.0.0/8",))
    assert addresses.of(request("192.0.2.1", "198.51.100.7")) == "192.0.2.1"


def test_behind_trusted_proxies_the_right_most_untrusted_hop() -> None:
    addresses = ClientAddress(("10.0.0.0/8", "fd00::/8"))
    assert addresses.of(request("10.0.0.2", "203.0.113.9, 198.51.100.7, 10.0.0.5")) == "198.51.100.7"
    assert addresses.of(request("10.0.0.2", "203.0.113.9", "198.51.100.7")) == "198.51.100.7"  # two headers
    assert addresses.of(request("fd00::1", "2001:db8::7")) == "2001:db8::7"
    assert addresses.of(request("10.0.0.2", "10.0.0.3, 10.0.0.4")) == "10.0.0.3"  # all proxies
    assert addresses.of(request("10.0.0.2")) == "10.0.0.2"  # no header
