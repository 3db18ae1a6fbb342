from __future__ import annotations

from torouter.router.ir import ChatRequest, ImagePart, Message, TextPart, Tool, ToolCall
from torouter.router.operations.token_count import estimate_input_tokens


def test_estimate_grows_with_what_the_model_reads() -> None:
    base = ChatRequest("m", [Message("user", [TextPart("x" * 400)])], "anthropic")
    assert estimate_input_tokens(base) == 4 + 100
    with_image = ChatRequest(
        "m", [Message("user", [TextPart("x" * 400), ImagePart(url="https://i")])], "anthropic"
    )
    assert estimate_input_tokens(with_image) == 4 + 100 + 1000
    with_tools = ChatRequest(
        "m",
        [
            Message("user", [TextPart("x" * 400)]),
            Message("assistant", [ToolCall("t1", "lookup", '{"q":"abcd"}')]),
        ],
        "anthropic",
        tools=[Tool("lookup", "Looks things up", {"type": "object"})],
    )
    assert estimate_input_tokens(with_tools) > estimate_input_tokens(base) + 4
