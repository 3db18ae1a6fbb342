"""The `torouter` command as a user runs it: check, keys, and `up` with the built-in default."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from support.gateway import free_port

ROOT = Path(__file__).resolve().parents[2]


def torouter(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "torouter.cli.main", *args],
        env=env or os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(body)
    return path


GOOD = """
router: {state: "sqlite:///%s/state.db"}
upstreams:
  echo: {kind: echo, base_url: "http://127.0.0.1", models: ["*"]}
groups:
  demo: {upstreams: [echo]}
keys:
  - {name: static, key: "${STATIC_KEY:-static-secret}", group: demo}
"""


def test_check_accepts_a_good_config(tmp_path: Path) -> None:
    result = torouter("check", "--config", str(write_config(tmp_path, GOOD % tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "ok (1 upstreams, 1 groups, 1 keys)" in result.stdout


def test_check_reports_every_problem_with_its_path(tmp_path: Path) -> None:
    bad = (
        (GOOD % tmp_path)
        .replace("kind: echo", "kind: nosuch, timeout_s: fast")
        .replace("group: demo", "group: x")
    )
    result = torouter("check", "--config", str(write_config(tmp_path, bad)))
    assert result.returncode == 1
    assert "upstreams.echo.timeout_s: must be a number" in result.stdout
    assert "keys[0].group: unknown group 'x'" in result.stdout
    bad_kind = (GOOD % tmp_path).replace("kind: echo", "kind: nosuch")
    result = torouter("check", "--config", str(write_config(tmp_path, bad_kind)))
    assert result.returncode == 1 and "upstreams.echo.kind: unknown kind 'nosuch'" in result.stdout


def test_check_needs_a_config() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TOROUTER_CONFIG"}
    result = torouter("check", env=env)
    assert result.returncode != 0 and "--config" in result.stderr


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    config = str(write_config(tmp_path, GOOD % tmp_path))
    created = torouter("keys", "create", "--group", "demo", "--name", "ci", "--rpm", "60", "--config", config)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("tr-") and len(secret) > 30

    listed = torouter("keys", "list", "--config", config)
    assert "ci" in listed.stdout and "demo" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout  # never secrets

    assert torouter("keys", "create", "--group", "demo", "--name", "ci", "--config", config).returncode == 1
    assert torouter("keys", "create", "--group", "nope", "--config", config).returncode == 1
    assert torouter("keys", "revoke", "ci", "--config", config).returncode == 0
    assert "revoked" in torouter("keys", "list", "--config", config).stdout
    assert torouter("keys", "revoke", "ghost", "--config", config).returncode == 1


@pytest.fixture
def up_default(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """`torouter up` with no config and no provider key: the echo default on free ports."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and k not in ("TOROUTER_CONFIG", "TOROUTER_KEY")
    }
    env["TOROUTER_HOME"] = str(tmp_path / "home")
    edge_port = free_port()
    env["TOROUTER_DEFAULT_LISTEN"] = f"127.0.0.1:{edge_port}"  # the router: up's own Unix socket
    env.pop("TOROUTER_DEFAULT_ROUTER", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "torouter.cli.main", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    key = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.strip().startswith("key:"):
            key = line.split("key:", 1)[1].strip()
            break
    assert key, "".join(lines)
    try:
        yield process, f"http://127.0.0.1:{edge_port}", key
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def printed_line(process: subprocess.Popen[str], marker: str) -> str:
    """The next line ``torouter up`` prints that holds ``marker``."""
    assert process.stdout is not None
    line = ""
    while marker not in line:
        line = process.stdout.readline()
        assert line, f"torouter up printed no {marker!r}"
    return line


@pytest.mark.slow
def test_up_with_no_config_serves_echo_and_stops_cleanly(
    up_default: tuple[subprocess.Popen[str], str, str], tmp_path: Path
) -> None:
    process, base, key = up_default
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    reply = client.chat.completions.create(
        model="gpt-5", messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.choices[0].message.content == "hello there"
    chunks = list(
        client.chat.completions.create(
            model="anything", messages=[{"role": "user", "content": "one two three"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    claude_style = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0).messages.create(
        model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "hi from anthropic"}]
    )
    assert claude_style.content[0].type == "text" and claude_style.content[0].text == "hi from anthropic"
    assert httpx.get(f"{base}/readyz").status_code == 200
    assert (tmp_path / "home" / "default.key").read_text().strip() == key  # generated and kept

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz")


def test_keys_take_every_restriction_and_name_bad_ones(tmp_path: Path) -> None:
    config = str(write_config(tmp_path, GOOD % tmp_path))
    created = torouter(
        "keys", "create", "--group", "demo", "--name", "team", "--rpm", "60", "--spend-cap-usd", "25",
        "--requests-5h", "100", "--requests-24h", "500", "--requests-7d", "2000", "--expires-in-days", "30",
        "--ip-allow", "10.0.0.0/8", "--ip-allow", "2001:db8::/32", "--ip-deny", "10.9.0.0/16",
        "--models", "gpt-5,claude-sonnet-4-5", "--config", config,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    listed = torouter("keys", "list", "--config", config).stdout
    row = next(line for line in listed.splitlines() if line.startswith("team"))
    assert f"{secret[:7]}…{secret[-4:]}" in row and secret not in listed
    assert "$0.00/$25" in row and "requests_5h=100" in row and "ip_allow=10.0.0.0/8,2001:db8::/32" in row
    assert "models=gpt-5,claude-sonnet-4-5" in row and "expires_at=20" in row

    updated = torouter(
        "keys", "update", "team", "--requests-5h", "0", "--clear", "ip_allow", "--spend-cap-usd", "30",
        "--config", config,
    )  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    row = next(
        line for line in torouter("keys", "list", "--config", config).stdout.splitlines() if "team" in line
    )
    assert (
        "requests_5h" not in row and "ip_allow" not in row and "$30" in row and "ip_deny=10.9.0.0/16" in row
    )

    for bad, said in (
        (("--ip-allow", "10.0.0.0/33"), "--ip-allow: ip_allow[0]"),
        (("--spend-cap-usd", "-1"), "--spend-cap-usd: spend_cap_usd: must not be negative"),
        (("--expires-at", "2020-01-01T00:00:00Z"), "--expires-at: expires_at: is in the past"),
    ):
        refused = torouter("keys", "create", "--group", "demo", *bad, "--config", config)
        assert refused.returncode == 1 and said in refused.stderr, refused.stderr
    assert "only team" not in listed  # nothing half-written: still just the two keys
    names = [line.split()[0] for line in torouter("keys", "list", "--config", config).stdout.splitlines()[1:]]
    assert names == ["static", "team"]
    static = torouter("keys", "update", "static", "--rpm", "5", "--config", config)
    assert static.returncode == 1 and "config file" in static.stderr


def test_keys_with_the_state_store_down_say_so(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = write_config(
        tmp_path, (GOOD % tmp_path).replace(f"sqlite:///{tmp_path}/state.db", f"redis://127.0.0.1:{port}/0")
    )
    result = torouter("keys", "create", "--group", "demo", "--config", str(config))
    assert result.returncode == 1
    assert "torouter keys: The gateway's state store is unavailable; retry shortly. (redis)" in result.stderr
    assert "Traceback" not in result.stderr
