"""`torouter up` with the built-in default says where the console is, and it is there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

# the fixture lives in test_cli (pytest's rootdir-relative imports: see test_usage_cli)
from test_cli import printed_line, up_default  # noqa: F401


@pytest.mark.slow
def test_the_default_prints_the_console_and_serves_it(
    up_default: tuple[subprocess.Popen[str], str, str],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    process, base, _ = up_default
    url = printed_line(process, "console:").split("console:", 1)[1].split()[0]
    assert url == f"{base}/console"
    page = httpx.get(url, follow_redirects=True)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "ToRouter console" in page.text
