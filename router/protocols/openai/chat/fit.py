"""A translated request fitted to the model it goes to, as the upstream's kind declares the model
(``ChatRequest.capabilities``; TRANSLATION §12 pitfall 33). A caller of another protocol cannot know
an upstream's per-model rules; an OpenAI caller's own request is passed on as sent, and the
upstream's answer with it.

- A model that takes only the default sampling (OpenAI's reasoning models answer 400 to "Unsupported
  value: 'temperature' does not support 0.5 with this model") gets no temperature or top_p other
  than 1 and no penalty other than 0 (Claude Code sends a temperature).
- A larger completion than the model's limit is lowered to it (Claude Code asks for 32000; "This
  model supports at most 16384 completion tokens").
- More stop sequences than the model takes are a 400 in the caller's protocol, since leaving some
  out would let the answer run past where the caller wanted it to end.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ....errors import ErrorCode, GatewayError
from ....ir import ChatRequest


def fitted_to_model(request: ChatRequest) -> ChatRequest:
    """The request (a shallow copy when anything changes) as its model accepts it."""
    capabilities = request.capabilities
    most, limit = capabilities.max_stop_sequences, capabilities.output_limit
    if most is None and limit is None and not capabilities.default_sampling_only:
        return request  # nothing declared to fit it to
    if request.stop and most is not None and len(request.stop) > most:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"{request.model} takes at most {most} stop sequences, not {len(request.stop)}."
            if most
            else f"{request.model} takes no stop sequences: send the request without them.",
            param="stop",
        )
    changes: dict[str, Any] = {}
    size = request.max_output_tokens
    if limit is not None and size is not None and size > limit:
        changes["max_output_tokens"] = limit
    if capabilities.default_sampling_only:
        for name in ("temperature", "top_p"):
            if getattr(request, name) not in (None, 1):
                changes[name] = None
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(request, name) == 0:
                changes[name] = None
    return replace(request, **changes) if changes else request
