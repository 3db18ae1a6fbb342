"""Gemini ``generateContent`` / ``streamGenerateContent``: requests, responses and streams, for
Gemini callers and Gemini upstreams alike.

What the neutral form cannot hold stays in ``extra`` dicts shaped like the JSON it came from (a
*residual*): the keys the reader did not take, with a nested object's leftovers under that
object's key (``generationConfig.responseModalities`` sits in ``request.extra["generationConfig"]``).
When the neutral object's dialect is ``"gemini"``, writers start from the residual and write what
the neutral form says over it, so an untouched round trip of a camelCase body gives back equal JSON
(a snake_case body comes back camelCase, as the writers always spell fields), while a neutral value
changed since wins. The rules that make this exact:

* a null value stays in the residual, and so does a value in a form the neutral form normalises
  (``topK: 40.0``, a count given as a string, a lower-case enum name, a finish reason other than
  the canonical one, a ``parameters`` Schema next to its JSON Schema): the writer reuses the
  original while it agrees with the neutral value;
* what the JSON says by an absence or a shape the neutral form flattens is a *marker* in the
  residual, a key starting with ``_`` (``wire``): an id the reader made up, a signature that rode
  on a text part, a ``{"output": ...}`` function response, a content without parts, ...;
* parts the neutral form has no part for (``executableCode``, ``codeExecutionResult``, parts newer
  than this codec) are kept whole, in a *slot list* under the residual's ``parts``;
* one content may become several neutral messages (function responses go to ``tool`` messages);
  the later ones carry ``wire.CONTINUES`` and are joined again.

Thought signatures are the one piece of Gemini state another protocol must never see as its own:
every signature read here has ``signer="gemini"``, and writers only write ``thoughtSignature``
values Gemini signed. Objects of another dialect have their extras ignored: their Gemini JSON is
built from the neutral fields alone (TRANSLATION §6, §8), and what a Gemini upstream cannot honour
is a 400 naming the field (the decisions are tabled in ``request``). Readers raise
``GatewayError`` naming the offending field (400 for a caller's request, 502 for an upstream's
response); the stream reader never raises and reports a ``StreamFailure`` instead.

The modules: ``codec`` (the ChatCodec), ``request``, ``contents``, ``parts``, ``tools`` and
``schema`` (the request body), ``response`` (candidates, finish reasons, usage), ``stream_reader``
and ``stream_writer``, and under them ``wire``; the shape checks and residual helpers are shared
with the other codecs in ``protocols.common``.
"""

from .codec import GeminiGenerateCodec
from .proto_json import DIALECT
from .stream_reader import GeminiGenerateStreamReader
from .stream_writer import GeminiGenerateStreamWriter

__all__ = ["DIALECT", "GeminiGenerateCodec", "GeminiGenerateStreamReader", "GeminiGenerateStreamWriter"]
