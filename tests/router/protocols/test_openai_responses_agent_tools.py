"""OpenAI Responses codec: what Codex sends a chat upstream — namespaced tools, ``additional_tools``
items, free-text (custom) tools, hosted tools and fields no chat upstream has — and how the calls
of those tools go back to it (a response object and a stream)."""

from __future__ import annotations

import json
from typing import Any

from test_openai_responses_streams import events_of, sdk_final

from support.openai_responses import assert_response_valid
from torouter.router.ir import (
    ChatResponse,
    Choice,
    Citation,
    CitationDelta,
    Finish,
    FinishReason,
    Message,
    StreamBatch,
    StreamStart,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    UsageReport,
    WebSearch,
    WebSearchDone,
)
from torouter.router.protocols.anthropic.messages import AnthropicMessagesCodec
from torouter.router.protocols.common import drop_hosted_tools
from torouter.router.protocols.gemini.generate import GeminiGenerateCodec
from torouter.router.protocols.openai.chat import OpenAIChatCodec
from torouter.router.protocols.openai.responses import Exchange, ResponsesCodec

SLEEP: dict[str, Any] = {
    "type": "function",
    "name": "sleep",
    "description": "Pause.",
    "strict": False,
    "parameters": {"type": "object", "properties": {"duration_ms": {"type": "number"}}},
}
EXEC: dict[str, Any] = {"type": "custom", "name": "exec", "description": "Run JavaScript."}
NAMESPACES: list[Any] = [
    {"type": "namespace", "name": "functions", "description": "", "tools": [EXEC]},
    {"type": "namespace", "name": "clock", "description": "Time.", "tools": [SLEEP]},
]
SHELL: dict[str, Any] = {
    "type": "function",
    "name": "exec_command",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
}
CODEX_FIELDS: dict[str, Any] = {
    "client_metadata": {"thread_id": "t-1", "x-codex-installation-id": "i-1"},
    "prompt_cache_key": "t-1",
    "include": ["reasoning.encrypted_content"],
    "reasoning": {"effort": "low", "context": "all_turns"},
    "text": {"verbosity": "low"},
    "store": False,
    "parallel_tool_calls": False,
    "tool_choice": "auto",
}


def codex_body(**fields: Any) -> dict[str, Any]:
    """A body shaped like Codex 0.169's with its newest default model: no ``tools``, an
    ``additional_tools`` item of namespaces, ids on its input messages."""
    return {
        "model": "claude-sonnet-4-5",
        "stream": True,
        "input": [
            {"type": "additional_tools", "id": "at_1", "role": "developer", "tools": NAMESPACES},
            {
                "type": "message",
                "id": "msg_1",
                "role": "developer",
                "content": [{"type": "input_text", "text": "Rules."}],
            },
            {
                "type": "message",
                "id": "msg_2",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hi"}],
            },
        ],
        **CODEX_FIELDS,
        **fields,
    }


def test_namespaces_and_additional_tools_are_flat_tools() -> None:
    request = ResponsesCodec().read_request(codex_body(tools=[SHELL]))
    assert [t.name for t in request.tools or []] == ["exec_command", "functions__exec", "clock__sleep"]
    assert [m.role for m in request.messages] == ["developer", "user"]  # the item is no turn
    for codec in (OpenAIChatCodec(), AnthropicMessagesCodec(), GeminiGenerateCodec()):
        request.model = "m"
        written = json.dumps(codec.write_request(request))
        assert "clock__sleep" in written and "functions__exec" in written
        assert "client_metadata" not in written and "prompt_cache_key" not in written
        assert "all_turns" not in written and "verbosity" not in written


def test_a_tool_offered_twice_is_offered_once() -> None:
    body = codex_body(tools=[NAMESPACES[1]])
    assert [t.name for t in ResponsesCodec().read_request(body).tools or []] == [
        "clock__sleep",
        "functions__exec",
    ]


def test_calls_of_namespaced_tools_read_back_under_their_flat_names() -> None:
    body = codex_body()
    body["input"] += [
        {"type": "function_call", "namespace": "clock", "name": "sleep", "call_id": "c1", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "slept"},
        {
            "type": "custom_tool_call",
            "namespace": "functions",
            "name": "exec",
            "call_id": "c2",
            "input": "1+1",
        },
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "2"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search"}},
        {"type": "tool_search_call", "arguments": {}, "execution": "client"},
    ]
    messages = ResponsesCodec().read_request(body).messages
    calls = [p for m in messages for p in m.parts if isinstance(p, ToolCall)]
    assert [(c.name, c.arguments) for c in calls] == [
        ("clock__sleep", "{}"),
        ("functions__exec", '{"input":"1+1"}'),
    ]
    results = [p for m in messages if m.role == "tool" for p in m.parts]
    assert [getattr(r, "name", None) for r in results] == ["clock__sleep", "functions__exec"]


