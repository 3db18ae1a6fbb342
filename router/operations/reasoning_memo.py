"""Reasoning state that a caller's protocol cannot carry, kept by the router between turns.

An OpenAI chat caller drops Anthropic's signed thinking blocks and Gemini's thought signatures, yet
the upstream needs them back on the next tool-use turn ("Expected `thinking`... but found
`tool_use`", "missing a thought_signature"). The router remembers them under the tool-call ids it
returned (per group, so one tenant can never replay another's) and puts them back when those ids
come back in the history.

Two tiers: an in-process LRU (the turn after usually reaches the same router) in front of the
state store's memos (SQLite on one host, Redis shared by every replica), so that the next turn
finds them on another replica or after a restart. The store is asked only for the tool-call ids
of a history that the LRU does not know; a store that fails costs the memo, never the request.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..ir import ChatRequest, Part, ReasoningDelta, ReasoningPart, StreamBatch, ToolCall, ToolCallStart
from ..state import StateStore
from ..state.outage import StateUnavailable

log = logging.getLogger("torouter.router.memo")


@dataclass(slots=True)
class _Entry:
    expires: float  # unix time
    reasoning: list[ReasoningPart]
    signature: str | None
    signer: str | None  # who made ``signature``

    def encode(self) -> bytes:
        parts = [[p.text, p.signature, p.signer, p.redacted_data, p.extra] for p in self.reasoning]
        return orjson.dumps({"r": parts, "s": self.signature, "g": self.signer, "e": self.expires})

    @staticmethod
    def decode(data: bytes) -> _Entry | None:
        try:
            raw: Any = orjson.loads(data)
            reasoning = [
                ReasoningPart(text=t, signature=s, signer=g, redacted_data=r, extra=x)
                for t, s, g, r, x in raw["r"]
            ]
            return _Entry(float(raw["e"]), reasoning, raw["s"], raw["g"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


def memo_id(group: str, call_id: str) -> str:
    """The store's id of a memo: a digest, so that ids and group names never mix."""
    return "reasoning:" + hashlib.sha256(f"{group}\x00{call_id}".encode()).hexdigest()


class ReasoningMemo:
    def __init__(
        self, store: StateStore | None = None, max_entries: int = 50_000, ttl_s: float = 6 * 3600
    ) -> None:
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._store = store
        self._max = max_entries
        self._ttl = ttl_s

    async def remember(self, group: str, parts: list[Part]) -> None:
        """Keeps an assistant turn's signed reasoning and call signatures under its tool-call ids."""
        # what a provider needs back: signed or redacted reasoning, or opaque state kept in extras
        # (an OpenRouter reasoning detail, say), which writers that cannot use it leave out
        reasoning = [
            p for p in parts if isinstance(p, ReasoningPart) and (p.signature or p.redacted_data or p.extra)
        ]
        calls = [p for p in parts if isinstance(p, ToolCall)]
        if not calls or (not reasoning and not any(c.signature for c in calls)):
            return
        expires = time.time() + self._ttl
        stored: dict[str, bytes] = {}
        for index, call in enumerate(calls):
            # the reasoning leads the turn: replay it once, before the first call
            entry = _Entry(expires, reasoning if index == 0 else [], call.signature, call.signer)
            self._put((group, call.id), entry)
            stored[memo_id(group, call.id)] = entry.encode()
        if self._store is not None:
            try:
                await self._store.put_memos(stored, expires)
            except StateUnavailable:
                pass  # logged once per outage by the store
            except Exception as exc:  # the memo is a help, not a duty: the answer goes out anyway
                log.warning("reasoning memo not stored: %s", type(exc).__name__)

    async def restore(self, group: str, request: ChatRequest) -> None:
        """Puts remembered state back into assistant turns that lost it."""
        now = time.time()
        calls = [
            part
            for message in request.messages
            if message.role == "assistant"
            for part in message.parts
            if isinstance(part, ToolCall)
        ]
        if not calls:
            return
        found: dict[str, _Entry] = {}
        for call in calls:
            entry = self._entries.get((group, call.id))
            if entry is not None and entry.expires > now:
                found[call.id] = entry
        missing = [call.id for call in calls if call.id not in found]
        if missing and self._store is not None:
            found.update(await self._fetch(group, missing, now))
        if not found:
            return
        for message in request.messages:
            if message.role != "assistant":
                continue
            has_reasoning = any(isinstance(p, ReasoningPart) and p.signature for p in message.parts)
            restored: list[Part] = []
            for part in message.parts:
                entry = found.get(part.id) if isinstance(part, ToolCall) else None
                if entry is None or not isinstance(part, ToolCall):
                    continue
                if part.signature is None:
                    part.signature, part.signer = entry.signature, entry.signer
                if not has_reasoning:
                    restored.extend(entry.reasoning)
            if restored:
                message.parts[:0] = restored

    async def _fetch(self, group: str, call_ids: list[str], now: float) -> dict[str, _Entry]:
        assert self._store is not None
        ids = {memo_id(group, call_id): call_id for call_id in call_ids}
        try:
            stored = await self._store.get_memos(list(ids))
        except StateUnavailable:
            return {}
        except Exception as exc:
            log.warning("reasoning memo not read: %s", type(exc).__name__)
            return {}
        found: dict[str, _Entry] = {}
        for stored_id, data in stored.items():
            entry = _Entry.decode(data)
            if entry is not None and entry.expires > now:
                found[ids[stored_id]] = entry
                self._put((group, ids[stored_id]), entry)
        return found

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
