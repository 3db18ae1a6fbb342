"""Calling upstreams: what a kind provides (``base``), and sending a call with its failures mapped
(``calls``). Plugin authors import the interface from here, with what a kind may declare of its
models (``Capabilities``, ``Refusal``, ``refusing_openai_extras``, ``ModelFamilies``)."""

from ..capabilities import Capabilities, Refusal, refusing_openai_extras
from ..routing.families import ModelFamilies
from .base import HttpUpstream, Upstream, UpstreamKind, UpstreamRequest, UpstreamResponse

__all__ = [
    "Capabilities",
    "HttpUpstream",
    "ModelFamilies",
    "Refusal",
    "Upstream",
    "UpstreamKind",
    "UpstreamRequest",
    "UpstreamResponse",
    "refusing_openai_extras",
]