def _answer(*calls: ToolCall) -> ChatResponse:
    message = Message("assistant", [TextPart("On it."), *calls])
    return ChatResponse(
        "r1", "claude-sonnet-4-5", 0, [Choice(0, message, FinishReason.TOOL_CALLS)], "x", Usage(5, 6)
    )


def test_calls_go_back_in_their_namespace_and_custom_calls_as_custom_tool_calls() -> None:
    body = codex_body(stream=False)
    codec = ResponsesCodec(Exchange.new(body))
    codec.read_request(body)
    response = codec.write_response(
        _answer(
            ToolCall("c1", "clock__sleep", '{"duration_ms":5}'),
            ToolCall("c2", "functions__exec", '{"input":"text(1)"}'),
        )
    )
    assert_response_valid(response)
    sleep, execute = response["output"][1:]
    assert (sleep["type"], sleep["namespace"], sleep["name"]) == ("function_call", "clock", "sleep")
    assert sleep["arguments"] == '{"duration_ms":5}'
    assert (execute["type"], execute["namespace"], execute["name"]) == (
        "custom_tool_call",
        "functions",
        "exec",
    )
    assert execute["input"] == "text(1)" and "arguments" not in execute


def test_a_tool_of_no_namespace_keeps_its_name() -> None:
    body = {"model": "m", "input": "x", "tools": [SHELL, {**EXEC, "name": "apply_patch"}]}
    codec = ResponsesCodec(Exchange.new(body))
    codec.read_request(body)
    output = codec.write_response(
        _answer(ToolCall("c1", "exec_command", '{"cmd":"ls"}'), ToolCall("c2", "apply_patch", "not json"))
    )["output"]
    assert output[1]["name"] == "exec_command" and "namespace" not in output[1]
    assert output[2]["type"] == "custom_tool_call" and output[2]["input"] == "not json"


def test_streamed_calls_in_their_namespace_and_custom_input_whole() -> None:
    body = codex_body()
    exchange = Exchange.new(body)
    codec = ResponsesCodec(exchange)
    request = codec.read_request(body)
    writer = codec.stream_writer(request)
    raw = writer.write(
        StreamBatch(
            [
                StreamStart("r1", "claude-sonnet-4-5", 0),
                ToolCallStart(0, "c1", "functions__exec"),
                ToolCallDelta(0, '{"input":"text('),
                ToolCallDelta(0, '1)"}'),
                ToolCallStart(1, "c2", "clock__sleep"),
                ToolCallDelta(1, '{"duration_ms":5}'),
                Finish(FinishReason.TOOL_CALLS),
                UsageReport(Usage(3, 4)),
            ],
            "anthropic",
        )
    )
    raw += writer.close()
    events = events_of(raw)
    kinds = [e["type"] for e in events]
    assert "response.function_call_arguments.delta" in kinds
    custom = [e for e in events if e["type"].startswith("response.custom_tool_call_input")]
    assert [(e["type"], e.get("delta", e.get("input"))) for e in custom] == [
        ("response.custom_tool_call_input.delta", "text(1)"),
        ("response.custom_tool_call_input.done", "text(1)"),
    ]
    added = [e["item"] for e in events if e["type"] == "response.output_item.added"]
    assert [(i["type"], i.get("namespace"), i["name"]) for i in added] == [
        ("custom_tool_call", "functions", "exec"),
        ("function_call", "clock", "sleep"),
    ]
    final = sdk_final(raw)
    assert [(o.type, getattr(o, "namespace", None)) for o in final.output] == [
        ("custom_tool_call", "functions"),
        ("function_call", "clock"),
    ]
    assert exchange.history_output[0]["input"] == "text(1)"


def test_hosted_tools_the_upstream_cannot_run_are_left_out() -> None:
    body = {
        "model": "m",
        "input": "Find it",
        "tools": [
            {"type": "web_search", "external_web_access": False},
            {"type": "image_generation"},
            SHELL,
        ],
        "tool_choice": "auto",
    }
    for codec, kept, dropped in [
        (OpenAIChatCodec(), ["exec_command"], ["web_search", "image_generation"]),
        (AnthropicMessagesCodec(), ["web_search", "exec_command"], ["image_generation"]),
        (GeminiGenerateCodec(), ["web_search", "exec_command"], ["image_generation"]),
    ]:
        request = ResponsesCodec().read_request(body)
        assert drop_hosted_tools(request, codec.hosted_tools) == dropped
        assert [t.name for t in request.tools or []] == kept
        codec.write_request(request)  # no 400
    only_hosted = ResponsesCodec().read_request({**body, "tools": [{"type": "image_generation"}]})
    assert drop_hosted_tools(only_hosted, OpenAIChatCodec().hosted_tools) == ["image_generation"]
    assert only_hosted.tools is None and only_hosted.tool_choice is None


