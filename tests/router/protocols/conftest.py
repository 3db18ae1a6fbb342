"""Fixtures for the codec tests."""

from __future__ import annotations

import pytest

from torouter.router.protocols.openai.chat import OpenAIChatCodec


@pytest.fixture
def codec() -> OpenAIChatCodec:
    return OpenAIChatCodec()
