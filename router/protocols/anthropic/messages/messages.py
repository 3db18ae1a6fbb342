"""The system prompt and the message list, read and written.

Reading: ``system`` becomes one ``system`` message (a string, or text blocks with their cache
hints); a ``role: "system"`` message in ``messages`` (which newer clients such as Claude Code send
mid-conversation) is a ``system`` message where it stands, which a writer of a dialect that has
system turns keeps there (OpenAI chat) and the others merge into their system prompt. A wire
message becomes one neutral message, except that its ``tool_result`` blocks go to ``tool`` messages
where the OpenAI side expects them: ``[result, result, text]`` in a user turn becomes a ``tool``
message with both results and a ``user`` message with the text. Messages after the first of such a
split carry ``CONTINUES`` in their residual, so that a writer of this dialect joins them again;
opaque blocks sit in the residual's ``content`` slot list.

Writing another dialect's messages (TRANSLATION §4.2): system and developer messages are hoisted
into ``system`` blocks wherever they are; tool results become ``tool_result`` blocks placed first
in their user turn; consecutive turns of one role are merged; signed thinking goes first in its
assistant turn and unsigned thinking is dropped; empty text and empty turns are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from ....ir import (
    FilePart,
    JSONDict,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    Role,
    TextPart,
    ToolCall,
    ToolResult,
)
from ...common import Malformed, fill_slots, invalid, obj, required, without, wrong
from .block_fields import CONTINUES, DIALECT, cache_control, unsupported
from .content import (
    read_block,
    write_block,
    write_foreign_block,
    write_foreign_reasoning,
    write_foreign_tool_result,
    write_foreign_tool_use,
)

_ROLES: Final = ("user", "assistant", "system")  # a system turn: Claude Code's, mid-conversation
_SYSTEM_ROLES: Final = ("system", "developer")


# ---------------------------------------------------------------------------- reading


def read_system(body: JSONDict, rest: JSONDict) -> list[Message]:
    """``system`` as a system message (none for an absent, null or empty-list system)."""
    system = body.get("system")
    if isinstance(system, str):
        del rest["system"]
        return [Message("system", [TextPart(system)] if system else [], as_text=True)]
    if system is None:
        return []
    if not isinstance(system, list):
        raise wrong("system", "a string or an array of text blocks", system)
    if not system:
        return []  # the empty list stays in the residual
    parts: list[Part] = []
    for j, raw in enumerate(system):
        path = f"system[{j}]"
        part = read_block(obj(raw, path), path)
        if not isinstance(part, TextPart):
            raise invalid(f"{path}.type", raw.get("type"), ("text",))
        parts.append(part)
    del rest["system"]
    return [Message("system", parts)]


@dataclass(slots=True)
class _Segment:
    role: Role
    parts: list[Part] = field(default_factory=list)
    slots: list[Any] = field(default_factory=list)
    opaque: bool = False


def read_message(raw: object, index: int) -> list[Message]:
    """The neutral messages one wire message stands for (see the module docstring)."""
    path = f"messages[{index}]"
    message = obj(raw, path)
    required(message, "role", path)
    role = message["role"]
    if role not in _ROLES:
        raise invalid(f"{path}.role", role, _ROLES)
    required(message, "content", path)
    content = message["content"]
    rest = without(message, "role", "content")
    if isinstance(content, str):
        return [Message(role, [TextPart(content)] if content else [], as_text=True, extra=rest)]
    if not isinstance(content, list):
        raise wrong(f"{path}.content", "a string or an array of content blocks", content)
    if not content:
        return [Message(role, [], extra={**rest, "content": []})]
    segments: list[_Segment] = []
    for j, raw_block in enumerate(content):
        block_path = f"{path}.content[{j}]"
        block = obj(raw_block, block_path)
        part = read_block(block, block_path)
        segment_role: Role = "tool" if isinstance(part, ToolResult) else role
        if not segments or segments[-1].role != segment_role:
            segments.append(_Segment(segment_role))
        segment = segments[-1]
        if part is None:
            segment.slots.append(block)
            segment.opaque = True
        else:
            segment.parts.append(part)
            segment.slots.append(None)
    out: list[Message] = []
    for k, segment in enumerate(segments):
        extra: JSONDict = dict(rest) if k == 0 else {CONTINUES: True}
        if segment.opaque:
            extra["content"] = segment.slots
        out.append(Message(segment.role, segment.parts, extra=extra))
    return out


_SERVER_TOOL_HISTORY: Final = ("server_tool_use", "mcp_tool_use", "container_upload")


def _server_tool_history(block: JSONDict) -> bool:
    """A server tool's call or result: what Anthropic ran for an earlier assistant turn."""
    kind = block.get("type")
    return isinstance(kind, str) and (kind in _SERVER_TOOL_HISTORY or kind.endswith("_tool_result"))


