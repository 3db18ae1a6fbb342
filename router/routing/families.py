"""Model families: which of a group's models stands in for a model id it does not serve.

Coding agents ask for their vendor's newest ids (``claude-opus-5-5``, ``gpt-6.1-sol``,
``gemini-3.5-flash-lite``) the day they ship; a table of aliases is out of date a month later.
Instead, an id of a known vendor is read for the size it names, and a group serves it with its own
model of that size. The vendors are the ones the kinds declare (``model_families``: the
anthropic kind's Claude, the openai kind's GPT, ``o`` series and Codex, the gemini kind's Gemini),
each with the words its ids name sizes by; to those, the words every vendor uses:

- ``small``: small, tiny, and the kinds' words (haiku, mini, nano, lite);
- ``large``: large, max, and the kinds' (opus, pro, ultra);
- ``medium``: medium, and the kinds' (sonnet, flash);
- an id with none of the words: the size its vendor gives such ids (a bare GPT or ``o`` id,
  ``gpt-5``, ``o3``: large), else medium.

A group's own chat models are sized by the same words; the largest of a size is its newest
version (the numbers in the id, a preview after the release of the same version). A size the
group lacks falls to the nearest it has: a large request to the largest model, a small one to the
smallest, a medium one to the largest (then the smallest). Models that do not chat (embeddings,
images, speech, ..., and what the kinds name so) never stand in for a chat model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

Family = Literal["small", "medium", "large"]  # config.FAMILIES

# The size words every vendor uses; the kinds add their own.
_SMALL: Final = ("small", "tiny")
_MEDIUM: Final = ("medium",)
_LARGE: Final = ("large", "max")
_TOKENS: Final = re.compile(r"[-._:@/]+")
# Models that do not chat, by what their ids contain: never a stand-in for a chat model.
_NOT_CHAT: Final = (
    "embed",
    "image",
    "diffusion",
    "flux",
    "tts",
    "moderation",
    "transcribe",
    "audio",
    "realtime",
    "-live",
    "search",
)
# For each asked size, the sizes to try in order.
_NEAREST: Final[dict[Family, tuple[Family, ...]]] = {
    "large": ("large", "medium", "small"),
    "medium": ("medium", "large", "small"),
    "small": ("small", "medium", "large"),
}


@dataclass(slots=True, frozen=True)
class ModelFamilies:
    """How one vendor names its chat models, as a kind declares it (``model_families``)."""

    ids: str  # a regular expression matching the start of its ids: "claude", r"gpt|o\d"
    small: tuple[str, ...] = ()  # the words of its ids that name a size: ("haiku",)
    medium: tuple[str, ...] = ()
    large: tuple[str, ...] = ()
    unsized: Family = "medium"  # the size of its ids that name none ("gpt-5": large)
    not_chat: tuple[str, ...] = ()  # what the ids of its models that do not chat contain ("whisper")


@dataclass(slots=True, frozen=True)
class Sized:
    """One of a group's chat models, with what ranks it within its size."""

    model: str
    family: Family
    version: tuple[int, ...]
    release: bool  # not a preview, experimental or dated snapshot


def _any_of(patterns: Iterable[str], *, then: str = "") -> re.Pattern[str] | None:
    alternatives = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(f"^(?:{alternatives}){then}") if alternatives else None


class FamilyRules:
    """What the catalog reads ids by: the words every vendor uses and the vendors the kinds declare."""

    def __init__(self, vendors: Iterable[ModelFamilies] = ()) -> None:
        declared = tuple(vendors)
        self._small = frozenset(_SMALL).union(*(v.small for v in declared))
        self._medium = frozenset(_MEDIUM).union(*(v.medium for v in declared))
        self._large = frozenset(_LARGE).union(*(v.large for v in declared))
        self._vendors = _any_of((v.ids for v in declared), then=r"(?:\b|-|\.|$)")
        self._unsized_large = _any_of(v.ids for v in declared if v.unsized == "large")
        not_chat = (*_NOT_CHAT, *(word for v in declared for word in v.not_chat))
        self._not_chat = re.compile("|".join(re.escape(word) for word in not_chat))

    def _size(self, base: str) -> Family:
        tokens = set(_TOKENS.split(base))
        if tokens & self._small:
            return "small"
        if tokens & self._large:
            return "large"
        if tokens & self._medium:
            return "medium"
        return "large" if self._unsized_large is not None and self._unsized_large.match(base) else "medium"

    def family_of(self, model: str) -> Family | None:
        """The size a requested id names, or None when it is no known vendor's chat model id (an id
        with a ``vendor/`` prefix names one provider's model exactly, and has no family)."""
        base = model.lower()
        if "/" in base or self._vendors is None or not self._vendors.match(base):
            return None
        return None if self._not_chat.search(base) else self._size(base)

    def sized(self, model: str) -> Sized | None:
        """A served model id with its size and version, or None for a model that does not chat."""
        base = model.lower().rpartition("/")[2]  # without a vendor prefix (``anthropic/``, ``models/``)
        if model == "*" or self._not_chat.search(base):
            return None
        version: list[int] = []
        for token in _TOKENS.split(base):
            digits = re.match(r"\d+", token)
            if digits and len(digits.group()) < 6:  # six digits or more: a date, not a version
                version.append(int(digits.group()))
        release = not re.search(r"preview|exp|\d{6,}", base)
        return Sized(model, self._size(base), tuple(version), release)

    def stand_in(self, models: Iterable[str], family: Family) -> str | None:
        """The model among ``models`` that serves a request of ``family``, or None if none chats."""
        candidates = [s for s in map(self.sized, models) if s is not None]
        for size in _NEAREST[family]:
            same = [s for s in candidates if s.family == size]
            if same:
                return max(same, key=lambda s: (s.version, s.release)).model
        return None


def family_rules(kinds: Mapping[str, object]) -> FamilyRules:
    """The rules of the registered kinds, from what each declares (its optional ``model_families``)."""
    return FamilyRules(family for kind in kinds.values() for family in getattr(kind, "model_families", ()))
