"""What an upstream's model accepts beyond its wire protocol, as the upstream's kind declares it.

A kind may give a ``capabilities(model)`` method (optional: a kind without it declares nothing);
the router asks it once per (kind, model) and hands the answer to the codec that writes a translated
request, on ``ChatRequest.capabilities``, and to the protocol's ``refit`` of a passthrough body.
Codecs read the fields; none compares kind names. Every field's default means "nothing to fit":
a model whose kind declares nothing is sent what was asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

_CACHED: Final = 4096  # (kind, model) answers kept; wildcard upstreams see callers' own ids


@dataclass(frozen=True, slots=True)
class Refusal:
    """An OpenAI chat field an upstream cannot honour. ``refuses(value)`` says whether the caller's
    value (None when the field is absent) asks for what it cannot do; the 400 then says ``message``."""

    refuses: Callable[[object], bool]
    message: str


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a model of an upstream accepts: declared by its kind, read by the codecs."""

    # The largest completion (answer and thinking) the model takes: a larger one is lowered to it.
    output_limit: int | None = None
    # The thinking budgets the model takes, ``(least, most)``: a budget is moved into the range.
    thinking_budget: tuple[int, int] | None = None
    # Only the default sampling (temperature and top_p 1, penalties 0) is taken (OpenAI's reasoning
    # models): other values are left out.
    default_sampling_only: bool = False
    # The most stop sequences the model takes (0: none); more are a 400, since leaving some out would
    # let the answer run past where the caller wanted it to end.
    max_stop_sequences: int | None = None
    # OpenAI chat fields that the upstream cannot honour, by name (of a request translated for it, or
    # passed through to it as it is), besides those its wire protocol cannot carry at all (the codec
    # refuses those for every kind).
    refused: Mapping[str, Refusal] = field(default_factory=lambda: MappingProxyType({}))
    # OpenRouter's additions to the OpenAI wire: ``reasoning_details`` taken back on assistant
    # messages, and a thinking budget taken as it is (``reasoning.max_tokens``).
    reasoning_details: bool = False
    reasoning_max_tokens: bool = False

    def __deepcopy__(self, memo: dict[int, object]) -> Capabilities:
        return self  # immutable, and shared (a copied request keeps its model's answer)


NO_CAPABILITIES: Final = Capabilities()
NO_REFUSALS: Final[Mapping[str, Refusal]] = MappingProxyType({})


def _wants_audio(value: object) -> bool:
    return isinstance(value, list) and "audio" in value


def refusing_openai_extras(
    *, logprobs: str, audio: str, logit_bias: str, web_search: str
) -> Mapping[str, Refusal]:
    """``Capabilities.refused`` of an upstream that returns no log probabilities (``logprobs``,
    ``top_logprobs``), makes no audio (``audio``, ``modalities`` with audio), takes no ``logit_bias``
    and no ``web_search_options``: each refused with the message given."""
    return MappingProxyType(
        {
            "logprobs": Refusal(lambda v: v is True, logprobs),
            "top_logprobs": Refusal(bool, logprobs),
            "audio": Refusal(lambda v: v is not None, audio),
            "modalities": Refusal(_wants_audio, audio),
            "logit_bias": Refusal(bool, logit_bias),
            "web_search_options": Refusal(lambda v: v is not None, web_search),
        }
    )


class CapabilityTable:
    """Each kind's answer per model, asked once: ``kinds`` maps a kind's name to the kind object."""

    def __init__(self, kinds: Mapping[str, object]) -> None:
        self._declared: dict[str, Callable[[str], Capabilities]] = {
            name: hook for name, kind in kinds.items() if (hook := getattr(kind, "capabilities", None))
        }
        self._known: dict[tuple[str, str], Capabilities] = {}

    def of(self, kind: str, model: str) -> Capabilities:
        """What ``model`` of an upstream of ``kind`` accepts."""
        declared = self._declared.get(kind)
        if declared is None:
            return NO_CAPABILITIES
        key = (kind, model)
        known = self._known.get(key)
        if known is None:
            if len(self._known) >= _CACHED:
                self._known.clear()
            known = self._known[key] = declared(model)
        return known
