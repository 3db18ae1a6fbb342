"""Structured logs: one JSON object per line. Never keys or message bodies (unless debug is on).

Every line goes through :class:`JSONFormatter`, which also guards what the gateway does not write
itself (aiohttp's ``aiohttp.server`` / ``aiohttp.access`` / ``aiohttp.web`` loggers quote request
lines and headers): credentials in a message or a traceback — an ``Authorization`` value, a Bearer
token, ``x-api-key`` / ``x-goog-api-key`` / ``key=`` values, and any quoted raw bytes (aiohttp's
parser errors quote a header's value without its name) — are replaced by ``[redacted]``
(:func:`redact`), and strings are cut at :data:`MAX_LOGGED_CHARS` (the per-request line's at
:data:`MAX_FIELD_CHARS`: a 200 KB model id is not logged whole). Bodies, logged only at DEBUG
(``body_log``), have their own cut.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable
from typing import IO, Any, Final

import orjson

from .errors import cut

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

MAX_LOGGED_CHARS: Final = 4096  # a message, a traceback or a field of a log line
MAX_FIELD_CHARS: Final = 256  # a string field of the per-request line (model, route, ...)
BODIES_LOGGER: Final = "torouter.bodies"  # cut by body_log itself
REQUEST_LOGGER: Final = "torouter.request"  # written by the gateway from known fields

_CREDENTIAL: Final = re.compile(
    r"""(?ix)
    ( (?:authorization|proxy-authorization|x-api-key|x-goog-api-key|api[-_]?key|\bkey)
      ['"]? \s* [:=] \s* ['"]? (?:bearer\s+|basic\s+)? )   # a header, field or query parameter
    [^\s'",;&)\]}]+
    | (\bbearer\s+) [^\s'",;&)\]}]+                          # a Bearer token anywhere
    """
)


# the repr of raw bytes, as aiohttp's parser errors quote a request's line or header value (a key,
# possibly without its header's name: "Got more than 8190 bytes when reading: b'sk-...'")
_RAW_BYTES: Final = re.compile(r"\bb'(?:[^'\\]|\\.)*'" + r'|\bb"(?:[^"\\]|\\.)*"')


def redact(text: str) -> str:
    """``text`` with every credential-looking value, and every quoted raw byte string, replaced by
    ``[redacted]``."""
    text = _RAW_BYTES.sub("b'[redacted]'", text)
    return _CREDENTIAL.sub(lambda m: f"{m.group(1) or m.group(2)}[redacted]", text)


def _guarded(value: Any) -> Any:
    return cut(redact(value), MAX_LOGGED_CHARS) if isinstance(value, str) else value


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        trusted = record.name in (BODIES_LOGGER, REQUEST_LOGGER)
        message = record.getMessage()
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": message if trusted else _guarded(message),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED:
                entry[key] = value if trusted else _guarded(value)
        if record.exc_info:
            entry["exc"] = _guarded(self.formatException(record.exc_info))
        if record.name == REQUEST_LOGGER:
            capped(entry)
        return orjson.dumps(entry, default=str).decode()


def capped(entry: dict[str, Any]) -> dict[str, Any]:
    """The per-request line with its long strings cut (in place)."""
    for key, value in entry.items():
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            entry[key] = cut(value, MAX_FIELD_CHARS)
    return entry


RequestSink = Callable[[dict[str, Any]], None]


def logging_sink(entry: dict[str, Any]) -> None:
    """The per-request line through the logging module (tests, embedding)."""
    logging.getLogger(REQUEST_LOGGER).info("request", extra=entry)


def fd_sink(fd: int) -> RequestSink:
    """The per-request line written straight to a file descriptor, as one JSON object in the same
    shape JSONFormatter writes. The logging machinery costs ~60 µs a line; this costs ~15."""

    def write(entry: dict[str, Any]) -> None:
        line = {"ts": round(time.time(), 3), "level": "info", "logger": REQUEST_LOGGER, "msg": "request"}
        line.update(capped(entry))
        os.write(fd, orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE))

    return write


def json_handler(stream: IO[str]) -> logging.Handler:
    """A handler writing JSON lines (with :class:`JSONFormatter`'s guards) to ``stream``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    return handler


def setup_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process (aiohttp's own loggers included)."""
    root = logging.getLogger()
    root.handlers[:] = [json_handler(sys.stderr)]
    root.setLevel(level.upper())
    logging.getLogger("torouter").info("starting", extra={"service": service, "pid": os.getpid()})
