"""Content blocks, read and written: text, image, document, thinking, redacted thinking, tool use
and tool result. Any other block (server tool use and results, search results, container uploads,
blocks newer than this codec) is *opaque*: the reader returns None for it and the caller keeps it,
verbatim, in a slot list (``common.fill_slots``), so a writer of this dialect puts it back where it
was and writers of other dialects never see it.

Native writers (``write_block``) start from each part's residual; foreign writers
(``write_foreign_block``) build the block from the neutral fields alone and raise a 400 for what an
Anthropic upstream cannot take (TRANSLATION §4.3).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

from ....ir import (
    AudioPart,
    ContentPart,
    FilePart,
    ImagePart,
    JSONDict,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCall,
    ToolResult,
)
from ...common import (
    fill_slots,
    nest,
    obj,
    opt_bool,
    opt_str,
    own_signature,
    put,
    req_dict,
    req_str,
    required,
    split_data_url,
    sub,
    take,
    without,
    wrong,
)
from .block_fields import (
    DIALECT,
    arguments_json,
    cache_control,
    input_object,
    take_cache,
    tool_id,
    unsupported,
    write_cache,
)

IMAGE_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")
_PDF: Final = "application/pdf"
_PDF_B64: Final = "JVBERi"  # "%PDF" in base64
_MAX_TITLE: Final = 500


# ---------------------------------------------------------------------------- reading


def read_block(block: JSONDict, path: str) -> Part | None:
    """The part a content block stands for, or None for an opaque block (kept by the caller)."""
    kind = req_str(block, "type", path)
    rest = without(block, "type")
    if kind == "text":
        text = req_str(block, "text", path)
        del rest["text"]
        return TextPart(text, take_cache(block, rest, path), rest)
    if kind == "image":
        return _read_image(block, rest, path)
    if kind == "document":
        return _read_document(block, rest, path)
    if kind == "thinking":
        text, signature = req_str(block, "thinking", path), req_str(block, "signature", path)
        del rest["thinking"], rest["signature"]
        return ReasoningPart(text, signature=signature, extra=rest, signer=DIALECT)
    if kind == "redacted_thinking":
        data = req_str(block, "data", path)
        del rest["data"]
        return ReasoningPart(redacted_data=data, extra=rest)
    if kind == "tool_use":
        call_id, name = req_str(block, "id", path), req_str(block, "name", path)
        arguments = arguments_json(req_dict(block, "input", path), f"{path}.input")
        del rest["id"], rest["name"], rest["input"]
        return ToolCall(call_id, name, arguments, cache=take_cache(block, rest, path), extra=rest)
    if kind == "tool_result":
        return _read_tool_result(block, rest, path)
    return None


def _read_image(block: JSONDict, rest: JSONDict, path: str) -> ImagePart:
    source = req_dict(block, "source", path)
    sub_path = f"{path}.source"
    kind = req_str(source, "type", sub_path)
    cache = take_cache(block, rest, path)
    if kind == "base64":
        data, media_type = req_str(source, "data", sub_path), req_str(source, "media_type", sub_path)
        nest(rest, "source", without(source, "type", "data", "media_type"))
        return ImagePart(data_b64=data, media_type=media_type, cache=cache, extra=rest)
    if kind == "url":
        url = req_str(source, "url", sub_path)
        nest(rest, "source", without(source, "type", "url"))
        return ImagePart(url=url, cache=cache, extra=rest)
    return ImagePart(cache=cache, extra=rest)  # a Files API image (or newer): its source stays


def _read_document(block: JSONDict, rest: JSONDict, path: str) -> FilePart:
    source = req_dict(block, "source", path)
    sub_path = f"{path}.source"
    kind = req_str(source, "type", sub_path)
    part = FilePart(cache=take_cache(block, rest, path), extra=rest)
    part.filename = take(rest, "title", opt_str(block, "title", path))
    taken: tuple[str, ...] = ("type",)
    if kind == "base64":
        part.data_b64, part.media_type = (
            req_str(source, "data", sub_path),
            req_str(source, "media_type", sub_path),
        )
        taken = ("type", "data", "media_type")
    elif kind == "text":
        part.text, part.media_type = (
            req_str(source, "data", sub_path),
            req_str(source, "media_type", sub_path),
        )
        taken = ("type", "data", "media_type")
    elif kind == "url":
        part.url = req_str(source, "url", sub_path)
        taken = ("type", "url")
    elif kind == "file":
        part.file_id = req_str(source, "file_id", sub_path)
        taken = ("type", "file_id")
    elif kind == "content":
        part.text = _source_text(source, sub_path)
        taken = () if isinstance(source.get("content"), list) else ("content",)
    else:
        return part  # an unknown source stays whole in the residual
    nest(rest, "source", without(source, *taken))
    return part


def _source_text(source: JSONDict, path: str) -> str:
    """The text of a ``content`` document source: its string, or its text blocks joined (the
    blocks themselves stay in the residual)."""
    required(source, "content", path)
    content = source["content"]
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise wrong(f"{path}.content", "a string or an array of content blocks", content)
    texts = []
    for j, raw in enumerate(content):
        block = obj(raw, f"{path}.content[{j}]")
        if req_str(block, "type", f"{path}.content[{j}]") == "text":
            texts.append(req_str(block, "text", f"{path}.content[{j}]"))
    return "\n\n".join(texts)


def _read_tool_result(block: JSONDict, rest: JSONDict, path: str) -> ToolResult:
    call_id = req_str(block, "tool_use_id", path)
    del rest["tool_use_id"]
    result = ToolResult(call_id, [], cache=take_cache(block, rest, path), extra=rest)
    if opt_bool(block, "is_error", path):
        result.is_error = True
        del rest["is_error"]  # false stays: the neutral form cannot tell it from absent
    content = block.get("content")
    if isinstance(content, str):
        result.as_text = True
        result.content = [TextPart(content)] if content else []
        del rest["content"]
    elif isinstance(content, list):
        parts, slots = read_content_list(content, f"{path}.content")
        result.content = parts
        if slots is None and parts:
            del rest["content"]
        elif slots is not None:
            rest["content"] = slots
    elif content is not None:
        raise wrong(f"{path}.content", "a string or an array of content blocks", content)
    return result


def read_content_list(blocks: list[Any], path: str) -> tuple[list[ContentPart], list[Any] | None]:
    """Content parts of a nested block list (a tool result's content), and its slot list when an
    opaque block (search result, tool reference, ...) sits among them."""
    parts: list[ContentPart] = []
    slots: list[Any] = []
    opaque = False
    for j, raw in enumerate(blocks):
        block = obj(raw, f"{path}[{j}]")
        part = read_block(block, f"{path}[{j}]")
        if isinstance(part, TextPart | ImagePart | FilePart):
            parts.append(part)
            slots.append(None)
        else:
            slots.append(block)
            opaque = True
    return parts, (slots if opaque else None)


# ---------------------------------------------------------------------------- writing: native


def write_block(part: Part) -> JSONDict:
    """A block of this dialect, rebuilt from the part's residual and its neutral fields."""
    if isinstance(part, TextPart):
        out: JSONDict = {"type": "text", **part.extra, "text": part.text}
        write_cache(out, part.cache, True)
        return out
    if isinstance(part, ImagePart):
        return _write_image(part)
    if isinstance(part, FilePart):
        return _write_document(part)
    if isinstance(part, ReasoningPart):
        if part.redacted_data is not None:
            return {"type": "redacted_thinking", **part.extra, "data": part.redacted_data}
        return {"type": "thinking", **part.extra, "thinking": part.text, "signature": part.signature or ""}
    if isinstance(part, ToolCall):
        out = {"type": "tool_use", **part.extra, "id": part.id, "name": part.name}
        out["input"] = input_object(part.arguments)
        write_cache(out, part.cache, True)
        return out
    if isinstance(part, ToolResult):
        return _write_tool_result(part)
    if isinstance(part, RefusalPart):
        return {"type": "text", **part.extra, "text": part.text}
    raise unsupported("Anthropic upstreams do not accept audio input.")


def _write_image(part: ImagePart) -> JSONDict:
    out: JSONDict = {"type": "image", **part.extra}
    source = sub(out, "source")
    if part.data_b64 is not None:
        source.update(type="base64", media_type=part.media_type or "", data=part.data_b64)
    elif part.url is not None:
        source.update(type="url", url=part.url)
    out["source"] = source
    write_cache(out, part.cache, True)
    return out


def _write_document(part: FilePart) -> JSONDict:
    out: JSONDict = {"type": "document", **part.extra}
    source = sub(out, "source")
    if part.data_b64 is not None:
        source.update(type="base64", media_type=part.media_type or _PDF, data=part.data_b64)
    elif part.text is not None:
        if source.get("type") == "content":
            original = source.get("content")
            if not (isinstance(original, list) and _joined_text(original) == part.text):
                source["content"] = part.text
        else:
            source.update(type="text", media_type=part.media_type or "text/plain", data=part.text)
    elif part.url is not None:
        source.update(type="url", url=part.url)
    elif part.file_id is not None:
        source.update(type="file", file_id=part.file_id)
    out["source"] = source
    put(out, "title", part.filename)
    write_cache(out, part.cache, True)
    return out


def _joined_text(blocks: list[Any]) -> str:
    texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
    return "\n\n".join(t for t in texts if isinstance(t, str))


def _write_tool_result(result: ToolResult) -> JSONDict:
    out: JSONDict = {"type": "tool_result", **result.extra, "tool_use_id": result.call_id}
    if result.as_text:
        out["content"] = "".join(p.text for p in result.content if isinstance(p, TextPart))
    elif result.content or isinstance(out.get("content"), list):
        out["content"] = fill_slots((write_block(p) for p in result.content), out.get("content"))
    if result.is_error:
        out["is_error"] = True
    write_cache(out, result.cache, True)
    return out


# ---------------------------------------------------------------------------- writing: foreign


def write_foreign_block(part: ContentPart, path: str) -> JSONDict | None:
    """A content part of another dialect as an Anthropic block (None: nothing to send)."""
    if isinstance(part, TextPart | RefusalPart):
        if not part.text:
            return None  # Anthropic rejects empty text blocks
        out: JSONDict = {"type": "text", "text": part.text}
        if isinstance(part, TextPart) and part.cache is not None:
            out["cache_control"] = cache_control(part.cache)
        return out
    if isinstance(part, AudioPart):
        raise unsupported("Anthropic upstreams do not accept audio input.", path)
    if isinstance(part, ImagePart):
        out = {"type": "image", "source": _image_source(part, path)}
    else:
        out = _foreign_document(part, path)
    if part.cache is not None:
        out["cache_control"] = cache_control(part.cache)
    return out


def _image_source(part: ImagePart, path: str) -> JSONDict:
    if part.data_b64 is not None:
        return _base64_image(part.media_type, part.data_b64, path)
    url = part.url or ""
    if url.startswith("data:"):
        split = split_data_url(url)
        if split is None:
            raise unsupported("An image data URL must look like 'data:<media type>;base64,<data>'.", path)
        return _base64_image(split[0], split[1], path)
    if url.startswith(("http://", "https://")):
        return {"type": "url", "url": url}
    raise unsupported("Anthropic upstreams take images as base64 data or an http(s) URL.", path)


def _base64_image(media_type: str | None, data: str, path: str) -> JSONDict:
    if media_type not in IMAGE_TYPES:
        listed = ", ".join(IMAGE_TYPES)
        raise unsupported(
            f"Anthropic upstreams do not accept images of type '{media_type}'; use one of {listed}.", path
        )
    return {"type": "base64", "media_type": media_type, "data": data}


def _foreign_document(part: FilePart, path: str) -> JSONDict:
    if part.text is not None:
        source: JSONDict = {"type": "text", "media_type": "text/plain", "data": part.text}
    elif part.data_b64 is not None:
        media_type = part.media_type
        if media_type is None and part.data_b64.startswith(_PDF_B64):
            media_type = _PDF
        if media_type in IMAGE_TYPES:
            return {"type": "image", "source": _base64_image(media_type, part.data_b64, path)}
        source = _base64_document(media_type, part.data_b64, path)
    elif part.url is not None and part.url.startswith("data:"):
        split = split_data_url(part.url)
        if split is None:
            raise unsupported("A file data URL must look like 'data:<media type>;base64,<data>'.", path)
        return _foreign_document(
            FilePart(data_b64=split[1], media_type=split[0], filename=part.filename), path
        )
    elif part.url is not None and part.url.startswith(("http://", "https://")):
        source = {"type": "url", "url": part.url}
    elif part.file_id is not None:
        raise unsupported(
            "Anthropic upstreams cannot read another provider's file ids; send the file's content inline.",
            path,
        )
    else:
        raise unsupported("A file needs its data, text or an http(s) URL.", path)
    out: JSONDict = {"type": "document", "source": source}
    if part.filename:
        out["title"] = part.filename[:_MAX_TITLE]
    return out


def _base64_document(media_type: str | None, data: str, path: str) -> JSONDict:
    if media_type == _PDF:
        return {"type": "base64", "media_type": _PDF, "data": data}
    if media_type == "text/plain":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unsupported("A text/plain file must be base64-encoded UTF-8 text.", path) from None
        return {"type": "text", "media_type": "text/plain", "data": text}
    raise unsupported(
        f"Anthropic upstreams read documents as PDF or plain text, not '{media_type or 'unknown type'}'.",
        path,
    )


def write_foreign_tool_use(call: ToolCall) -> JSONDict:
    out: JSONDict = {"type": "tool_use", "id": tool_id(call.id), "name": call.name}
    out["input"] = input_object(call.arguments)
    if call.cache is not None:
        out["cache_control"] = cache_control(call.cache)
    return out


def write_foreign_tool_result(result: ToolResult, path: str) -> JSONDict:
    out: JSONDict = {"type": "tool_result", "tool_use_id": tool_id(result.call_id)}
    blocks = [
        b for j, p in enumerate(result.content) if (b := write_foreign_block(p, f"{path}.content[{j}]"))
    ]
    if result.as_text and all(b.keys() == {"type", "text"} for b in blocks):
        text = "".join(b["text"] for b in blocks)
        if text:
            out["content"] = text
    elif blocks:
        out["content"] = blocks
    if result.is_error:
        out["is_error"] = True
    if result.cache is not None:
        out["cache_control"] = cache_control(result.cache)
    return out


def write_foreign_reasoning(part: ReasoningPart) -> JSONDict | None:
    """A thinking block to replay, or None: thinking without an Anthropic signature (another
    provider's reasoning, signed by it or not) is never sent to an Anthropic upstream, which would
    reject it."""
    if part.redacted_data:
        return {"type": "redacted_thinking", "data": part.redacted_data}
    signature = own_signature(part.signature, part.signer, DIALECT, unsigned=True)
    if signature:
        return {"type": "thinking", "thinking": part.text, "signature": signature}
    return None
