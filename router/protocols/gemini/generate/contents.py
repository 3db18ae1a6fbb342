"""The system instruction and the contents, read and written.

Reading: ``systemInstruction`` becomes one ``system`` message (text parts only). A content becomes
one neutral message (``user`` or ``assistant`` for role ``model``; an absent role is ``user``),
except that its function responses go to ``tool`` messages where the other protocols expect them:
``[response, response, text]`` in a user turn becomes a ``tool`` message with both results and a
``user`` message with the text. Messages after the first of such a split carry ``CONTINUES``, so
that a writer of this dialect joins them again; opaque parts sit in the residual's ``parts`` slot
list. The content's ``role`` stays in its residual: the writer gives back what was sent.

Writing another dialect's messages (TRANSLATION §6.2): system and developer messages are hoisted
into ``systemInstruction``; ``assistant`` is role ``model``; tool results become
``functionResponse`` parts first in a ``user`` turn, named after the call they answer (Gemini needs
the name, which an OpenAI tool message does not carry); consecutive turns of one role are merged;
empty text and empty turns are skipped. Reasoning goes back only when Gemini signed it: thought
text with its signature, and a signature without text on the part that follows it.
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
from ...common import Malformed, fill_slots, invalid, opt_list, opt_str, own_signature, without
from .parts import (
    read_part,
    write_foreign_call,
    write_foreign_part,
    write_foreign_reasoning,
    write_foreign_response,
    write_native_parts,
)
from .proto_json import CONTINUES, DIALECT, NO_PARTS, CallIds, camel, clean, fields, unsupported

_ROLES: Final = ("user", "model")
_SYSTEM_ROLES: Final = ("system", "developer")


# ---------------------------------------------------------------------------- reading


def read_system(body: JSONDict, rest: JSONDict, ids: CallIds) -> list[Message]:
    """``systemInstruction`` as a system message."""
    raw = body.get("systemInstruction")
    if raw is None:
        return []
    content = fields(raw, "systemInstruction")
    extra = without(content, "parts")
    parts: list[Part] = []
    raw_parts = opt_list(content, "parts", "systemInstruction")
    if raw_parts is None:
        extra[NO_PARTS] = True
    for j, item in enumerate(raw_parts or ()):
        path = f"systemInstruction.parts[{j}]"
        read = read_part(item, path, ids)
        if read is None or not all(isinstance(p, TextPart) for p in read):
            raise Malformed(path, f"Invalid value for '{path}': a system instruction holds text only.")
        parts.extend(read)
    del rest["systemInstruction"]
    return [Message("system", parts, extra=extra)]


@dataclass(slots=True)
class _Segment:
    role: Role
    parts: list[Part] = field(default_factory=list)
    slots: list[Any] = field(default_factory=list)
    opaque: bool = False


_FLAGS: Final = ("thought", "thoughtSignature", "thought_signature")


def opaque_kind(part: object) -> str | None:
    """What an opaque part holds: its first key with a value (``executableCode``, a kind newer
    than this codec), or None for a part with no data at all (nothing, or only thought flags)."""
    if not isinstance(part, dict):
        return None
    return next((k for k, v in part.items() if v is not None and k not in _FLAGS), None)


# what Gemini ran for an earlier model turn (code execution, server-side tools): left out by a
# foreign writer, as the turn's text says what came of it
_SERVER_TOOL_HISTORY: Final = ("executableCode", "codeExecutionResult", "toolCall", "toolResponse")


def opaque_parts(messages: list[Message]) -> list[str]:
    """The kinds of the parts kept verbatim in the messages' slot lists, for ``ChatRequest.opaque``
    (but server tool history in model turns)."""
    kinds: list[str] = []
    for message in messages:
        slots = message.extra.get("parts")
        if not isinstance(slots, list):
            continue
        for item in slots:
            kind = opaque_kind(item)
            if kind is None or (message.role == "assistant" and camel(kind) in _SERVER_TOOL_HISTORY):
                continue
            kinds.append(kind)
    return kinds


def read_contents(raw: list[Any], ids: CallIds) -> list[Message]:
    if not raw:
        raise Malformed("contents", "Invalid value for 'contents': at least one content is required.")
    return [m for i, item in enumerate(raw) for m in read_content(item, f"contents[{i}]", ids)]


def read_content(raw: object, path: str, ids: CallIds) -> list[Message]:
    """The neutral messages one content stands for (see the module docstring)."""
    content = fields(raw, path)
    role = opt_str(content, "role", path)
    if role is not None and role not in _ROLES:
        raise invalid(f"{path}.role", role, _ROLES)
    rest = without(content, "parts")
    raw_parts = opt_list(content, "parts", path)
    if raw_parts is None:
        rest[NO_PARTS] = True
    base: Role = "assistant" if role == "model" else "user"
    segments: list[_Segment] = []
    for j, item in enumerate(raw_parts or ()):
        read = read_part(item, f"{path}.parts[{j}]", ids)
        if read is None and opaque_kind(item) is None:
            part_path = f"{path}.parts[{j}]"
            raise Malformed(part_path, f"Invalid value for '{part_path}': a part needs data (text, ...).")
        kind: Role = "tool" if read is not None and isinstance(read[0], ToolResult) else base
        if not segments or segments[-1].role != kind:
            segments.append(_Segment(kind))
        segment = segments[-1]
        if read is None:
            segment.slots.append(item)
            segment.opaque = True
        else:
            segment.parts.extend(read)
            segment.slots.append(None)  # one wire part, even for a signature and its text
    if not segments:
        return [Message(base, [], extra=rest)]
    out: list[Message] = []
    for k, segment in enumerate(segments):
        extra: JSONDict = dict(rest) if k == 0 else {CONTINUES: True}
        if segment.opaque:
            extra["parts"] = segment.slots
        out.append(Message(segment.role, segment.parts, extra=extra))
    return out


# ---------------------------------------------------------------------------- writing: native


def write_native_system(messages: list[Message]) -> JSONDict | None:
    systems = [m for m in messages if m.role in _SYSTEM_ROLES]
    if not systems:
        return None
    out = clean(systems[0].extra)
    parts = [p for m in systems for p in m.parts]
    if parts or not systems[0].extra.get(NO_PARTS):
        out["parts"] = list(write_native_parts(parts))
    return out


def write_native_contents(messages: list[Message]) -> list[JSONDict]:
    out: list[JSONDict] = []
    for message in messages:
        if message.role in _SYSTEM_ROLES:
            continue
        parts = fill_slots(write_native_parts(message.parts), message.extra.get("parts"))
        if message.extra.get(CONTINUES) and out:
            out[-1].setdefault("parts", []).extend(parts)
            continue
        content = clean(without(message.extra, "parts"))
        role = "model" if message.role == "assistant" else "user"
        if content.get("role") != role and (role == "model" or "role" in content):
            content["role"] = role  # an absent role means user
        if parts or not message.extra.get(NO_PARTS):
            content["parts"] = parts
        out.append(content)
    return out


# ---------------------------------------------------------------------------- writing: foreign


@dataclass(slots=True)
class _Turn:
    """A content being built: function responses go first in a user turn."""

    role: str
    head: list[JSONDict]
    body: list[JSONDict]


def write_foreign_contents(messages: list[Message]) -> tuple[list[JSONDict], list[JSONDict]]:
    """(``systemInstruction`` parts, ``contents``) for another dialect's messages."""
    system: list[JSONDict] = []
    turns: list[_Turn] = []
    names: dict[str, str] = {}  # call id → function name, from the assistant turns so far
    for i, message in enumerate(messages):
        path = f"messages[{i}]"
        if message.role in _SYSTEM_ROLES:
            system.extend(_system_parts(message, path))
            continue
        role = "model" if message.role == "assistant" else "user"
        head, body = _foreign_parts(message, role, path, names)
        if not head and not body:
            continue
        if turns and turns[-1].role == role:
            turns[-1].head.extend(head)
            turns[-1].body.extend(body)
        else:
            turns.append(_Turn(role, head, body))
    return system, [{"role": t.role, "parts": t.head + t.body} for t in turns]


