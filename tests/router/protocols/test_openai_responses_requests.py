"""OpenAI Responses codec: CreateResponse bodies read into the neutral form (and written back for a
Responses upstream), input items as listed, and the 400s that name the offending field."""

from __future__ import annotations

from typing import Any

import pytest

from support.openai_responses import create_response_errors
from support.schemas import validate
from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.ir import (
    ChatRequest,
    FilePart,
    ImagePart,
    Message,
    Reasoning,
    ReasoningPart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from torouter.router.protocols.anthropic.messages import AnthropicMessagesCodec
from torouter.router.protocols.openai.chat import OpenAIChatCodec
from torouter.router.protocols.openai.responses import DIALECT, ResponsesCodec, listed_items
from torouter.router.protocols.openai.responses.ids import CALL_SIGNATURE, seal, unseal

WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}
PNG = "iVBORw0KGgo="


def read(**body: Any) -> ChatRequest:
    return ResponsesCodec().read_request({"model": "m", **body})


def refused(param: str, **body: Any) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        read(**body)
    assert caught.value.code is ErrorCode.INVALID_REQUEST and caught.value.status == 400
    assert caught.value.param == param, caught.value.message
    return caught.value


def test_a_string_input_and_instructions() -> None:
    request = read(input="Hello", instructions="Be brief.", stream=True, max_output_tokens=100)
    assert request.dialect == DIALECT and request.stream and request.max_output_tokens == 100
    assert request.messages == [
        Message("system", [TextPart("Be brief.")], as_text=True),
        Message("user", [TextPart("Hello")], as_text=True),
    ]


def test_messages_and_parts() -> None:
    request = read(
        input=[
            {"role": "developer", "content": "Rules."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}", "detail": "low"},
                    {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "auto"},
                    {
                        "type": "input_file",
                        "filename": "a.pdf",
                        "file_data": "data:application/pdf;base64,JVBE",
                    },
                    {"type": "input_file", "file_url": "https://example.com/b.pdf"},
                ],
            },
        ]
    )
    developer, user = request.messages
    assert developer == Message("developer", [TextPart("Rules.")], as_text=True)
    assert user.parts == [
        TextPart("Look"),
        ImagePart(data_b64=PNG, media_type="image/png", detail="low"),
        ImagePart(url="https://example.com/cat.jpg", detail="auto"),
        FilePart(data_b64="JVBE", media_type="application/pdf", filename="a.pdf"),
        FilePart(url="https://example.com/b.pdf"),
    ]


def test_assistant_items_in_a_row_are_one_turn_and_results_know_their_function() -> None:
    summary = [{"type": "summary_text", "text": "Think"}]
    said = [{"type": "output_text", "text": "Checking.", "annotations": []}]
    request = read(
        input=[
            {"role": "user", "content": "Weather?"},
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": summary,
                "encrypted_content": seal("sig-1", "anthropic"),
            },
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": said},
            {
                "type": "function_call",
                "call_id": "call_1",
                "name": "get_weather",
                "arguments": '{"city":"Oslo"}',
            },
            {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"}
            | {CALL_SIGNATURE: seal("g-sig", "gemini")},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "noon"}],
            },
        ]
    )
    user, assistant, first, second = request.messages
    assert user.role == "user"
    assert assistant.parts == [
        ReasoningPart("Think", signature="sig-1", signer="anthropic"),
        TextPart("Checking."),
        ToolCall("call_1", "get_weather", '{"city":"Oslo"}'),
        ToolCall("call_2", "get_time", "{}", signature="g-sig"),
    ]
    assert assistant.parts[0].signer == "anthropic"  # type: ignore[union-attr]
    assert assistant.parts[3].signer == "gemini"  # type: ignore[union-attr]
    assert first.parts == [ToolResult("call_1", [TextPart("sunny")], name="get_weather", as_text=True)]
    assert second.parts == [ToolResult("call_2", [TextPart("noon")], name="get_time")]


