"""OpenAI Chat Completions codec: streams read from an upstream and relayed in the same dialect.

A relay must give back the upstream's frames; a broken chunk or an in-stream error becomes one
``StreamFailure``.
"""

from __future__ import annotations

from typing import Any

import pytest
from openai_chat_helpers import (
    CHUNK,
    FIXTURE,
    LOGPROBS,
    accumulate,
    chunks_of,
    frames,
    read_all,
    sse,
    stream_request,
    write_all,
)

from support.schemas import validate_all
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    Finish,
    FinishReason,
    ReasoningDelta,
    RoleStart,
    StreamBatch,
    StreamEvent,
    StreamFailure,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
)
from torouter.router.protocols.openai.chat import OpenAIChatStreamReader, OpenAIChatStreamWriter
from torouter.router.protocols.sse import SSEEvent

CALL_A, CALL_B = "call_Hq2VxK7cTm1pR4sJ", "call_7bYw0LzQe3NdVu8A"


def test_recorded_stream_relays_frame_for_frame() -> None:
    batches, reader = read_all(FIXTURE)
    assert reader.finished
    out, per_batch = write_all(batches, stream_request())
    assert len(per_batch) == len(batches) == 13
    assert all(len(frames(b)) == 1 for b in per_batch)
    assert frames(out) == frames(FIXTURE)
    validate_all("openai", CHUNK, chunks_of(out), closed=True)


def test_recorded_stream_events() -> None:
    batches, _ = read_all(FIXTURE)
    events = [b.events for b in batches]
    assert events == [
        [
            StreamStart("chatcmpl-CZq1x7TfWkR2mB9Lh0aYc3", "gpt-4.1-2025-04-14", 1767225600),
            RoleStart(),
            TextDelta(""),
        ],
        [TextDelta("Let me")],
        [TextDelta(" check both")],
        [TextDelta(" cities.")],
        [ToolCallStart(0, CALL_A, "get_weather"), ToolCallDelta(0, "")],
        [ToolCallDelta(0, '{"ci')],
        [ToolCallDelta(0, 'ty": "Ber')],
        [ToolCallDelta(0, 'gen", "unit": "c"}')],
        [ToolCallStart(1, CALL_B, "get_weather"), ToolCallDelta(1, "")],
        [ToolCallDelta(1, '{"city": "O')],
        [ToolCallDelta(1, 'slo", "unit": "c"}')],
        [Finish(FinishReason.TOOL_CALLS)],
        [
            UsageReport(
                Usage(
                    412,
                    58,
                    cache_read_tokens=256,
                    reasoning_tokens=0,
                    total_tokens=470,
                    extra={
                        "prompt_tokens_details": {"audio_tokens": 0},
                        "completion_tokens_details": {
                            "audio_tokens": 0,
                            "accepted_prediction_tokens": 0,
                            "rejected_prediction_tokens": 0,
                        },
                    },
                )
            )
        ],
    ]
    assert batches[0].extra == {
        "service_tier": "default",
        "system_fingerprint": "fp_51e1070cf2",
        "obfuscation": "Xy7q",
        "usage": None,
        "choices": [{"index": 0, "logprobs": None, "delta": {"refusal": None}, "finish_reason": None}],
    }
    assert all(b.dialect == "openai" for b in batches)


def test_caller_without_include_usage_gets_no_usage() -> None:
    batches, _ = read_all(FIXTURE)
    out, per_batch = write_all(batches, stream_request(include_usage=False))
    assert per_batch[-1] == b""
    written = chunks_of(out)
    assert len(written) == 12
    assert all("usage" not in c for c in written)
    expected = [{k: v for k, v in c.items() if k != "usage"} for c in chunks_of(FIXTURE)[:-1]]
    assert written == expected


