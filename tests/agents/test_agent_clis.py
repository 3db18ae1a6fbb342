"""Claude Code, Codex and Gemini CLI, from npm, against groups backed by OpenAI, Anthropic and Gemini.

For each CLI and each kind of upstream (the protocol-faithful mocks): a one-turn prompt, and a
tool round trip in which the mock asks the CLI to run one of its own tools (Claude Code ``Read``,
Codex ``exec_command`` — through its JavaScript ``exec`` tool with its newest default model —,
Gemini CLI ``read_file``) on a file holding a fresh token, and answers once the result came back:
the token reaching the CLI's final answer proves the whole loop. Each with the CLI's own default
model (an id in no upstream's list, served by its family) and with an explicit one. The CLIs run
as the README sets them up, with a fresh HOME, and (where strace is installed) connect to nothing
outside 127.0.0.0/8.

36 runs of 1 to 6 s each; a run has 90 s at most. Skipped, with the reason, when node or the CLIs
are not installed (``make agent-clis`` installs them with npm).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.agent_clis import Agent, missing, outside_loopback
from support.anthropic_upstream import MockAnthropic
from support.gateway import Gateway
from support.gemini_upstream import MockGemini
from support.mock_server import AgentScript, MockServer
from support.openai_upstream import MockOpenAI

pytestmark = pytest.mark.agents

KINDS = ("openai", "anthropic", "gemini")
# An explicit model each CLI is often run with (served exactly by its own vendor's group, by its
# family elsewhere).
EXPLICIT = {"claude": "claude-sonnet-4-5", "codex": "gpt-5", "gemini": "gemini-2.5-flash"}
# Codex's newest models offer only code mode: a JavaScript ``exec`` tool whose script calls
# ``exec_command`` (Codex runs both); its other models offer ``exec_command`` itself.
CODEX_SCRIPT = "const r = await tools.exec_command({cmd: 'cat hello.txt'}); text(r);"


@dataclass
class Upstreams:
    gateway: Gateway
    mocks: dict[str, MockServer]

    def key(self, kind: str) -> str:
        return f"tr-agents-{kind}"


@pytest.fixture(scope="module")
async def upstreams() -> AsyncIterator[Upstreams]:
    async with (
        MockOpenAI(name="agents-oai") as openai,
        MockAnthropic(name="agents-claude") as anthropic,
        MockGemini(name="agents-gemini") as gemini,
    ):
        mocks: dict[str, MockServer] = {"openai": openai, "anthropic": anthropic, "gemini": gemini}
        config: dict[str, Any] = {
            "router": {"retries": 0},
            "upstreams": {
                kind: {"kind": kind, "base_url": m.base_url, "api_key": m.api_key, "models": list(m.models)}
                for kind, m in (("openai", openai), ("anthropic", anthropic), ("gemini", gemini))
            },
            "groups": {kind: {"upstreams": [kind]} for kind in KINDS},
            "keys": [{"name": kind, "key": f"tr-agents-{kind}", "group": kind} for kind in KINDS],
        }
        async with Gateway(config, max_body_mb=32) as gateway:
            yield Upstreams(gateway, mocks)


def _script(cli: str, path: Path) -> AgentScript:
    if cli == "claude":
        return AgentScript({"Read": {"file_path": str(path)}})
    if cli == "codex":
        return AgentScript({"exec_command": {"cmd": f"cat {path.name}"}, "exec": {"input": CODEX_SCRIPT}})
    return AgentScript({"read_file": {"file_path": str(path)}})


def _chat_requests(mock: MockServer) -> list[Any]:
    return [r for r in mock.requests if r.method == "POST" and "count_tokens" not in r.path]


@pytest.mark.parametrize("model", ["default", "explicit"])
@pytest.mark.parametrize("turn", ["prompt", "tool"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("cli", ["claude", "codex", "gemini"])
async def test_agent_cli(
    upstreams: Upstreams, tmp_path: Path, cli: str, kind: str, turn: str, model: str
) -> None:
    reason = missing(cli)
    if reason is not None:
        pytest.skip(reason)
    mock = upstreams.mocks[kind]
    mock.reset()
    agent = Agent.prepared(cli, upstreams.gateway.base_url, upstreams.key(kind), tmp_path)
    token = f"PELICAN-{secrets.token_hex(4)}"
    if turn == "tool":
        target = agent.workdir / "hello.txt"
        target.write_text(f"{token}\n")
        mock.agent_script = _script(cli, target)
        prompt = "Read hello.txt and tell me what it says."
    else:
        mock.agent_script = AgentScript({})  # a text answer to every request
        prompt = f"Say the word {token}."
    run = await agent.run(prompt, EXPLICIT[cli] if model == "explicit" else None)
    assert run.returncode == 0, run.output[-3000:]
    requests = _chat_requests(mock)
    assert requests, f"{cli} reached no {kind} upstream:\n{run.output[-3000:]}"
    assert all(r.status == 200 for r in requests), [(r.path, r.status, r.response_json) for r in requests]
    if turn == "tool":
        assert "Mock reply to tool results" in run.stdout and token in run.stdout, run.output[-3000:]
        assert any(token.encode() in r.body for r in requests)  # the tool's result went up
    else:
        assert "Mock reply to" in run.stdout and token in run.stdout, run.output[-3000:]
    assert not outside_loopback(run.addresses), sorted(set(run.addresses))
