"""OpenAI Chat Completions (``POST /v1/chat/completions``): requests, responses and streams.

What the neutral form cannot hold stays in ``extra`` dicts shaped like the JSON it came from (a
*residual*): the keys the reader did not take, with a nested object's leftovers under that
object's key (a tool's unknown ``function`` keys sit in ``tool.extra["function"]``). When the
neutral object's dialect is ``"openai"``, writers start from the residual and then write what the
neutral form says, so an untouched round trip gives back equal JSON, while a neutral value that
was changed since always wins. Two rules make that exact:

* a null value stays in the residual (the neutral form cannot tell null from absent);
* a value the neutral form normalises keeps its original in the residual (a string ``stop``,
  the deprecated ``max_tokens`` / ``functions`` / ``function_call``, role ``function``, finish
  reason ``function_call``, ...), and the writer reuses the original while it agrees with the
  neutral value.

Objects of another dialect have their extras ignored: their OpenAI JSON is built from the
neutral fields alone (TRANSLATION §7). Readers raise ``GatewayError`` naming the offending field
(400 for a caller's request, 502 for an upstream's response); the stream reader never raises and
reports a ``StreamFailure`` instead.

The modules: ``codec`` (the ChatCodec), ``request``, ``messages``, ``parts`` and ``tools`` (the
request body), ``response`` (completions, finish reasons, usage), ``stream_reader`` and
``stream_writer``, and under them ``residual`` and ``validate``, which every reader and writer
shares.
"""

from .codec import OpenAIChatCodec
from .residual import DIALECT
from .stream_reader import OpenAIChatStreamReader
from .stream_writer import OpenAIChatStreamWriter

__all__ = ["DIALECT", "OpenAIChatCodec", "OpenAIChatStreamReader", "OpenAIChatStreamWriter"]