def _system_parts(message: Message, path: str) -> list[JSONDict]:
    parts: list[JSONDict] = []
    for j, part in enumerate(message.parts):
        if isinstance(part, TextPart | RefusalPart) or (isinstance(part, FilePart) and part.text is not None):
            written = write_foreign_part(part, f"{path}.content[{j}]")
            if written is not None:
                parts.append(written)
        elif not isinstance(part, ReasoningPart):
            raise unsupported("Gemini system instructions hold text only.", f"{path}.content[{j}]")
    return parts


def _foreign_parts(
    message: Message, role: str, path: str, names: dict[str, str]
) -> tuple[list[JSONDict], list[JSONDict]]:
    head: list[JSONDict] = []
    body: list[JSONDict] = []
    pending: str | None = None  # a Gemini signature that rode on the part after it
    for j, part in enumerate(message.parts):
        part_path = f"{path}.content[{j}]"
        written: JSONDict | None
        if isinstance(part, ToolResult):
            name = part.name or names.get(part.call_id)
            if name is None:
                raise unsupported(
                    f"The tool result for call '{part.call_id}' answers no earlier tool call, and Gemini "
                    "needs the function's name.",
                    part_path,
                )
            head.append(write_foreign_response(part, name))
            body.extend(_result_media(part, part_path))
            continue
        if isinstance(part, ReasoningPart):
            if role != "model":
                continue
            written = write_foreign_reasoning(part)
            if written is None and not part.text:
                pending = own_signature(part.signature, part.signer, DIALECT, unsigned=False) or pending
                continue
        elif isinstance(part, ToolCall):
            names[part.id] = part.name
            written = write_foreign_call(part)
        else:
            written = write_foreign_part(part, part_path)
        if written is None:
            continue
        if pending is not None and role == "model" and "thoughtSignature" not in written:
            written["thoughtSignature"] = pending
        pending = None
        body.append(written)
    if pending is not None:
        body.append({"text": "", "thoughtSignature": pending})
    return head, body


def _result_media(result: ToolResult, path: str) -> list[JSONDict]:
    """Images and files of a tool result: parts of the user turn, after the responses."""
    media: list[JSONDict] = []
    for k, part in enumerate(result.content):
        if isinstance(part, TextPart) or (isinstance(part, FilePart) and part.text is not None):
            continue
        written = write_foreign_part(part, f"{path}.content[{k}]")
        if written is not None:
            media.append(written)
    return media
