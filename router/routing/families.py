"""Model families: which of a group's models stands in for a model id it does not serve.

Coding agents ask for their vendor's newest ids (``claude-opus-5-5``, ``gpt-6.1-sol``,
``gemini-3.5-flash-lite``) the day they ship; a table of aliases is out of date a month later.
Instead, an id of a known vendor (Claude, GPT and the ``o`` series, Gemini, Codex) is read for the
size it names — the family words every vendor uses — and a group serves it with its own model of
that size:

- ``small``: haiku, mini, nano, lite (``flash-lite``), small, tiny;
- ``large``: opus, pro, ultra, large, max, and a GPT or ``o`` id with no size word (``gpt-5``,
  ``gpt-6.1-sol``, ``o3``);
- ``medium``: sonnet, flash, medium, and any other Claude or Gemini id.

A group's own chat models are sized by the same words (an id with none is medium, a bare GPT id
large); the largest of a size is its newest version (the numbers in the id, a preview after the
release of the same version). A size the group lacks falls to the nearest it has: a large request
to the largest model, a small one to the smallest, a medium one to the largest (then the smallest).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

Family = Literal["small", "medium", "large"]  # config.FAMILIES

_SMALL: Final = frozenset({"haiku", "mini", "nano", "lite", "small", "tiny"})
_LARGE: Final = frozenset({"opus", "pro", "ultra", "large", "max"})
_MEDIUM: Final = frozenset({"sonnet", "flash", "medium"})
_VENDORS: Final = re.compile(r"^(?:claude|gpt|chatgpt|gemini|codex|o\d)(?:\b|-|\.|$)")
_BARE_LARGE: Final = re.compile(r"^(?:gpt|chatgpt|codex|o\d)")
_TOKENS: Final = re.compile(r"[-._:@/]+")
# Models that do not chat: never a stand-in for a chat model.
_NOT_CHAT: Final = re.compile(
    r"embed|image|dall-e|flux|diffusion|tts|whisper|moderation|transcribe|audio|realtime|imagen|veo|-live|search"
)
_RANK: Final[dict[Family, int]] = {"small": 0, "medium": 1, "large": 2}
# For each asked size, the sizes to try in order.
_NEAREST: Final[dict[Family, tuple[Family, ...]]] = {
    "large": ("large", "medium", "small"),
    "medium": ("medium", "large", "small"),
    "small": ("small", "medium", "large"),
}


def _base(model: str) -> str:
    """The id without a vendor prefix (``anthropic/``, ``models/``) and in lower case."""
    return model.lower().rpartition("/")[2]


def _size(base: str) -> Family:
    tokens = set(_TOKENS.split(base))
    if tokens & _SMALL:
        return "small"
    if tokens & _LARGE:
        return "large"
    if tokens & _MEDIUM:
        return "medium"
    return "large" if _BARE_LARGE.match(base) else "medium"


def family_of(model: str) -> Family | None:
    """The size a requested id names, or None when it is no known vendor's chat model id (an id
    with a ``vendor/`` prefix names one provider's model exactly, and has no family)."""
    base = model.lower()
    if "/" in base or not _VENDORS.match(base) or _NOT_CHAT.search(base):
        return None
    return _size(base)


@dataclass(slots=True, frozen=True)
class Sized:
    """One of a group's chat models, with what ranks it within its size."""

    model: str
    family: Family
    version: tuple[int, ...]
    release: bool  # not a preview, experimental or dated snapshot


def sized(model: str) -> Sized | None:
    """A served model id with its size and version, or None for a model that does not chat."""
    base = _base(model)
    if model == "*" or _NOT_CHAT.search(base):
        return None
    version: list[int] = []
    for token in _TOKENS.split(base):
        digits = re.match(r"\d+", token)
        if digits and len(digits.group()) < 6:  # six digits or more: a date, not a version
            version.append(int(digits.group()))
    release = not re.search(r"preview|exp|\d{6,}", base)
    return Sized(model, _size(base), tuple(version), release)


def stand_in(models: Iterable[str], family: Family) -> str | None:
    """The model among ``models`` that serves a request of ``family``, or None if none chats."""
    candidates = [s for s in map(sized, models) if s is not None]
    for size in _NEAREST[family]:
        same = [s for s in candidates if s.family == size]
        if same:
            return max(same, key=lambda s: (s.version, s.release)).model
    return None


def rank(family: Family) -> int:
    return _RANK[family]