# ---------------------------------------------------------------------------- web searches


def _anthropic_search_stream() -> bytes:
    events: list[Any] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-haiku-4-5",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        },
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {
                "type": "server_tool_use",
                "id": "srvtoolu_01a",
                "name": "web_search",
                "input": {},
            },
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"query": "oslo'},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": ' weather"}'},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {
                "type": "web_search_tool_result",
                "tool_use_id": "srvtoolu_01a",
                "content": [
                    {
                        "type": "web_search_result",
                        "url": "https://yr.no/oslo",
                        "title": "Oslo - Yr",
                        "encrypted_content": "x",
                        "page_age": None,
                    }
                ],
            },
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "text", "text": "Intro. ", "citations": None},
        },
        {"type": "content_block_stop", "index": 2},
        {
            "type": "content_block_start",
            "index": 3,
            "content_block": {"type": "text", "text": "", "citations": None},
        },
        {
            "type": "content_block_delta",
            "index": 3,
            "delta": {
                "type": "citations_delta",
                "citation": {
                    "type": "web_search_result_location",
                    "url": "https://yr.no/oslo",
                    "title": "Oslo - Yr",
                    "encrypted_index": "e",
                    "cited_text": "3°",
                },
            },
        },
        {"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "It is 3°C."}},
        {"type": "content_block_stop", "index": 3},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n" for e in events
    )


def test_an_anthropic_web_search_streams_as_a_web_search_call_and_a_cited_text() -> None:
    from torouter.router.protocols.sse import SSEParser

    reader = AnthropicMessagesCodec().stream_reader()
    batches = [b for e in SSEParser().feed(_anthropic_search_stream()) if (b := reader.feed(e)) is not None]
    found = [e for b in batches for e in b.events if isinstance(e, WebSearchDone | CitationDelta)]
    assert found == [
        WebSearchDone(WebSearch(["oslo weather"], [("https://yr.no/oslo", "Oslo - Yr")])),
        CitationDelta(Citation("https://yr.no/oslo", "Oslo - Yr")),
    ]
    body = {"model": "claude-haiku-4-5", "input": "x", "tools": [{"type": "web_search"}]}
    exchange = Exchange.new(body)
    codec = ResponsesCodec(exchange)
    writer = codec.stream_writer(codec.read_request(body))
    raw = b"".join(writer.write(b) for b in batches) + writer.close()
    events = events_of(raw)
    final = events[-1]["response"]
    search, message = final["output"]
    assert search["action"] == {
        "type": "search",
        "query": "oslo weather",
        "queries": ["oslo weather"],
        "sources": [{"type": "url", "url": "https://yr.no/oslo"}],
    }
    text = message["content"][0]
    assert text["text"] == "Intro. It is 3°C."
    assert text["annotations"] == [
        {
            "type": "url_citation",
            "start_index": 7,
            "end_index": 17,
            "url": "https://yr.no/oslo",
            "title": "Oslo - Yr",
        }
    ]
    assert sdk_final(raw).output[1].content[0].annotations[0].url == "https://yr.no/oslo"  # type: ignore[union-attr]


def test_other_writers_take_web_search_events_and_parts_in_their_stride() -> None:
    from torouter.router.protocols.anthropic.messages import AnthropicMessagesCodec as Anthropic

    events: list[Any] = [
        StreamStart("r1", "m", 0),
        WebSearchDone(WebSearch(["q"], [("https://a.example", "A")])),
        CitationDelta(Citation("https://a.example", "A")),
        TextDelta("cited"),
        CitationDelta(Citation("https://a.example", "A", 0, 5)),
        Finish(FinishReason.STOP),
        UsageReport(Usage(1, 1)),
    ]
    request = ResponsesCodec().read_request({"model": "m", "input": "x"})
    for codec in (OpenAIChatCodec(), Anthropic(), GeminiGenerateCodec()):
        writer = codec.stream_writer(request)
        raw = writer.write(StreamBatch(events, "test")) + writer.close()
        assert b"cited" in raw
        message = Message("assistant", [TextPart("cited", citations=[Citation("https://a.example", "A")])])
        message.searches = [WebSearch(["q"])]
        answer = ChatResponse("r1", "m", 0, [Choice(0, message, FinishReason.STOP)], "test", Usage(1, 1))
        assert "cited" in json.dumps(codec.write_response(answer))
