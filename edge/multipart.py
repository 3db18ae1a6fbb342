"""``multipart/form-data`` uploads (``/v1/images/edits``), decoded at the edge.

The text fields become the envelope's JSON ``body`` (an object of strings, so the router parses it
like any body; a field sent more than once becomes a list of strings), the files its ``files``.
The body is read part by part, never whole, with these limits (errors in the caller's protocol):

- the whole body at most the edge's ``max_body_mb`` → 413;
- one file at most :data:`MAX_PART_BYTES` (or the body limit, if lower) → 413; a text field at most
  :data:`MAX_FIELD_BYTES` → 413;
- one or more ``image`` (or ``image[]``) files → 400 when none; at most :data:`MAX_IMAGES` → 400;
  at most one ``mask`` → 400;
- every ``image``/``mask`` file is a PNG, JPEG, WEBP or GIF by its first bytes, whatever its
  declared type (the sniffed type is what travels on) → 400;
- a malformed or truncated body, a part without a name, a nested multipart → 400, never a 500.

Other files (a field with a filename that is neither ``image`` nor ``mask``) travel on unchecked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import orjson
from aiohttp import BodyPartReader, web

from torouter.proto.v1 import router_pb2
from torouter.router.errors import ErrorCode, GatewayError

log = logging.getLogger("torouter.edge")

MAX_PART_BYTES = 25 * 1024 * 1024
MAX_FIELD_BYTES = 1024 * 1024  # a text field (a prompt is at most 32,000 characters)
MAX_IMAGES = 16
IMAGE_FIELDS = ("image", "image[]")
MASK_FIELD = "mask"
_CHUNK = 256 * 1024

_MALFORMED = (
    "The multipart/form-data body could not be read: it is malformed or truncated. Send the image "
    "files and the text fields (prompt, model, ...) as one complete multipart/form-data body."
)


@dataclass(slots=True)
class Form:
    """A decoded form: the text fields as the envelope's JSON body, and the files."""

    body: bytes
    files: list[router_pb2.File] = field(default_factory=list)


def sniff_image(data: bytes) -> str | None:
    """The media type of an image by its magic bytes: PNG, JPEG, WEBP or GIF (None otherwise)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def _bad(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(ErrorCode.INVALID_REQUEST, message, param=param)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


class _Budget:
    """Bytes left for the whole body."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise GatewayError(
                ErrorCode.REQUEST_TOO_LARGE,
                f"The request body is larger than the gateway's limit of {self.limit} bytes.",
            )


async def read_image_edit_form(request: web.Request, body_limit: int) -> Form:
    """Decodes an images/edits form (rules in the module docstring); raises GatewayError."""
    try:
        return await _read_form(request, _Budget(body_limit), min(MAX_PART_BYTES, body_limit))
    except GatewayError:
        raise
    except Exception as exc:  # aiohttp's parser raises ValueError, AssertionError, payload errors...
        log.debug("malformed multipart body", extra={"error": repr(exc)})
        raise _bad(_MALFORMED) from None


async def _read_form(request: web.Request, budget: _Budget, part_limit: int) -> Form:
    reader = await request.multipart()
    fields: dict[str, str | list[str]] = {}
    files: list[router_pb2.File] = []
    images = masks = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise _bad("Nested multipart bodies are not supported: send each file as its own form field.")
        name = part.name
        if not name:
            raise _bad(
                "Every part of a multipart/form-data body needs a name (Content-Disposition: form-data)."
            )
        is_image, is_mask = name in IMAGE_FIELDS, name == MASK_FIELD
        if is_image or is_mask or part.filename is not None:
            what = f"The file {part.filename or '(unnamed)'!r} in the field {name!r}"
            data = await _read_part(part, part_limit, budget, what, name)
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            if is_image or is_mask:
                images += is_image
                masks += is_mask
                if images > MAX_IMAGES:
                    raise _bad(f"Too many images: at most {MAX_IMAGES} 'image' files per request.", "image")
                if masks > 1:
                    raise _bad("Only one 'mask' file may be sent.", "mask")
                sniffed = sniff_image(data)
                if sniffed is None:
                    raise _bad(
                        f"{what} is not an image: send PNG, JPEG, WEBP or GIF files.",
                        "mask" if is_mask else "image",
                    )
                content_type = sniffed
            files.append(
                router_pb2.File(
                    field=name, filename=part.filename or "", content_type=content_type, data=data
                )
            )
            continue
        raw = await _read_part(part, MAX_FIELD_BYTES, budget, f"The form field {name!r}", name)
        try:
            text = raw.decode(part.get_charset(default="utf-8"))
        except (LookupError, UnicodeDecodeError):
            raise _bad(f"The form field {name!r} is not valid UTF-8 text.", name) from None
        previous = fields.get(name)
        if previous is None:
            fields[name] = text
        elif isinstance(previous, list):
            previous.append(text)
        else:
            fields[name] = [previous, text]
    if not images:
        raise _bad(
            "Missing required parameter: 'image'. Send one or more image files as multipart fields "
            "named 'image' (or 'image[]').",
            "image",
        )
    return Form(orjson.dumps(fields), files)


async def _read_part(part: BodyPartReader, limit: int, budget: _Budget, what: str, param: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while not part.at_eof():
        chunk = await part.read_chunk(_CHUNK)
        if not chunk:
            continue
        size += len(chunk)
        budget.take(len(chunk))
        if size > limit:
            raise GatewayError(
                ErrorCode.REQUEST_TOO_LARGE,
                f"{what} is larger than the gateway's limit of {_mib(limit)} per part.",
                param=param,
            )
        chunks.append(chunk)
    return b"".join(chunks)
