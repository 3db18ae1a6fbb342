"""Tiny real PNG files, made with zlib and struct (no imaging library), and their dimensions.

The mocks answer image requests with these, and the tests upload them: a decoder that reads PNG
(browsers, PIL, the real APIs) accepts every one.
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 8, height: int = 8, rgba: tuple[int, int, int, int] = (200, 60, 40, 255)) -> bytes:
    """A ``width`` × ``height`` RGBA PNG of one colour (alpha 0 makes a fully transparent mask)."""
    if width < 1 or height < 1:
        raise ValueError("a PNG has at least one pixel")
    row = b"\x00" + bytes(rgba) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` of a PNG; ``ValueError`` for anything that is not one."""
    if not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def is_png(data: bytes) -> bool:
    """A PNG whose chunks are all intact (CRCs checked) and whose pixels decompress."""
    if not data.startswith(SIGNATURE):
        return False
    at, pixels, seen_end = len(SIGNATURE), b"", False
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        crc = data[at + 8 + length : at + 12 + length]
        if len(body) != length or len(crc) != 4 or struct.unpack(">I", crc)[0] != zlib.crc32(kind + body):
            return False
        if kind == b"IDAT":
            pixels += body
        seen_end = kind == b"IEND"
        at += 12 + length
    if not seen_end:
        return False
    try:
        zlib.decompress(pixels)
    except zlib.error:
        return False
    return True