def test_reasoning_of_another_origin() -> None:
    request = read(
        input=[
            {"role": "user", "content": "Hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-openai-own"},
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "Hmm"}],
                "encrypted_content": "gAAAA",
            },
            {"type": "message", "role": "assistant", "content": "Hello"},
        ]
    )
    assistant = request.messages[1]
    # nothing usable in the first; the second keeps its text (unsigned) and the opaque original
    assert assistant.parts == [ReasoningPart("Hmm", extra={"encrypted_content": "gAAAA"}), TextPart("Hello")]


def test_tools_choice_format_reasoning_and_user() -> None:
    request = read(
        input="x",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
        text={"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        reasoning={"effort": "low", "summary": "auto"},
        temperature=0.2,
        top_p=0.9,
        safety_identifier="user-9",
        metadata={"a": "b"},
        store=False,
    )
    assert request.tools == [Tool("get_weather", "Weather for a city", WEATHER["parameters"], True)]
    assert request.tool_choice == ToolChoice("tool", name="get_weather")
    assert request.parallel_tool_calls is False
    assert request.response_format == ResponseFormat("json_schema", "out", {"type": "object"}, True)
    assert request.reasoning == Reasoning("low", include_thoughts=True)
    assert (request.temperature, request.top_p, request.user) == (0.2, 0.9, "user-9")
    assert request.metadata is None and request.extra["metadata"] == {
        "a": "b"
    }  # the gateway's, not the upstream's
    assert request.extra["store"] is False
    only = [{"type": "function", "name": "get_weather"}]
    allowed = read(
        input="x", tools=[WEATHER], tool_choice={"type": "allowed_tools", "mode": "required", "tools": only}
    )
    assert allowed.tool_choice == ToolChoice("required", allowed=["get_weather"])
    assert read(input="x", text={"format": {"type": "json_object"}}).response_format == ResponseFormat(
        "json_object"
    )
    assert read(input="x", text={"format": {"type": "text"}}).response_format is None


def test_tool_choice_travels_only_with_tools() -> None:
    request = read(input="x", tools=[], tool_choice="auto", parallel_tool_calls=True)
    assert request.tools is None and request.tool_choice is None and request.parallel_tool_calls is None
    body = OpenAIChatCodec().write_request(request)
    assert "tool_choice" not in body and "parallel_tool_calls" not in body


def test_builtin_tools_are_refused_by_writers_whose_upstream_cannot_run_them() -> None:
    request = read(input="Search", tools=[{"type": "web_search"}, WEATHER])
    assert request.tools is not None and request.tools[0].builtin == "web_search"
    with pytest.raises(GatewayError) as caught:
        OpenAIChatCodec().write_request(request)
    assert caught.value.param == "tools[0]" and "web_search" in caught.value.message
    interpreter = read(input="Run", tools=[{"type": "code_interpreter", "container": {"type": "auto"}}])
    with pytest.raises(GatewayError) as caught:
        AnthropicMessagesCodec().write_request(interpreter)
    assert caught.value.param == "tools[0]" and "code_interpreter" in caught.value.message
    refused("tool_choice.type", input="x", tools=[WEATHER], tool_choice={"type": "file_search"})


@pytest.mark.parametrize(
    ("param", "body"),
    [
        ("model", {"model": ""}),
        ("input", {"input": 3}),
        ("input", {}),
        ("input", {"input": [], "instructions": "only"}),
        ("input[0].role", {"input": [{"role": "tool", "content": "x"}]}),
        (
            "input[0].content[0].type",
            {"input": [{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]},
        ),
        ("input[0].content[0].text", {"input": [{"role": "user", "content": [{"type": "input_text"}]}]}),
        (
            "input[0].content[0].file_id",
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
        ),
        ("input[0].call_id", {"input": [{"type": "function_call_output", "output": "x"}]}),
        ("input[0].type", {"input": [{"type": "computer_call", "id": "cu_1"}]}),
        ("input[0].id", {"input": [{"type": "item_reference", "id": "msg_1"}]}),
        ("tools[0].name", {"input": "x", "tools": [{"type": "function"}]}),
        ("tool_choice", {"input": "x", "tool_choice": "sometimes"}),
        ("text.format.type", {"input": "x", "text": {"format": {"type": "yaml"}}}),
        ("text.format.schema", {"input": "x", "text": {"format": {"type": "json_schema", "name": "n"}}}),
        ("reasoning.effort", {"input": "x", "reasoning": {"effort": "huge"}}),
        ("metadata.k", {"input": "x", "metadata": {"k": 1}}),
        ("temperature", {"input": "x", "temperature": "hot"}),
        ("background", {"input": "x", "background": True}),
        ("conversation", {"input": "x", "conversation": "conv_1"}),
        ("prompt", {"input": "x", "prompt": {"id": "pmpt_1"}}),
        ("store", {"input": "x", "store": "yes"}),
    ],
)
def test_malformed_requests_name_the_field(param: str, body: dict[str, Any]) -> None:
    refused(param, **body)


def test_items_as_listed_validate_as_item_resources() -> None:
    items: list[Any] = [
        {"role": "user", "content": "Hi"},
        {"role": "developer", "content": [{"type": "input_text", "text": "Rules"}], "phase": "commentary"},
        {"role": "assistant", "content": "Hello", "phase": "final_answer"},
        {"role": "user", "content": [{"type": "input_image", "image_url": "https://x.test/a.png"}]},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "f",
            "arguments": "{}",
            CALL_SIGNATURE: "torouter.v1.x",
        },
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        {"type": "reasoning", "summary": []},
    ]
    listed = listed_items(items)
    assert [i["id"][: i["id"].index("_")] for i in listed] == ["msg", "msg", "msg", "msg", "fc", "fco", "rs"]
    assert listed[0]["content"] == [{"type": "input_text", "text": "Hi"}]
    assert listed[2]["content"] == [
        {"type": "output_text", "text": "Hello", "annotations": [], "logprobs": []}
    ]
    assert CALL_SIGNATURE not in listed[4] and "phase" not in listed[1]
    page = {"object": "list", "data": listed, "first_id": "a", "last_id": "b", "has_more": False}
    validate("openai", "ResponseItemList", page, closed=True)
    assert items[0] == {"role": "user", "content": "Hi"}  # the caller's items are left alone


def test_envelopes() -> None:
    sealed = unseal(seal("sig", "anthropic", "redacted"))
    assert sealed is not None and (sealed.signature, sealed.signer, sealed.redacted_data) == (
        "sig",
        "anthropic",
        "redacted",
    )
    assert seal(None, "gemini") is None
    assert unseal("gAAAA-openai") is None and unseal("torouter.v1.!!!") is None and unseal(None) is None


def test_written_for_a_responses_upstream() -> None:
    request = ChatRequest(
        "gpt-5",
        [
            Message("system", [TextPart("Be brief.")]),
            Message("user", [TextPart("Weather?"), ImagePart(data_b64=PNG, media_type="image/png")]),
            Message(
                "assistant",
                [
                    ReasoningPart("t", signature="s", signer="anthropic"),
                    TextPart("Checking."),
                    ToolCall("c1", "get_weather", "{}"),
                ],
            ),
            Message("tool", [ToolResult("c1", [TextPart("sunny")])]),
        ],
        dialect="anthropic",
        stream=True,
        max_output_tokens=200,
        tools=[Tool("get_weather", "w", {"type": "object"})],
        tool_choice=ToolChoice("tool", name="get_weather"),
        response_format=ResponseFormat("json_schema", "out", {"type": "object"}),
        reasoning=Reasoning("high"),
        user="u1",
    )
    body = ResponsesCodec().write_request(request)
    assert create_response_errors(body, closed=True) == []
    assert body["instructions"] == "Be brief." and body["store"] is False and body["stream"] is True
    assert [i.get("type") for i in body["input"]] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
    ]
    assert body["input"][1] == {"type": "message", "role": "assistant", "content": "Checking."}
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert body["reasoning"] == {"effort": "high"} and body["safety_identifier"] == "u1"
    again = ResponsesCodec().read_request(body)
    assert again.messages[1].parts[0] == TextPart("Weather?") and again.max_output_tokens == 200
