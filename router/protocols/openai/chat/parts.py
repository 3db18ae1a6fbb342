"""Content parts of a message (text, image, audio, file, refusal), read and written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeGuard

from ....errors import ErrorCode, GatewayError
from ....ir import (
    AudioPart,
    CacheHint,
    ContentPart,
    FilePart,
    ImagePart,
    JSONDict,
    Part,
    RefusalPart,
    TextPart,
)
from ...common import data_url as _data_url
from ...common import split_data_url as _split_data_url
from .residual import _nest, _put, _sub, _take, _without
from .validate import _invalid, _obj, _opt_str, _req_dict, _req_str

_PART_TYPES: Final = ("text", "image_url", "input_audio", "file", "refusal")


# ---------------------------------------------------------------------------- reading


def _read_part(raw: object, path: str) -> ContentPart:
    part = _obj(raw, path)
    kind = _req_str(part, "type", path)
    if kind not in _PART_TYPES:
        raise _invalid(f"{path}.type", kind, _PART_TYPES)
    rest = _without(part, "type", kind)
    if kind == "text":
        return TextPart(_req_str(part, "text", path), _take_cache(part, rest), rest)
    if kind == "refusal":
        rest["type"] = kind  # tells a content-list refusal from the message's ``refusal`` field
        return RefusalPart(_req_str(part, "refusal", path), rest)
    spec = _req_dict(part, kind, path)
    sub = f"{path}.{kind}"
    if kind == "image_url":
        url = _req_str(spec, "url", sub)
        inner = _without(spec, "url")
        detail = _take(inner, "detail", _opt_str(spec, "detail", sub))
        _nest(rest, kind, inner)
        split = _split_data_url(url)
        if split is None:
            return ImagePart(url=url, detail=detail, cache=_take_cache(part, rest), extra=rest)
        return ImagePart(
            data_b64=split[1], media_type=split[0], detail=detail, cache=_take_cache(part, rest), extra=rest
        )
    if kind == "input_audio":
        audio = AudioPart(_req_str(spec, "data", sub), _req_str(spec, "format", sub), rest)
        _nest(rest, kind, _without(spec, "data", "format"))
        return audio
    return _read_file_part(part, spec, sub, rest)


def _read_file_part(part: JSONDict, spec: JSONDict, path: str, rest: JSONDict) -> FilePart:
    inner = dict(spec)
    filename = _take(inner, "filename", _opt_str(spec, "filename", path))
    file_data = _take(inner, "file_data", _opt_str(spec, "file_data", path))
    file_id = _take(inner, "file_id", _opt_str(spec, "file_id", path))
    _nest(rest, "file", inner)
    split = None if file_data is None else _split_data_url(file_data)
    return FilePart(
        data_b64=file_data if split is None else split[1],
        media_type=None if split is None else split[0],
        file_id=file_id,
        filename=filename,
        cache=_take_cache(part, rest),
        extra=rest,
    )


def _take_cache(part: JSONDict, rest: JSONDict) -> CacheHint | None:
    """``prompt_cache_breakpoint`` as a CacheHint; a non-canonical original stays in the residual."""
    breakpoint_ = part.get("prompt_cache_breakpoint")
    if not isinstance(breakpoint_, dict):
        return None  # absent, or null (kept)
    if breakpoint_ == {"mode": "explicit"}:
        del rest["prompt_cache_breakpoint"]
    return CacheHint()


# ---------------------------------------------------------------------------- writing


def _is_content(part: Part) -> TypeGuard[ContentPart]:
    return isinstance(part, TextPart | ImagePart | FilePart | AudioPart | RefusalPart)


def _text(parts: Sequence[Part]) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextPart))


def _plain_text(part: JSONDict) -> bool:
    """A written text part with nothing else (no cache breakpoint): it can join a string content."""
    return part.keys() == {"type", "text"}


def _write_native_content(out: JSONDict, parts: Sequence[ContentPart], as_text: bool) -> None:
    """``content`` of a native message: a string when the caller gave one, else the parts (with no
    parts, the residual keeps what the caller gave: null or ``[]``)."""
    if as_text:
        out["content"] = _text(parts)
    elif parts:
        out["content"] = [_write_part(p, True) for p in parts]


def _write_part(part: ContentPart, native: bool) -> JSONDict:
    """One content part (``native``: the part's residual is written back).

    Audio and refusal parts have no cache hint in the neutral form: a ``prompt_cache_breakpoint``
    on them stays in their residual.
    """
    out: JSONDict = dict(part.extra) if native else {}
    if isinstance(part, RefusalPart):
        out["type"], out["refusal"] = "refusal", part.text
        return out
    if isinstance(part, AudioPart):
        audio = _sub(out, "input_audio")
        audio["data"], audio["format"] = part.data_b64, part.format
        out["type"], out["input_audio"] = "input_audio", audio
        return out
    if isinstance(part, TextPart):
        out["type"], out["text"] = "text", part.text
    elif isinstance(part, ImagePart):
        image = _sub(out, "image_url")
        image["url"] = _data_url(part.media_type, part.data_b64) if part.data_b64 is not None else part.url
        _put(image, "detail", part.detail)
        out["type"], out["image_url"] = "image_url", image
    else:
        spec = _sub(out, "file")
        _put(spec, "filename", part.filename)
        if part.data_b64 is not None:
            data = part.data_b64
            spec["file_data"] = data if part.media_type is None else _data_url(part.media_type, data)
        _put(spec, "file_id", part.file_id)
        out["type"], out["file"] = "file", spec
    if part.cache is not None:
        out.setdefault("prompt_cache_breakpoint", {"mode": "explicit"})
    elif isinstance(out.get("prompt_cache_breakpoint"), dict):
        del out["prompt_cache_breakpoint"]  # the hint was removed from the neutral form
    return out


def _write_foreign_part(part: ContentPart, media: bool) -> JSONDict | None:
    """A content part of another dialect; ``media``: images, audio and files are allowed."""
    if isinstance(part, TextPart):
        return _write_part(part, False)
    if isinstance(part, FilePart) and part.text is not None:
        title = f"{part.filename}\n\n" if part.filename else ""
        return _write_part(TextPart(title + part.text, part.cache), False)
    if not media:
        return None
    if isinstance(part, ImagePart) and part.url is None and part.data_b64 is None:
        return None
    if isinstance(part, FilePart) and part.data_b64 is None and part.file_id is None:
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            "OpenAI chat upstreams cannot read a document given by URL; send its content inline instead.",
        )
    return None if isinstance(part, RefusalPart) else _write_part(part, False)