def _chunk(choices: list[Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-9f8e",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": "upstream-model",
        "choices": choices,
        **fields,
    }


def _choice(
    delta: dict[str, Any], finish: str | None = None, index: int = 0, **fields: Any
) -> dict[str, Any]:
    return {"index": index, "delta": delta, **fields, "finish_reason": finish}


NATIVE_STREAMS: dict[str, list[dict[str, Any]]] = {
    # DeepSeek / vLLM style: reasoning deltas, whole arguments in the first fragment, usage on
    # the finishing chunk, provider-specific usage fields.
    "compat_provider": [
        _chunk([_choice({"role": "assistant", "content": None, "reasoning_content": ""}, logprobs=None)]),
        _chunk([_choice({"content": None, "reasoning_content": "User wants"}, logprobs=None)]),
        _chunk([_choice({"content": None, "reasoning_content": " the weather."}, logprobs=None)]),
        _chunk(
            [
                _choice(
                    {
                        "content": None,
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_00_xyz",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                            }
                        ],
                    },
                    logprobs=None,
                )
            ]
        ),
        _chunk(
            [_choice({"content": ""}, "tool_calls", logprobs=None)],
            usage={
                "prompt_tokens": 20,
                "completion_tokens": 30,
                "total_tokens": 50,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 12},
                "prompt_cache_hit_tokens": 0,
                "prompt_cache_miss_tokens": 20,
            },
        ),
    ],
    # Two fragments of one call in one chunk, a first fragment without arguments, and a
    # fragment field the neutral form does not know (Gemini's thought signature).
    "fragment_shapes": [
        _chunk(
            [
                _choice(
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "a", "arguments": ""},
                            },
                            {"index": 0, "function": {"arguments": "{}"}},
                        ],
                    }
                )
            ]
        ),
        _chunk(
            [
                _choice(
                    {
                        "tool_calls": [
                            {"index": 1, "id": "call_2", "type": "function", "function": {"name": "b"}}
                        ]
                    }
                )
            ]
        ),
        _chunk(
            [
                _choice(
                    {
                        "tool_calls": [
                            {
                                "index": 1,
                                "function": {"arguments": '{"x": 1}'},
                                "extra_content": {"google": {"thought_signature": "c2ln"}},
                            }
                        ]
                    }
                )
            ]
        ),
        _chunk([_choice({}, "tool_calls")]),
    ],
    "two_choices_with_logprobs": [
        _chunk(
            [
                _choice({"role": "assistant", "content": ""}, logprobs={"content": [], "refusal": None}),
                _choice(
                    {"role": "assistant", "content": ""}, index=1, logprobs={"content": [], "refusal": None}
                ),
            ]
        ),
        _chunk([_choice({"content": "Hi"}, logprobs=LOGPROBS)]),
        _chunk([_choice({"content": "Hello"}, index=1, logprobs=LOGPROBS)]),
        _chunk([_choice({}, "stop", logprobs=None), _choice({}, "length", index=1, logprobs=None)]),
    ],
    "refusal": [
        _chunk([_choice({"role": "assistant", "content": None, "refusal": ""})]),
        _chunk([_choice({"refusal": "I can't"})]),
        _chunk([_choice({"refusal": " help with that."})]),
        _chunk([_choice({}, "content_filter")]),
    ],
    "legacy_function_call": [
        _chunk(
            [_choice({"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": ""}})]
        ),
        _chunk([_choice({"function_call": {"arguments": "{}"}})]),
        _chunk([_choice({}, "function_call")]),
    ],
    # Azure sends a prompt-filter chunk without identity first, and filter results per choice.
    "azure_filters": [
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [
                {
                    "prompt_index": 0,
                    "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
                }
            ],
        },
        _chunk([_choice({"role": "assistant", "content": ""})]),
        _chunk([_choice({"content": "Hi"}, content_filter_results={"hate": {"filtered": False}})]),
        _chunk([_choice({}, "stop")]),
    ],
    "identity_changes": [
        _chunk([_choice({"role": "assistant", "content": "a"})]),
        {**_chunk([_choice({"content": "b"})]), "model": "upstream-model-v2", "created": 1767225601},
        _chunk([_choice({}, "stop", native_finish_reason="eos")]),
    ],
    # A name alone first, a fragment with nothing, a repeated name, and a key the codec does not know.
    "legacy_function_call_shapes": [
        _chunk([_choice({"role": "assistant", "content": None, "function_call": {"name": "f"}})]),
        _chunk([_choice({"function_call": {"arguments": '{"a"', "x_part": 1}})]),
        _chunk([_choice({"function_call": {}})]),
        _chunk([_choice({"function_call": {"name": "f", "arguments": ": 1}"}})]),
        _chunk([_choice({"function_call": None, "tool_calls": None}, "function_call")]),
    ],
    # Nulls where lenient upstreams send them, and a choice without ``finish_reason``.
    "nulls": [
        _chunk([_choice({"role": "assistant", "content": ""})]),
        _chunk(None),
        _chunk([{"index": 0, "delta": None, "finish_reason": None}]),
        _chunk([{"index": 0, "delta": {"content": "Hi"}}]),
        _chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
    ],
    # A free-form (custom) tool call: its input streams under ``custom``.
    "custom_tool_call": [
        _chunk(
            [
                _choice(
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_sql1",
                                "type": "custom",
                                "custom": {"name": "run_sql", "input": ""},
                            }
                        ],
                    }
                )
            ]
        ),
        _chunk([_choice({"tool_calls": [{"index": 0, "custom": {"input": "SELECT count(*)"}}]})]),
        _chunk([_choice({"tool_calls": [{"index": 0, "custom": {"input": " FROM orders"}}]})]),
        _chunk([_choice({}, "tool_calls")]),
    ],
}
SPEC_VALID_STREAMS = ("fragment_shapes", "two_choices_with_logprobs", "refusal", "legacy_function_call")


