"""The console's files (``console-assets/`` inside the package), read once when the edge app is
built. Their URLs carry a version (a digest of every file), so an asset can be cached for good while
the page that names them is revalidated on each load: a new version is picked up at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

MOUNT = "/console"
ASSET_FOLDER = "console-assets"
INDEX = "index.html"
ASSETS_MARK = "{{assets}}"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


@dataclass(slots=True, frozen=True)
class ConsoleFile:
    body: bytes
    content_type: str
    etag: str


def _file(body: bytes, content_type: str) -> ConsoleFile:
    return ConsoleFile(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


@dataclass(slots=True, frozen=True)
class ConsoleFiles:
    """The page, and the assets by path under one version."""

    index: ConsoleFile
    assets: dict[str, ConsoleFile]
    version: str

    @property
    def assets_url(self) -> str:
        return f"{MOUNT}/assets/{self.version}"

    @classmethod
    def load(cls, folder: Traversable | None = None) -> ConsoleFiles:
        root = folder if folder is not None else resources.files("torouter.edge") / ASSET_FOLDER
        found: dict[str, bytes] = {}
        _collect(root, "", found)
        if INDEX not in found:
            raise FileNotFoundError(f"the console's {INDEX} is missing from {root}")
        digest = hashlib.sha256()
        for path in sorted(found):
            digest.update(path.encode() + b"\0" + found[path] + b"\0")
        version = digest.hexdigest()[:12]
        page = found.pop(INDEX).replace(ASSETS_MARK.encode(), f"{MOUNT}/assets/{version}".encode())
        assets = {path: _file(body, _content_type(path)) for path, body in found.items()}
        return cls(_file(page, CONTENT_TYPES[".html"]), assets, version)


def _content_type(path: str) -> str:
    suffix = path[path.rfind(".") :]
    return CONTENT_TYPES.get(suffix, "application/octet-stream")


def _collect(folder: Traversable, prefix: str, found: dict[str, bytes]) -> None:
    for entry in folder.iterdir():
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            _collect(entry, f"{prefix}{entry.name}/", found)
        elif _content_type(entry.name) != "application/octet-stream":
            found[prefix + entry.name] = entry.read_bytes()
