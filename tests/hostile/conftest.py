"""The hostile-input suite's gateway: passthrough and translated groups for each of the three
protocols, an image model, short slow-client limits (so that the slowloris tests take seconds),
and every log line the process writes while the suite runs collected, to be searched for the keys
the suite used (``test_logs_hold_no_key.py``)."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from support.anthropic_upstream import MockAnthropic
from support.gateway import Gateway
from support.gemini_upstream import MockGemini
from support.hostile import KEYS, HostileStack
from support.openai_images import IMAGE_MODELS
from support.openai_upstream import DEFAULT_MODELS, MockOpenAI
from support.stack import upstream_config
from torouter.router.logs import json_handler


@pytest.fixture(scope="package", autouse=True)
def collected_logs() -> Iterator[io.StringIO]:
    """Every log record of the process, at DEBUG, through the gateway's own JSON handler."""
    lines = io.StringIO()
    handler = json_handler(lines)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="package")
async def hostile() -> AsyncIterator[HostileStack]:
    async with (
        MockOpenAI(name="hostile", models=[*DEFAULT_MODELS, *IMAGE_MODELS]) as oai,
        MockAnthropic(name="hostile") as claude,
        MockGemini(name="hostile") as gemini,
    ):
        config = {
            "router": {"retries": 0},
            "edge": {
                "header_timeout_s": 1.0,
                "body_timeout_s": 1.0,
                "idle_timeout_s": 2.0,
                "max_pending_per_ip": 8,
            },
            "upstreams": {
                "oai": upstream_config("openai", oai),
                "claude": upstream_config("anthropic", claude),
                "gemini": upstream_config("gemini", gemini),
            },
            "groups": {"openai": {"upstreams": ["oai"]}, "claude": {"upstreams": ["claude"]}}
            | {"gemini": {"upstreams": ["gemini"]}},
            "keys": [{"name": f"{group}-key", "key": key, "group": group} for group, key in KEYS.items()],
        }
        async with Gateway(config, max_body_mb=4) as gateway:
            yield HostileStack(gateway, oai, claude, gemini)