def opaque_blocks(messages: list[Message]) -> list[str]:
    """The types of the blocks kept verbatim in the messages' slot lists (and in their tool
    results'), for ``ChatRequest.opaque``; but server tool calls and results in assistant turns,
    which a foreign writer leaves out (that turn's text says what came of them)."""
    kinds: list[str] = []
    for message in messages:
        slot_lists = [message.extra.get("content")]
        slot_lists += [p.extra.get("content") for p in message.parts if isinstance(p, ToolResult)]
        for k, slots in enumerate(slot_lists):
            if not isinstance(slots, list):
                continue
            for block in slots:
                if not isinstance(block, dict):
                    continue
                if k == 0 and message.role == "assistant" and _server_tool_history(block):
                    continue
                kinds.append(str(block.get("type")))
    return kinds


def read_messages(raw: list[Any]) -> list[Message]:
    if not raw:
        raise Malformed("messages", "Invalid value for 'messages': at least one message is required.")
    return [m for i, item in enumerate(raw) for m in read_message(item, i)]


# ---------------------------------------------------------------------------- writing: native


def write_native_system(messages: list[Message]) -> str | list[JSONDict] | None:
    """``system`` from the system messages: a string when the caller gave one."""
    systems = [m for m in messages if m.role in _SYSTEM_ROLES]
    if not systems:
        return None
    if len(systems) == 1 and systems[0].as_text:
        return systems[0].text()
    return [write_block(p) for m in systems for p in m.parts if isinstance(p, TextPart)]


def write_native_messages(messages: list[Message]) -> list[JSONDict]:
    out: list[JSONDict] = []
    for message in messages:
        if message.role in _SYSTEM_ROLES:
            continue
        extra = dict(message.extra)
        continues = bool(extra.pop(CONTINUES, False))
        slots = extra.pop("content", None)
        if message.as_text:
            content: str | list[Any] = message.text()
        else:
            parts = (p for p in message.parts if not _foreign_reasoning(p))
            content = fill_slots((write_block(p) for p in parts), slots)
        if continues and out:
            previous = out[-1]
            before = previous["content"]
            if isinstance(before, str):
                before = [{"type": "text", "text": before}] if before else []
            previous["content"] = before + (
                [{"type": "text", "text": content}] if isinstance(content, str) else content
            )
            continue
        out.append(
            {"role": "assistant" if message.role == "assistant" else "user", **extra, "content": content}
        )
    return out


def _foreign_reasoning(part: Part) -> bool:
    """Reasoning signed by another provider (put back by the router's memo): never replayed."""
    return isinstance(part, ReasoningPart) and part.signer not in (None, DIALECT)


# ---------------------------------------------------------------------------- writing: foreign


@dataclass(slots=True)
class _Turn:
    """A wire turn being built: ``head`` blocks go first (tool results in a user turn, thinking
    in an assistant turn), then ``body``."""

    role: str
    head: list[JSONDict]
    body: list[JSONDict]


def write_foreign_messages(messages: list[Message]) -> tuple[list[JSONDict], list[JSONDict]]:
    """(``system`` blocks, ``messages``) for another dialect's messages."""
    system: list[JSONDict] = []
    turns: list[_Turn] = []
    for i, message in enumerate(messages):
        path = f"messages[{i}]"
        if message.role in _SYSTEM_ROLES:
            system.extend(_system_blocks(message, path))
            continue
        results = any(isinstance(p, ToolResult) for p in message.parts)
        role = "assistant" if message.role == "assistant" and not results else "user"
        head, body = _foreign_blocks(message, role, path)
        if not head and not body:
            continue
        if turns and turns[-1].role == role:
            turns[-1].head.extend(head)
            turns[-1].body.extend(body)
        else:
            turns.append(_Turn(role, head, body))
    return system, [{"role": t.role, "content": t.head + t.body} for t in turns]


def _system_blocks(message: Message, path: str) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    for j, part in enumerate(message.parts):
        if isinstance(part, TextPart | RefusalPart):
            text, cache = part.text, part.cache if isinstance(part, TextPart) else None
        elif isinstance(part, FilePart) and part.text is not None:
            text, cache = part.text, part.cache
        else:
            raise unsupported("Anthropic system prompts hold text only.", f"{path}.content[{j}]")
        if text:
            block: JSONDict = {"type": "text", "text": text}
            if cache is not None:
                block["cache_control"] = cache_control(cache)
            blocks.append(block)
    return blocks


def _foreign_blocks(message: Message, role: str, path: str) -> tuple[list[JSONDict], list[JSONDict]]:
    head: list[JSONDict] = []
    body: list[JSONDict] = []
    for j, part in enumerate(message.parts):
        part_path = f"{path}.content[{j}]"
        if isinstance(part, ToolResult):
            head.append(write_foreign_tool_result(part, part_path))
        elif isinstance(part, ReasoningPart):
            block = write_foreign_reasoning(part) if role == "assistant" else None
            if block is not None:
                head.append(block)
        elif isinstance(part, ToolCall):
            body.append(write_foreign_tool_use(part))
        else:
            written = write_foreign_block(part, part_path)
            if written is not None:
                body.append(written)
    return head, body
