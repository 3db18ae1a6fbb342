"""The caller's address (CONTRACT §5): the TCP peer, or — when the peer is one of
``edge.trusted_proxies`` — the right-most address of ``X-Forwarded-For`` that is not a trusted
proxy. A forged ``X-Forwarded-For`` from an untrusted peer changes nothing."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from torouter.router.key_rules import IPNetwork, parse_ip


class ClientAddress:
    def __init__(self, trusted_proxies: tuple[str, ...]) -> None:
        self._trusted: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(c) for c in trusted_proxies)

    def _is_trusted(self, address: str) -> bool:
        parsed = parse_ip(address)
        return parsed is not None and any(
            parsed in net for net in self._trusted if net.version == parsed.version
        )

    def of(self, request: web.Request) -> str:
        peer = request.remote or ""
        if not self._trusted or not self._is_trusted(peer):
            return peer
        hops = [
            hop.strip() for value in request.headers.getall("X-Forwarded-For", ()) for hop in value.split(",")
        ]
        for hop in reversed(hops):
            if hop and not self._is_trusted(hop):
                return hop
        return next((hop for hop in hops if hop), peer)  # every hop a proxy: the farthest
