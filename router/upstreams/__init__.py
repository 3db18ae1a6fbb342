"""Calling upstreams: what a kind provides (``base``), and sending a call with its failures mapped
(``calls``). Plugin authors import the interface from here."""

from .base import HttpUpstream, Upstream, UpstreamKind, UpstreamRequest, UpstreamResponse

__all__ = ["HttpUpstream", "Upstream", "UpstreamKind", "UpstreamRequest", "UpstreamResponse"]
