"""Anthropic Messages (``POST /v1/messages``): requests, responses and streams, for Anthropic
callers and Anthropic upstreams alike.

What the neutral form cannot hold stays in ``extra`` dicts shaped like the JSON it came from (a
*residual*): the keys the reader did not take, with a nested object's leftovers under that
object's key (``thinking.display`` sits in ``request.extra["thinking"]``). When the neutral
object's dialect is ``"anthropic"``, writers start from the residual and write what the neutral
form says over it, so an untouched round trip gives back equal JSON while a neutral value changed
since wins. The rules that make this exact:

* a null value stays in the residual, and so does ``false`` where the neutral form only says true
  (``stream``, ``is_error``);
* a value the neutral form normalises keeps its original in the residual (a stop reason other
  than the canonical one, a non-canonical ``cache_control``), and the writer reuses the original
  while it agrees with the neutral value;
* blocks the neutral form has no part for (server tool use and results, search results, citations
  deltas, blocks newer than this codec) are kept whole, in a *slot list* under the residual's
  ``content`` where they sat among the parts (``common.fill_slots``);
* one wire message may become several neutral messages (tool results go to ``tool`` messages);
  the later ones carry ``wire.CONTINUES`` and are joined again.

Objects of another dialect have their extras ignored: their Anthropic JSON is built from the
neutral fields alone (TRANSLATION §4, §5.6, §7.3), and what an Anthropic upstream cannot honour
is a 400 naming the field (the decisions are tabled in ``request``). Readers raise
``GatewayError`` naming the offending field (400 for a caller's request, 502 for an upstream's
response); the stream reader never raises and reports a ``StreamFailure`` instead.

The modules: ``codec`` (the ChatCodec), ``request``, ``messages``, ``content`` and ``tools`` (the
request body), ``response`` (the Message, stop reasons, usage), ``stream_reader``,
``stream_writer`` and ``stream_relay`` (same-dialect events rebuilt), and under them ``wire``; the
shape checks and residual helpers are shared with the other codecs in ``protocols.common``.
"""

from .block_fields import DIALECT
from .codec import AnthropicMessagesCodec
from .stream_reader import AnthropicMessagesStreamReader
from .stream_writer import AnthropicMessagesStreamWriter

__all__ = [
    "DIALECT",
    "AnthropicMessagesCodec",
    "AnthropicMessagesStreamReader",
    "AnthropicMessagesStreamWriter",
]
