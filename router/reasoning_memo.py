"""Reasoning state that a caller's protocol cannot carry, kept by the router between turns.

An OpenAI chat caller drops Anthropic's signed thinking blocks and Gemini's thought signatures, yet
the upstream needs them back on the next tool-use turn ("Expected `thinking`... but found
`tool_use`", "missing a thought_signature"). The router remembers them under the tool-call ids it
returned (per group, so one tenant can never replay another's) and puts them back when those ids
come back in the history.

In-process and bounded (LRU with a time-to-live): several router replicas behind one edge need a
shared store for this, like the other state.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from .ir import ChatRequest, Part, ReasoningDelta, ReasoningPart, StreamBatch, ToolCall, ToolCallStart


@dataclass(slots=True)
class _Entry:
    expires: float
    reasoning: list[ReasoningPart]
    signature: str | None
    signer: str | None  # who made ``signature``


class ReasoningMemo:
    def __init__(self, max_entries: int = 50_000, ttl_s: float = 6 * 3600) -> None:
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s

    def remember(self, group: str, parts: list[Part]) -> None:
        """Keeps an assistant turn's signed reasoning and call signatures under its tool-call ids."""
        reasoning = [p for p in parts if isinstance(p, ReasoningPart) and (p.signature or p.redacted_data)]
        calls = [p for p in parts if isinstance(p, ToolCall)]
        if not calls or (not reasoning and not any(c.signature for c in calls)):
            return
        expires = time.monotonic() + self._ttl
        for index, call in enumerate(calls):
            # the reasoning leads the turn: replay it once, before the first call
            entry = _Entry(expires, reasoning if index == 0 else [], call.signature, call.signer)
            self._put((group, call.id), entry)

    def restore(self, group: str, request: ChatRequest) -> None:
        """Puts remembered state back into assistant turns that lost it."""
        now = time.monotonic()
        for message in request.messages:
            if message.role != "assistant":
                continue
            has_reasoning = any(isinstance(p, ReasoningPart) and p.signature for p in message.parts)
            restored: list[Part] = []
            for part in message.parts:
                if not isinstance(part, ToolCall):
                    continue
                entry = self._entries.get((group, part.id))
                if entry is None or entry.expires < now:
                    continue
                if part.signature is None:
                    part.signature, part.signer = entry.signature, entry.signer
                if not has_reasoning:
                    restored.extend(entry.reasoning)
            if restored:
                message.parts[:0] = restored

    def _put(self, key: tuple[str, str], entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


@dataclass(slots=True)
class StreamRecorder:
    """Collects a streamed turn's reasoning and tool calls, for :meth:`ReasoningMemo.remember`."""

    reasoning: list[ReasoningPart] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)

    def feed(self, batch: StreamBatch) -> None:
        for event in batch.events:
            if isinstance(event, ReasoningDelta) and event.choice == 0:
                if event.redacted_data is not None:
                    self.reasoning.append(ReasoningPart(redacted_data=event.redacted_data))
                    continue
                if event.signer == "gemini" and event.signature and not event.text:
                    # Gemini's signature rides on the part after it, not on the thoughts before it
                    self.reasoning.append(ReasoningPart(signature=event.signature, signer=event.signer))
                    continue
                if not self.reasoning or self.reasoning[-1].signature or self.reasoning[-1].redacted_data:
                    self.reasoning.append(ReasoningPart())
                current = self.reasoning[-1]
                current.text += event.text
                if event.signature:
                    current.signature, current.signer = event.signature, event.signer
            elif isinstance(event, ToolCallStart) and event.choice == 0:
                call = ToolCall(event.id, event.name, "", signature=event.signature, signer=event.signer)
                self.calls.append(call)

    def parts(self) -> list[Part]:
        return [*self.reasoning, *self.calls]
