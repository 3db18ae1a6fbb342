"""LiteLLM, for ``run.py --compare-litellm``: installed on demand into its own venv, never the project's.

The venv lives under ``~/.cache/torouter-bench/litellm-<version>`` (``$XDG_CACHE_HOME`` when set)
and is reused when a previous install finished there; an install is built in a ``.venv``
folder and renamed only once it succeeded, so a half-done install is never reused.

LiteLLM's proxy is started with one worker and a config whose only model points at the benchmark's
mock upstream as an OpenAI-compatible base. It is kept off the network: ``LITELLM_OFFLINE_MODE``
and ``LITELLM_LOCAL_MODEL_COST_MAP`` stop the catalog downloads LiteLLM's docs list ("Outbound
Requests and Offline Mode"), telemetry is off in the config, and the HTTP(S) proxy variables point
at a closed loopback port (``NO_PROXY`` exempts loopback), so any other outbound HTTP call made
through a proxy-aware client fails at once instead of leaving the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_VERSION = "1.108.7"
VERSION_RE = re.compile(r"[0-9]+(\.[0-9]+)*([a-z]+[0-9]*)?(\.post[0-9]+)?")
INSTALL_TIMEOUT_S = 1200.0
STAMP = ".torouter-bench-installed"
# Nothing listens on the discard port: a call that tries to leave through a proxy is refused at once.
BLACKHOLE_PROXY = "http://127.0.0.1:9"


class LiteLLMUnavailable(Exception):
    """LiteLLM could not be installed (the message says why)."""


@dataclass(frozen=True)
class LiteLLMInstall:
    version: str
    venv: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "litellm"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "torouter-bench"


def base_interpreter() -> str:
    """The interpreter this benchmark's Python was made from (a venv's base): LiteLLM's venv is
    made from the same one, so that both gateways run on the same CPython build."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def _made_from(venv: Path) -> str | None:
    try:
        text = (venv / "pyvenv.cfg").read_text()
    except OSError:
        return None
    match = re.search(r"^executable\s*=\s*(.+)$", text, re.M)
    return os.path.realpath(match.group(1).strip()) if match else None


def _installed(venv: Path) -> str | None:
    """The version recorded by a finished install in ``venv``, or None (also when the venv was
    made from another interpreter than this benchmark's: it is installed again)."""
    try:
        version = (venv / STAMP).read_text().strip()
    except OSError:
        return None
    if _made_from(venv) != base_interpreter():
        return None
    return version if (venv / "bin" / "litellm").exists() else None


def _pip_env() -> dict[str, str]:
    # The project's Makefile constrains its own installs to its lock: not this one.
    drop = {"PIP_CONSTRAINT", "PIP_REQUIRE_VIRTUALENV", "PYTHONPATH", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(argv: list[str], log: Path, timeout: float) -> None:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=_pip_env(), timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise LiteLLMUnavailable(f"{argv[0]} did not finish within {timeout:.0f}s (log: {log})") from exc
        except OSError as exc:
            raise LiteLLMUnavailable(f"cannot run {argv[0]}: {exc}") from exc
    if proc.returncode != 0:
        lines = log.read_text(errors="replace").rsplit("\n$ ", 1)[-1].splitlines()[1:]  # this command's
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:]
        what = " ".join(a for a in argv[1:] if not a.startswith("-") and "/" not in a)
        raise LiteLLMUnavailable(
            f"`{what}` failed (code {proc.returncode}): {' '.join(errors)[-300:]} (log: {log})"
        )


def _install_into(venv: Path, requirement: str, log: Path) -> str:
    """A fresh venv at ``venv`` (scripts there name their interpreter by path: it cannot move)."""
    shutil.rmtree(venv, ignore_errors=True)
    _run([base_interpreter(), "-m", "venv", str(venv)], log, 120.0)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "install", "--quiet", requirement], log, INSTALL_TIMEOUT_S)
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    version = out.stdout.strip()
    if out.returncode != 0 or not version:
        raise LiteLLMUnavailable(f"litellm installed but its version cannot be read: {out.stderr[-400:]}")
    return version


def ensure_litellm(version: str, say: Callable[[str], None] = print) -> LiteLLMInstall:
    """The LiteLLM install for ``version``, installing it (with the proxy extra) when missing.

    When ``version`` cannot be found on the package index, the newest version pip can install is
    installed instead (into ``litellm-newest``, reused afterwards) and said so. Raises
    ``LiteLLMUnavailable`` with the reason otherwise.
    """
    if not VERSION_RE.fullmatch(version):
        raise LiteLLMUnavailable(f"{version!r} is not a version number (such as {DEFAULT_VERSION})")
    root = cache_root()
    venv = root / f"litellm-{version}"
    if _installed(venv) == version:
        return LiteLLMInstall(version, venv)
    root.mkdir(parents=True, exist_ok=True)
    log = root / f"install-{version}.log"
    log.write_text("")
    say(f"installing litellm[proxy]=={version} into {venv} (log: {log}) ...")
    try:
        got = _install_into(venv, f"litellm[proxy]=={version}", log)
    except LiteLLMUnavailable as exc:
        shutil.rmtree(venv, ignore_errors=True)
        if "No matching distribution" not in str(exc):
            raise
        newest = root / "litellm-newest"
        earlier = _installed(newest)
        if earlier:
            say(f"litellm {version} is not on the package index here: using {earlier}, installed earlier")
            return LiteLLMInstall(earlier, newest)
        say(f"litellm {version} is not on the package index here: installing the newest instead")
        try:
            got = _install_into(newest, "litellm[proxy]", log)
        except LiteLLMUnavailable:
            shutil.rmtree(newest, ignore_errors=True)
            raise
        (newest / STAMP).write_text(got + "\n")
        return LiteLLMInstall(got, newest)
    (venv / STAMP).write_text(got + "\n")
    return LiteLLMInstall(got, venv)


def write_config(workdir: Path, mock_port: int, model: str, upstream_key: str, master_key: str) -> Path:
    """LiteLLM's proxy config: one model, the mock upstream as an OpenAI-compatible base."""

    def q(value: str) -> str:
        return json.dumps(value)

    text = f"""\
# written by bench/run.py --compare-litellm
model_list:
  - model_name: {q(model)}
    litellm_params:
      model: {q("openai/" + model)}
      api_base: {q(f"http://127.0.0.1:{mock_port}/v1")}
      api_key: {q(upstream_key)}
litellm_settings:
  telemetry: false
general_settings:
  master_key: {q(master_key)}
"""
    path = workdir / "litellm.yaml"
    path.write_text(text)
    return path


def proxy_argv(install: LiteLLMInstall, config: Path, port: int) -> list[str]:
    return [
        str(install.command),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]


def proxy_env() -> dict[str, str]:
    """Environment additions that keep LiteLLM's proxy off the network."""
    return {
        "LITELLM_OFFLINE_MODE": "true",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
        "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
        "DO_NOT_TRACK": "1",
        "HTTP_PROXY": BLACKHOLE_PROXY,
        "HTTPS_PROXY": BLACKHOLE_PROXY,
        "http_proxy": BLACKHOLE_PROXY,
        "https_proxy": BLACKHOLE_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
