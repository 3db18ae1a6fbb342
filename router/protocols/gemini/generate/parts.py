"""Parts, read and written: text, thought text, thought signatures, inline data, file data,
function calls and function responses. Any other part (``executableCode``,
``codeExecutionResult``, parts newer than this codec) is *opaque*: the reader returns None for it
and the caller keeps it, verbatim, in a slot list under its residual's ``parts``.

Reading: ``text`` is a TextPart; with ``thought: true`` a ReasoningPart (its ``thoughtSignature``
the part's signature). A signature on a text part that is not a thought becomes a ReasoningPart of
its own with no text, marked ``ON_TEXT``, just before that text. ``inlineData`` is an ImagePart
(``image/*``), an AudioPart (wav, mp3) or a FilePart; ``fileData`` an ImagePart or FilePart with its
``fileUri`` as URL. ``functionCall`` is a ToolCall (``args`` as compact JSON, the signature, an id
made up when absent); ``functionResponse`` a ToolResult whose text is the ``output`` (or ``error``,
then ``is_error``) of a one-key response, else the whole response as JSON. Every signature read
here has signer ``gemini``.

Native writers (``write_native_parts``) give back what was read; foreign writers
(``write_foreign_part`` and friends) build parts from the neutral fields alone and keep only
signatures Gemini made (TRANSLATION §6.2, §6.3).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Sequence
from typing import Final

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
    Malformed,
    join_path,
    opt_bool,
    opt_dict,
    opt_str,
    own_signature,
    req_dict,
    req_str,
    split_data_url,
    sub,
    without,
)
from .proto_json import (
    DIALECT,
    NO_ARGS,
    ON_TEXT,
    SYNTHETIC_ID,
    WRAPPED,
    WRAPPED_JSON,
    CallIds,
    args_object,
    arguments_json,
    clean,
    fields,
    json_or_text,
    unsupported,
)

# The ``data`` oneof of a Part: exactly one may be set.
DATA_FIELDS: Final = (
    "text",
    "inlineData",
    "functionCall",
    "functionResponse",
    "fileData",
    "executableCode",
    "codeExecutionResult",
    "toolCall",
    "toolResponse",
)
_AUDIO: Final = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/mp3": "mp3", "audio/mpeg": "mp3"}
_AUDIO_TYPES: Final = {"wav": "audio/wav", "mp3": "audio/mp3"}


# ---------------------------------------------------------------------------- reading


def read_part(raw: object, path: str, ids: CallIds) -> list[Part] | None:
    """The neutral parts a wire part stands for (one, or a signature and its text), or None for an
    opaque part (kept by the caller)."""
    part = fields(raw, path)
    present = [k for k in DATA_FIELDS if part.get(k) is not None]
    if len(present) > 1:
        listed = " and ".join(f"'{join_path(path, k)}'" for k in present)
        raise Malformed(path, f"Invalid value for '{path}': a part holds one kind of data, not {listed}.")
    signature = opt_str(part, "thoughtSignature", path)
    thought = opt_bool(part, "thought", path)
    kind = present[0] if present else None
    rest = dict(part)
    if kind == "text":
        text = req_str(part, "text", path)
        del rest["text"]
        if thought:
            del rest["thought"]
            if signature is not None:
                del rest["thoughtSignature"]
            return [ReasoningPart(text, signature, extra=rest, signer=_signer(signature))]
        if signature is None:
            return [TextPart(text, extra=rest)]
        del rest["thoughtSignature"]
        return [
            ReasoningPart("", signature, extra={ON_TEXT: True}, signer=DIALECT),
            TextPart(text, extra=rest),
        ]
    if kind == "inlineData":
        return [_read_inline(part, rest, path)]
    if kind == "fileData":
        return [_read_file_data(part, rest, path)]
    if kind == "functionCall":
        return [_read_call(part, rest, signature, path, ids)]
    if kind == "functionResponse":
        return [_read_response(part, rest, path, ids)]
    return None


def _signer(signature: str | None) -> str | None:
    return DIALECT if signature is not None else None


def _read_inline(part: JSONDict, rest: JSONDict, path: str) -> Part:
    sub_path = f"{path}.inlineData"
    blob = fields(part["inlineData"], sub_path)
    media_type, data = req_str(blob, "mimeType", sub_path), req_str(blob, "data", sub_path)
    inner = without(blob, "mimeType", "data")
    rest["inlineData"] = inner  # kept even when empty: says which field the data came in
    if media_type.startswith("image/"):
        return ImagePart(data_b64=data, media_type=media_type, extra=rest)
    audio = _AUDIO.get(media_type.lower())
    if audio is not None:
        if _AUDIO_TYPES[audio] != media_type:
            inner["mimeType"] = media_type  # a spelling the format does not give back
        return AudioPart(data, audio, rest)
    return FilePart(data_b64=data, media_type=media_type, extra=rest)


def _read_file_data(part: JSONDict, rest: JSONDict, path: str) -> Part:
    sub_path = f"{path}.fileData"
    spec = fields(part["fileData"], sub_path)
    uri = req_str(spec, "fileUri", sub_path)
    media_type = opt_str(spec, "mimeType", sub_path)
    rest["fileData"] = without(spec, "fileUri", "mimeType")
    if media_type is not None and media_type.startswith("image/"):
        return ImagePart(url=uri, media_type=media_type, extra=rest)
    return FilePart(url=uri, media_type=media_type, extra=rest)


def _read_call(part: JSONDict, rest: JSONDict, signature: str | None, path: str, ids: CallIds) -> ToolCall:
    sub_path = f"{path}.functionCall"
    call = fields(part["functionCall"], sub_path)
    name = req_str(call, "name", sub_path)
    given = opt_str(call, "id", sub_path)
    args = opt_dict(call, "args", sub_path)
    inner = without(call, "name", "id", "args")
    if given is None and "id" in call:
        inner["id"] = None
    if args is None and "args" in call:
        inner["args"] = None
    rest["functionCall"] = inner
    if signature is not None:
        del rest["thoughtSignature"]
    call_id, made_up = ids.call(given, name)
    if made_up:
        rest[SYNTHETIC_ID] = True
    if args is None:
        rest[NO_ARGS] = True
    return ToolCall(
        call_id, name, arguments_json(args or {}), signature, extra=rest, signer=_signer(signature)
    )


def _read_response(part: JSONDict, rest: JSONDict, path: str, ids: CallIds) -> ToolResult:
    sub_path = f"{path}.functionResponse"
    spec = fields(part["functionResponse"], sub_path)
    name = req_str(spec, "name", sub_path)
    given = opt_str(spec, "id", sub_path)
    response = req_dict(spec, "response", sub_path)
    rest["functionResponse"] = without(spec, "name", "id", "response")
    call_id, made_up = ids.result(given, name)
    if made_up:
        rest[SYNTHETIC_ID] = True
    result = ToolResult(call_id, [], name=name, as_text=True, extra=rest)
    value: object = response
    if len(response) == 1 and next(iter(response)) in ("output", "error"):
        key = next(iter(response))
        value = response[key]
        rest[WRAPPED] = key
        if not isinstance(value, str):
            rest[WRAPPED_JSON] = True
    result.is_error = "error" in response and "output" not in response
    text = value if isinstance(value, str) else arguments_json(value)
    result.content = [TextPart(text)] if text else []
    return result


# ---------------------------------------------------------------------------- writing: native


def write_native_parts(parts: Sequence[Part]) -> Iterator[JSONDict]:
    """The wire parts of neutral parts read by this codec (see the module docstring)."""
    i = 0
    while i < len(parts):
        part = parts[i]
        i += 1
        if isinstance(part, ReasoningPart):
            if part.signer not in (None, DIALECT) or part.redacted_data is not None:
                continue  # another provider's reasoning, put back by the router's memo
            if part.extra.get(ON_TEXT) and i < len(parts) and isinstance(parts[i], TextPart):
                text = parts[i]
                i += 1
                assert isinstance(text, TextPart)
                yield {**clean(text.extra), "text": text.text, **_signature(part.signature, part.signer)}
                continue
            if part.extra.get(ON_TEXT):
                yield {"text": part.text, **_signature(part.signature, part.signer)}
                continue
            yield {
                **clean(part.extra),
                "text": part.text,
                "thought": True,
                **_signature(part.signature, part.signer),
            }
        else:
            yield write_native_part(part)


def _signature(signature: str | None, signer: str | None) -> JSONDict:
    return {"thoughtSignature": signature} if signature is not None and signer == DIALECT else {}


def write_native_part(part: Part) -> JSONDict:
    if isinstance(part, TextPart | RefusalPart):
        return {**clean(part.extra), "text": part.text}
    if isinstance(part, ToolCall):
        out = clean(part.extra)
        call = sub(out, "functionCall")
        if not part.extra.get(SYNTHETIC_ID):
            call["id"] = part.id
        call["name"] = part.name
        if not (part.extra.get(NO_ARGS) and args_object(part.arguments) == {}):
            call["args"] = args_object(part.arguments)
        out["functionCall"] = call
        out.update(_signature(part.signature, part.signer))
        return out
    if isinstance(part, ToolResult):
        return _write_native_response(part)
    if isinstance(part, ReasoningPart):
        return {**clean(part.extra), "text": part.text, "thought": True}
    return _write_media(part, clean(part.extra))


def _write_native_response(result: ToolResult) -> JSONDict:
    out = clean(result.extra)
    spec = sub(out, "functionResponse")
    if not result.extra.get(SYNTHETIC_ID):
        spec["id"] = result.call_id
    spec["name"] = result.name or ""
    text = "".join(p.text for p in result.content if isinstance(p, TextPart))
    wrapped = result.extra.get(WRAPPED)
    if isinstance(wrapped, str):
        value = json_or_text(text) if result.extra.get(WRAPPED_JSON) else text
        spec["response"] = {wrapped: value}
    else:
        parsed = json_or_text(text)
        spec["response"] = parsed if isinstance(parsed, dict) else {"output": parsed}
    out["functionResponse"] = spec
    return out


def _write_media(part: ContentPart, out: JSONDict) -> JSONDict:
    """Inline data or file data, over a residual (``out``) that says which one it came as."""
    if isinstance(part, AudioPart):
        blob = sub(out, "inlineData")
        original = blob.get("mimeType")
        if not (isinstance(original, str) and _AUDIO.get(original.lower()) == part.format):
            blob["mimeType"] = _AUDIO_TYPES.get(part.format, f"audio/{part.format}")
        blob["data"] = part.data_b64
        out["inlineData"] = blob
        return out
    assert isinstance(part, ImagePart | FilePart)
    if isinstance(part, FilePart) and part.text is not None and part.data_b64 is None and part.url is None:
        return {"text": part.text}
    data, media_type = part.data_b64, part.media_type
    if data is None and part.url is not None:
        split = split_data_url(part.url)
        if split is not None:
            media_type, data = split
    if data is not None:
        blob = sub(out, "inlineData")
        blob["mimeType"] = media_type or _default_type(part)
        blob["data"] = data
        out.pop("fileData", None)
        out["inlineData"] = blob
        return out
    spec = sub(out, "fileData")
    spec["fileUri"] = part.url or ""
    if media_type is not None:
        spec["mimeType"] = media_type
    out.pop("inlineData", None)
    out["fileData"] = spec
    return out


def _default_type(part: ImagePart | FilePart) -> str:
    return "image/png" if isinstance(part, ImagePart) else "application/octet-stream"


# ---------------------------------------------------------------------------- writing: foreign


def write_foreign_part(part: ContentPart, path: str) -> JSONDict | None:
    """A content part of another dialect (None: nothing to send; Gemini rejects empty text)."""
    if isinstance(part, TextPart | RefusalPart):
        return {"text": part.text} if part.text else None
    if isinstance(part, AudioPart):
        if part.format not in _AUDIO_TYPES:
            raise unsupported(f"Gemini upstreams take wav or mp3 audio, not '{part.format}'.", path)
        return _write_media(part, {})
    if isinstance(part, FilePart):
        if part.text is not None:
            title = f"{part.filename}\n\n" if part.filename else ""
            return {"text": title + part.text} if title + part.text else None
        if part.data_b64 is None and part.url is None:
            raise unsupported(
                "Gemini upstreams cannot read another provider's file ids; send the file's content inline.",
                path,
            )
    elif part.data_b64 is None and part.url is None:
        return None
    url = part.url
    if part.data_b64 is None and url is not None and not url.startswith("data:"):
        if not url.startswith(("http://", "https://", "gs://")):
            raise unsupported("Gemini upstreams take media as base64 data or an http(s) or gs:// URL.", path)
        if part.media_type is None:
            guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
            if guessed is not None:
                return _write_media(_with_type(part, guessed), {})
    elif url is not None and url.startswith("data:") and split_data_url(url) is None:
        raise unsupported("A data URL must look like 'data:<media type>;base64,<data>'.", path)
    return _write_media(part, {})


def _with_type(part: ImagePart | FilePart, media_type: str) -> ImagePart | FilePart:
    if isinstance(part, ImagePart):
        return ImagePart(url=part.url, media_type=media_type)
    return FilePart(url=part.url, media_type=media_type)


def write_foreign_call(call: ToolCall) -> JSONDict:
    """A function call of another dialect; the signature only when Gemini made it."""
    out: JSONDict = {"functionCall": {"id": call.id, "name": call.name, "args": args_object(call.arguments)}}
    signature = own_signature(call.signature, call.signer, DIALECT, unsigned=False)
    if signature is not None:
        out["thoughtSignature"] = signature
    return out


def write_foreign_response(result: ToolResult, name: str) -> JSONDict:
    """A function response of another dialect: ``{"output"|"error": <JSON or text>}``."""
    text = "".join(
        p.text if isinstance(p, TextPart) else (p.text or "")
        for p in result.content
        if isinstance(p, TextPart) or (isinstance(p, FilePart) and p.text is not None)
    )
    key = "error" if result.is_error else "output"
    return {"functionResponse": {"id": result.call_id, "name": name, "response": {key: json_or_text(text)}}}


def write_foreign_reasoning(part: ReasoningPart) -> JSONDict | None:
    """Thought text to replay, or None: only reasoning Gemini signed goes back to Gemini (a
    signature without text is attached by the caller to the part after it)."""
    signature = own_signature(part.signature, part.signer, DIALECT, unsigned=False)
    if signature is None or not part.text:
        return None
    return {"text": part.text, "thought": True, "thoughtSignature": signature}