@pytest.mark.parametrize("name", list(NATIVE_STREAMS))
def test_same_dialect_stream_round_trip(name: str) -> None:
    raw = sse(*NATIVE_STREAMS[name])
    batches, reader = read_all(raw)
    assert reader.finished and len(batches) == len(NATIVE_STREAMS[name])
    out, _ = write_all(batches, stream_request())
    assert frames(out) == frames(raw)
    if name in SPEC_VALID_STREAMS:
        validate_all("openai", CHUNK, chunks_of(out))


def test_compat_stream_events() -> None:
    batches, _ = read_all(sse(*NATIVE_STREAMS["compat_provider"]))
    assert batches[0].events[1:] == [RoleStart(), ReasoningDelta("")]
    assert batches[3].events == [
        ToolCallStart(0, "call_00_xyz", "get_weather"),
        ToolCallDelta(0, '{"city": "Oslo"}'),
    ]
    assert batches[4].events[:2] == [TextDelta(""), Finish(FinishReason.TOOL_CALLS)]
    report = batches[4].events[2]
    assert isinstance(report, UsageReport) and report.usage.reasoning_tokens == 12
    assert report.usage.extra == {"prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 20}
    # Without include_usage the finishing chunk stays, minus its usage.
    out, _ = write_all(batches, stream_request(include_usage=False))
    assert (
        "usage" not in chunks_of(out)[-1]
        and chunks_of(out)[-1]["choices"][0]["finish_reason"] == "tool_calls"
    )


def _tool_events(batches: list[StreamBatch]) -> list[StreamEvent]:
    return [e for b in batches for e in b.events if isinstance(e, ToolCallStart | ToolCallDelta | Finish)]


def test_legacy_function_call_deltas_become_tool_call_events() -> None:
    """A streamed ``function_call`` is a tool call that other protocols can relay."""
    batches, _ = read_all(sse(*NATIVE_STREAMS["legacy_function_call"]))
    assert _tool_events(batches) == [
        ToolCallStart(0, "call_fn_0", "f"),
        ToolCallDelta(0, ""),
        ToolCallDelta(0, "{}"),
        Finish(FinishReason.TOOL_CALLS),
    ]
    batches, _ = read_all(sse(*NATIVE_STREAMS["legacy_function_call_shapes"]))
    assert _tool_events(batches) == [
        ToolCallStart(0, "call_fn_0", "f"),
        ToolCallDelta(0, '{"a"'),
        ToolCallDelta(0, ": 1}"),
        Finish(FinishReason.TOOL_CALLS),
    ]
    foreign = [StreamBatch(b.events, "test") for b in batches]
    out, _ = write_all(foreign, stream_request(include_usage=False))
    validate_all("openai", CHUNK, chunks_of(out), closed=True)
    calls = accumulate(out).choices[0].message.tool_calls or []
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in calls] == [
        ("call_fn_0", "function", "f", '{"a": 1}')
    ]


def test_custom_tool_call_deltas() -> None:
    batches, _ = read_all(sse(*NATIVE_STREAMS["custom_tool_call"]))
    assert _tool_events(batches) == [
        ToolCallStart(0, "call_sql1", "run_sql"),
        ToolCallDelta(0, ""),
        ToolCallDelta(0, "SELECT count(*)"),
        ToolCallDelta(0, " FROM orders"),
        Finish(FinishReason.TOOL_CALLS),
    ]


def test_null_choices_and_delta_stay_null() -> None:
    batches, _ = read_all(sse(*NATIVE_STREAMS["nulls"]))
    assert [b.events for b in batches[1:4]] == [[], [], [TextDelta("Hi")]]
    assert batches[1].extra["choices"] is None
    assert batches[2].extra["choices"] == [{"index": 0, "delta": None, "finish_reason": None}]


