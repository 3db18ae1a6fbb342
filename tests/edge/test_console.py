"""The console's files at /console: only with an admin key configured, versioned asset URLs cached
for good, the page revalidated, every module a page imports present, and nothing added for API
calls."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from torouter.edge.app import create_app
from torouter.edge.console_files import ConsoleFiles
from torouter.router.config import parse_config

ADMIN_KEY = "tr-admin-console-test-0123456789"
ASSETS = Path(__file__).resolve().parents[2] / "edge" / "console-assets"
_IMPORT = re.compile(r"""(?:from|import)\s+["'](\.{1,2}/[^"']+)["']""")


def config(**extra: Any) -> Any:
    raw = {
        "upstreams": {"echo": {"kind": "echo", "base_url": "http://127.0.0.1", "models": ["*"]}},
        "groups": {"demo": {"upstreams": ["echo"]}},
        **extra,
    }
    return parse_config(yaml.safe_dump(raw), env={})


async def client_for(cfg: Any) -> TestClient[Any, Any]:
    client = TestClient(TestServer(create_app(cfg)))
    await client.start_server()
    return client


@pytest.fixture
async def console() -> AsyncIterator[TestClient[Any, Any]]:
    client = await client_for(config(admin={"keys": [ADMIN_KEY]}))
    yield client
    await client.close()


async def test_no_admin_key_no_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOROUTER_ADMIN_KEY", raising=False)
    client = await client_for(config())
    try:
        version = ConsoleFiles.load().version
        for path in ("/console", "/console/", f"/console/assets/{version}/app.js"):
            response = await client.get(path, allow_redirects=False)
            assert response.status == 404, path
            assert "Unknown path" in (await response.json())["error"]["message"]  # OpenAI's format
    finally:
        await client.close()


async def test_the_environment_variable_alone_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOROUTER_ADMIN_KEY", ADMIN_KEY)
    client = await client_for(config())
    try:
        response = await client.get("/console/")
        assert response.status == 200
    finally:
        await client.close()


async def test_the_page_is_revalidated_and_names_versioned_assets(console: TestClient[Any, Any]) -> None:
    redirect = await console.get("/console", allow_redirects=False)
    assert redirect.status == 302
    assert redirect.headers["location"] == "/console/"

    page = await console.get("/console/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    html = await page.text()
    version = ConsoleFiles.load().version
    assert "{{assets}}" not in html
    assert f'src="/console/assets/{version}/app.js"' in html
    assert "http://" not in html and "https://" not in html  # no CDN: everything from this origin

    again = await console.get("/console/", headers={"if-none-match": page.headers["etag"]})
    assert again.status == 304
    assert await again.read() == b""


async def test_assets_are_immutable_under_their_version(console: TestClient[Any, Any]) -> None:
    files = ConsoleFiles.load()
    for path, asset in files.assets.items():
        response = await console.get(f"/console/assets/{files.version}/{path}")
        assert response.status == 200, path
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-type"] == asset.content_type
        assert await response.read() == (ASSETS / path).read_bytes()
        cached = await console.get(
            f"/console/assets/{files.version}/{path}", headers={"if-none-match": response.headers["etag"]}
        )
        assert cached.status == 304
    assert (await console.get("/console/assets/000000000000/app.js")).status == 404  # an old version
    assert (await console.get(f"/console/assets/{files.version}/missing.js")).status == 404
    assert (await console.get(f"/console/assets/{files.version}/../console.py")).status == 404


def test_the_version_changes_with_any_file(tmp_path: Path) -> None:
    for source in ASSETS.rglob("*"):
        target = tmp_path / source.relative_to(ASSETS)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    before = ConsoleFiles.load(tmp_path)
    assert before.version == ConsoleFiles.load().version
    (tmp_path / "pages" / "models.js").write_bytes(
        b"// changed\n" + (ASSETS / "pages" / "models.js").read_bytes()
    )
    assert ConsoleFiles.load(tmp_path).version != before.version


def test_every_module_import_resolves_to_a_served_file() -> None:
    files = ConsoleFiles.load()
    for path in [p for p in files.assets if p.endswith(".js")]:
        text = files.assets[path].body.decode()
        base = Path("/", path).parent
        for target in _IMPORT.findall(text):
            resolved = (base / target).resolve().relative_to("/").as_posix()
            assert resolved in files.assets, f"{path} imports {target}, which is not served"


def test_the_console_adds_no_middleware() -> None:
    with_console = create_app(config(admin={"keys": [ADMIN_KEY]}))
    without = create_app(config())
    assert list(with_console.middlewares) == list(without.middlewares)
