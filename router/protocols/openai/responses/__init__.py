"""OpenAI Responses (``POST /v1/responses``): requests, Response objects and event streams.

The gateway serves the Responses API on every group: OpenAI upstreams get the caller's request
as it is (passthrough), every other upstream its own chat protocol through the neutral form,
with this codec on the caller's side (TRANSLATION §9). The modules: ``request`` (CreateResponse
to and from the neutral request), ``items`` (input items, and the items as listed), ``output``
(the Response object, its output items and the echoed parameters), ``response_reader`` (a Response
read back), ``stream_writer`` and ``stream_reader`` (event streams), ``ids`` (ids, and the
envelope carrying provider reasoning state in ``encrypted_content``), ``codec``.
"""

from .codec import ResponsesCodec, ResponsesStreamErrors
from .ids import new_id
from .items import input_items, item_type, listed_items
from .output import Exchange
from .request import DIALECT
from .stream_reader import TERMINAL_EVENTS

__all__ = [
    "DIALECT",
    "TERMINAL_EVENTS",
    "Exchange",
    "ResponsesCodec",
    "ResponsesStreamErrors",
    "input_items",
    "item_type",
    "listed_items",
    "new_id",
]