def test_reader_normalises_broken_tool_call_indexes() -> None:
    """Some providers repeat the id on every fragment, or reuse index 0 for parallel calls."""
    raw = sse(
        _chunk([_choice({"role": "assistant", "tool_calls": [_frag(0, "c1", "a", "{")]})]),
        _chunk([_choice({"tool_calls": [_frag(0, "c1", "a", "}")]})]),
        _chunk([_choice({"tool_calls": [_frag(0, "c2", "b", "{}")]})]),
        _chunk([_choice({}, "tool_calls")]),
    )
    batches, _ = read_all(raw)
    assert [e for b in batches for e in b.events if isinstance(e, ToolCallStart | ToolCallDelta)] == [
        ToolCallStart(0, "c1", "a"),
        ToolCallDelta(0, "{"),
        ToolCallDelta(0, "}"),
        ToolCallStart(1, "c2", "b"),
        ToolCallDelta(1, "{}"),
    ]
    out, _ = write_all(batches, stream_request(include_usage=False))
    final = accumulate(out)
    calls = final.choices[0].message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("c1", "a", "{}"),
        ("c2", "b", "{}"),
    ]


def _frag(index: int, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


# ---------------------------------------------------------------------------- reader failures


def _feed(data: str, event: str | None = None) -> tuple[StreamBatch | None, OpenAIChatStreamReader]:
    reader = OpenAIChatStreamReader()
    return reader.feed(SSEEvent(event, data)), reader


@pytest.mark.parametrize(
    ("data", "event", "status", "code", "message"),
    [
        (
            '{"error":{"message":"The server had an error while processing your request.",'
            '"type":"server_error","param":null,"code":null}}',
            None,
            502,
            "upstream_error",
            "The server had an error while processing your request.",
        ),
        (
            '{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":429}}',
            None,
            429,
            "rate_limited",
            "Rate limit reached",
        ),
        ('{"message":"Overloaded","status":503}', "error", 503, "upstream_overloaded", "Overloaded"),
        ('{"error":"boom"}', None, 502, "upstream_error", "The upstream reported an error"),
        ("{not json", None, 502, "upstream_error", "not valid JSON"),
        ("[1, 2]", None, 502, "upstream_error", "not a JSON object"),
        ("42", None, 502, "upstream_error", "not a JSON object"),
        (
            '{"id":"x","choices":[{"index":0,"delta":{"content":5}}]}',
            None,
            502,
            "upstream_error",
            "choices[0].delta.content",
        ),
        ('{"id":5,"choices":[]}', None, 502, "upstream_error", "'id'"),
        (
            '{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":"f"}]}}]}',
            None,
            502,
            "upstream_error",
            "choices[0].delta.tool_calls[0].function",
        ),
        (
            '{"id":"x","choices":[],"usage":{"prompt_tokens":"1"}}',
            None,
            502,
            "upstream_error",
            "usage.prompt_tokens",
        ),
    ],
)
def test_reader_turns_failures_into_a_stream_failure(
    data: str, event: str | None, status: int, code: str, message: str
) -> None:
    batch, reader = _feed(data, event)
    assert batch is not None and len(batch.events) == 1
    failure = batch.events[0]
    assert isinstance(failure, StreamFailure)
    assert (failure.status, failure.code) == (status, code)
    assert message in failure.message
    assert reader.finished
    assert reader.feed(SSEEvent(None, '{"id":"y","choices":[]}')) is None


def test_reader_done_and_keepalives() -> None:
    reader = OpenAIChatStreamReader()
    assert reader.feed(SSEEvent(None, "")) is None
    assert not reader.finished
    assert reader.feed(SSEEvent(None, "[DONE]")) is None
    assert reader.finished
    assert reader.feed(SSEEvent(None, '{"id":"late","choices":[]}')) is None


def test_upstream_error_object_is_relayed_as_it_came() -> None:
    error = {"message": "Context too long", "type": "invalid_request_error", "param": None, "code": "x"}
    raw = sse(_chunk([_choice({"role": "assistant", "content": "Hi"})]), {"error": error}, done=False)
    batches, _ = read_all(raw)
    writer = OpenAIChatStreamWriter(stream_request())
    out = b"".join(writer.write(b) for b in batches)
    assert frames(out)[-1] == {"error": error}
    assert writer.close() == b"" and writer.fail(GatewayError(ErrorCode.INTERNAL, "x")) == b""
