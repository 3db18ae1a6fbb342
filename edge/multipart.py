"""``multipart/form-data`` uploads (``/v1/images/edits``), decoded at the edge.

The text fields become the envelope's JSON ``body`` (an object of strings, so the router parses it
like any body; a field sent more than once becomes a list of strings), the files its ``files``.
The body is read part by part, never whole, with these limits (errors in the caller's protocol):

- the whole body at most the edge's ``max_body_mb`` → 413;
- at most :data:`MAX_PARTS` parts → 400 (the images, the mask, and every field an edit takes, with
  room to spare);
- one file at most :data:`MAX_PART_BYTES` (or the body limit, if lower) → 413; the text fields
  together at most :data:`MAX_FIELD_BYTES` → 413;
- one or more ``image`` (or ``image[]``) files → 400 when none; at most :data:`MAX_IMAGES` → 400;
  at most one ``mask`` → 400;
- every ``image``/``mask`` file is a PNG, JPEG, WEBP or GIF by its first bytes, whatever its
  declared type (the sniffed type is what travels on) → 400;
- a malformed or truncated body, a part without a name, a nested multipart → 400, never a 500.

Other files (a field with a filename that is neither ``image`` nor ``mask``) travel on unchecked.

The work is bounded and handed out in slices: a part is read in chunks that start small (8 KiB,
doubling up to 256 KiB: aiohttp reads a chunk ahead and puts back what follows the part, so a large
first read would cost as much for a one-byte field as for a file), and the reader yields to the
event loop after every chunk and every part. The forwarder checks that a key is present before
any of this runs; the key itself is checked by the router, after the upload (see ``forward.py``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import orjson
from aiohttp import BodyPartReader, web

from torouter.router.errors import ErrorCode, GatewayError

log = logging.getLogger("torouter.edge")

MAX_PART_BYTES = 25 * 1024 * 1024
MAX_FIELD_BYTES = 1024 * 1024  # the text fields together (a prompt is at most 32,000 characters)
MAX_IMAGES = 16
MAX_PARTS = 64
IMAGE_FIELDS = ("image", "image[]")
MASK_FIELD = "mask"
_CHUNK = 256 * 1024
_FIRST_CHUNK = 8 * 1024

_MALFORMED = (
    "The multipart/form-data body could not be read: it is malformed or truncated. Send the image "
    "files and the text fields (prompt, model, ...) as one complete multipart/form-data body."
)


@dataclass(slots=True, frozen=True)
class Upload:
    """One file of a form (the envelope's ``File``, made only when the call is: a protobuf copy of
    25 MiB costs tens of milliseconds)."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Form:
    """A decoded form: the text fields as the envelope's JSON body, and the files."""

    body: bytes
    files: list[Upload] = field(default_factory=list)


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
    """Bytes left for the whole body (or for what ``what`` names)."""

    def __init__(self, limit: int, what: str = "The request body is") -> None:
        self.limit = limit
        self.left = limit
        self.what = what

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise GatewayError(
                ErrorCode.REQUEST_TOO_LARGE,
                f"{self.what} larger than the gateway's limit of {self.limit} bytes.",
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
    files: list[Upload] = []
    images = masks = parts = 0
    text = _Budget(MAX_FIELD_BYTES, "The text fields of the form are")
    while True:
        part = await reader.next()
        if part is None:
            break
        parts += 1
        if parts > MAX_PARTS:
            raise _bad(f"Too many parts: a form may have at most {MAX_PARTS} fields and files.")
        await asyncio.sleep(0)  # one part at a time: other requests run in between
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
            files.append(Upload(name, part.filename or "", content_type, data))
            continue
        raw = await _read_part(part, MAX_FIELD_BYTES, budget, f"The form field {name!r}", name)
        text.take(len(raw))
        try:
            value = raw.decode(part.get_charset(default="utf-8"))
        except (LookupError, UnicodeDecodeError):
            raise _bad(f"The form field {name!r} is not valid UTF-8 text.", name) from None
        previous = fields.get(name)
        if previous is None:
            fields[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            fields[name] = [previous, value]
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
    step = _FIRST_CHUNK
    while not part.at_eof():
        chunk = await part.read_chunk(step)
        step = min(step * 2, _CHUNK)
        await asyncio.sleep(0)
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
