from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from torouter.router.errors import GatewayError
from torouter.router.operations import body_bytes
from torouter.router.operations.body_bytes import (
    last_event_end,
    last_event_start,
    parse_json_object,
    replace_model,
)
from torouter.router.protocols.openai.stream_usage import OpenAIStreamUsage


def test_replace_model_edits_bytes_in_place() -> None:
    raw = b'{\n  "model" :  "gpt-5",\n  "messages": [{"role": "user", "content": "model gpt-5"}]\n}'
    out = replace_model(raw, orjson.loads(raw), "gpt-5-mini")
    assert out == raw.replace(b'"model" :  "gpt-5"', b'"model":"gpt-5-mini"')


def test_replace_model_re_encodes_when_the_value_is_ambiguous() -> None:
    raw = b'{"model":"x","tools":[{"function":{"parameters":{"model":"x"}}}]}'
    body = orjson.loads(raw)
    out = orjson.loads(replace_model(raw, body, "y"))
    assert out["model"] == "y" and out["tools"][0]["function"]["parameters"]["model"] == "x"


def test_parse_json_object_rejects_what_is_not_an_object() -> None:
    assert parse_json_object(b'{"a": 1}') == {"a": 1}
    for raw in (b"[]", b"nul", b"", b'"s"'):
        with pytest.raises(GatewayError):
            parse_json_object(raw)


@pytest.mark.parametrize(
    ("data", "end", "start"),
    [
        (b"data: 1\n\ndata: 2\n\n", 18, 9),
        (b"data: 1\r\n\r\ndata: 2\r\n\r\n", 22, 11),
        (b"data: 1\n\ndata: 2", 9, 0),
        (b"data: 1", 0, 0),
    ],
)
def test_event_bounds(data: bytes, end: int, start: int) -> None:
    assert last_event_end(data) == end
    assert last_event_start(data[:end]) == start


@pytest.mark.parametrize("marked", [False, True], ids=["split", "marker"])
def test_drop_events_keeps_the_others_whole(marked: bool) -> None:
    usage = OpenAIStreamUsage()
    marker = usage.marker if marked else b""

    def drop_events(block: bytes, unwanted: Callable[[bytes], object]) -> bytes:
        return body_bytes.drop_events(block, unwanted, marker)

    text = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
    usage_only = b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":1,"total_tokens":2}}\n\n'
    done = b"data: [DONE]\n\n"
    assert drop_events(text + usage_only + done, usage.usage_only) == text + done
    assert drop_events(usage_only.replace(b"\n\n", b"\r\n\r\n"), usage.usage_only) == b""
    assert drop_events(b": comment\n\n" + text, usage.usage_only) == b": comment\n\n" + text
    quoted = b'data: {"choices":[{"delta":{"content":"\\"choices\\":[] \\"usage\\":{"}}]}\n\n'
    assert drop_events(quoted, usage.usage_only) == quoted  # only the real thing is dropped
    two = usage_only + text + usage_only.replace(b"\n\n", b"\r\n\r\n") + done
    assert drop_events(two, usage.usage_only) == text + done
    assert drop_events(text + done, usage.usage_only) == text + done
    assert usage.ask({"stream": True}) == {"stream": True, "stream_options": {"include_usage": True}}
    assert usage.ask({"stream_options": {"include_usage": True}}) is None
    assert usage.ask({"stream_options": {"include_obfuscation": False}}) == {
        "stream_options": {"include_obfuscation": False, "include_usage": True}
    }
