"""The console (CONTRACT §8): a static web app served by the edge at ``/console`` when an admin key
is configured (404 otherwise, like the admin API it runs on). Nothing here runs for API calls: the
console adds routes, no middleware.
"""

from __future__ import annotations

from aiohttp import web

from . import app_keys
from .console_files import MOUNT, ConsoleFile, ConsoleFiles

# Only this origin's own files and API: no CDN, no inline script, no framing.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def _answer(request: web.Request, file: ConsoleFile, cache_control: str) -> web.Response:
    headers = {**SECURITY_HEADERS, "cache-control": cache_control, "etag": file.etag}
    if file.etag in request.headers.get("if-none-match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=file.body, headers={**headers, "content-type": file.content_type})


async def _redirect(request: web.Request) -> web.StreamResponse:
    return web.Response(status=302, headers={"location": f"{MOUNT}/"})


async def _page(request: web.Request) -> web.StreamResponse:
    return _answer(request, request.app[app_keys.CONSOLE].index, REVALIDATE)


async def _asset(request: web.Request) -> web.StreamResponse:
    files = request.app[app_keys.CONSOLE]
    found = files.assets.get(request.match_info["path"])
    if found is None or request.match_info["version"] != files.version:
        raise web.HTTPNotFound()
    return _answer(request, found, IMMUTABLE)


def add_console_routes(app: web.Application, files: ConsoleFiles) -> None:
    """Serves the console; call it only when an admin key is configured."""
    app[app_keys.CONSOLE] = files
    app.router.add_get(MOUNT, _redirect)
    app.router.add_get(f"{MOUNT}/", _page)
    app.router.add_get(MOUNT + "/assets/{version}/{path:.+}", _asset)
