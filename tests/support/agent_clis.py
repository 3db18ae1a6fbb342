"""The coding-agent CLIs (Claude Code, Codex, Gemini CLI) run against the gateway, as a user would.

The CLIs come from npm (``tests/agents/package.json``, installed by ``make agent-clis``). Each is
set up from the README's own blocks (``<!-- tested: NAME -->`` before a fenced block), with the
README's ``http://127.0.0.1:8080`` and ``$TOROUTER_KEY`` replaced by the test gateway's address
and key: what the README says is what runs. Every run gets a fresh ``HOME`` (and ``TMPDIR``) in a
temporary folder, a working folder, a time limit, and — where ``strace`` is installed — a record
of every address the CLI and its children connect or send to, of which none may be outside
127.0.0.0/8 (:func:`outside_loopback`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
AGENTS: Final = ROOT / "tests" / "agents"
BIN: Final = AGENTS / "node_modules" / ".bin"
README_URL: Final = "http://127.0.0.1:8080"
_BLOCK: Final = re.compile(r"<!-- tested: ([\w-]+) -->\n```\w*\n(.*?)```", re.DOTALL)
_EXPORT: Final = re.compile(r"^export (\w+)=(\S+)", re.MULTILINE)
_ADDRESS: Final = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6?, "([^"]+)"')


def readme_blocks() -> dict[str, str]:
    """The README's tested blocks by name."""
    return dict(_BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")))


def filled(text: str, base_url: str, key: str) -> str:
    return text.replace(README_URL, base_url).replace("$TOROUTER_KEY", key)


def exports(block: str) -> dict[str, str]:
    """The variables a README ``sh`` block exports."""
    return dict(_EXPORT.findall(block))


def missing(cli: str) -> str | None:
    """Why ``cli`` cannot run here (None when it can)."""
    if shutil.which("node") is None:
        return "node is not installed (the agent CLIs run on it)"
    if not (BIN / cli).exists():
        return f"{cli} is not installed: `make agent-clis` installs the agent CLIs (needs npm)"
    return None


@dataclass
class Run:
    """What one CLI run did."""

    returncode: int
    stdout: str
    stderr: str
    addresses: list[str] = field(default_factory=list)  # every address connected or sent to

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def outside_loopback(addresses: list[str]) -> list[str]:
    return [a for a in addresses if not (a.startswith("127.") or a in ("::1", "::ffff:127.0.0.1"))]


@dataclass
class Agent:
    """One CLI set up for one gateway key, in its own home and working folders."""

    cli: str  # "claude" | "codex" | "gemini"
    base_url: str
    key: str
    home: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def prepared(cls, cli: str, base_url: str, key: str, tmp: Path) -> Agent:
        home, workdir = tmp / "home", tmp / "work"
        (tmp / "tmp").mkdir(parents=True)
        workdir.mkdir(parents=True)
        home.mkdir(parents=True)
        node = shutil.which("node")
        path = os.pathsep.join(dict.fromkeys([str(Path(node).parent) if node else "", "/usr/bin", "/bin"]))
        env = {"PATH": path, "HOME": str(home), "TMPDIR": str(tmp / "tmp"), "LANG": "C.UTF-8"}
        blocks = readme_blocks()
        if cli == "claude":
            env.update(exports(filled(blocks["claude-env"], base_url, key)))
        elif cli == "codex":
            codex_home = home / ".codex"
            codex_home.mkdir()
            (codex_home / "config.toml").write_text(filled(blocks["codex-config"], base_url, key))
            env.update(CODEX_HOME=str(codex_home), TOROUTER_KEY=key)
        else:
            settings = home / ".gemini" / "settings.json"
            settings.parent.mkdir()
            settings.write_text(json.dumps(json.loads(blocks["gemini-settings"])))
            env.update(exports(filled(blocks["gemini-env"], base_url, key)))
            env["GEMINI_CLI_TRUST_WORKSPACE"] = "true"  # no terminal: the README says so
        return cls(cli, base_url, key, home, workdir, env)

    def command(self, prompt: str, model: str | None) -> list[str]:
        """The command of a one-shot run of ``prompt`` (its tools allowed without asking)."""
        exe = str(BIN / self.cli)
        chosen = [] if model is None else ["--model", model]
        if self.cli == "claude":
            return [exe, "-p", prompt, *chosen, "--allowedTools", "Read", "--output-format", "text"]
        if self.cli == "codex":
            return [exe, "exec", "--skip-git-repo-check", *chosen, prompt]
        return [exe, "-p", prompt, *chosen, "--yolo"]

    async def run(self, prompt: str, model: str | None = None, timeout_s: float = 90.0) -> Run:
        command = self.command(prompt, model)
        trace = self.home.parent / "connect.trace"
        strace = shutil.which("strace")
        if strace is not None:
            watch = "trace=connect,sendto,sendmsg,sendmmsg"
            command = [strace, "-f", "-qq", "-e", watch, "-o", str(trace), *command]
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=self.workdir,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout ends the CLI's children too
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout_s)
        except TimeoutError:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = await process.communicate()
            tail = f"{out.decode(errors='replace')[-2000:]}\n{err.decode(errors='replace')[-2000:]}"
            raise AssertionError(f"{self.cli} did not finish within {timeout_s}s:\n{tail}") from None
        addresses: list[str] = []
        if trace.exists():
            text = trace.read_text(errors="replace")
            addresses = [a or b for a, b in _ADDRESS.findall(text)]
        code = process.returncode if process.returncode is not None else -1
        return Run(code, out.decode(errors="replace"), err.decode(errors="replace"), addresses)
