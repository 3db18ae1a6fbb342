"""Gemini generateContent codec: malformed request bodies are a 400 naming the offending field."""

from __future__ import annotations

from typing import Any

import pytest
from gemini_helpers import body, codec

from torouter.router.errors import ErrorCode, GatewayError
from torouter.router.protocols.gemini.errors import GeminiErrors


def _model(*parts: Any) -> dict[str, Any]:
    return {"role": "model", "parts": list(parts)}


def _user(*parts: Any) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


CASES: list[tuple[dict[str, Any], str, str]] = [
    ({}, "contents", "Missing required parameter"),
    ({"contents": {}}, "contents", "expected an array"),
    ({"contents": []}, "contents", "at least one content"),
    (body("hi"), "contents[0]", "expected an object"),
    (body({"role": "system", "parts": []}), "contents[0].role", "Supported values are"),
    (body({"role": "user", "parts": {}}), "contents[0].parts", "expected an array"),
    (body(_user({"text": 7})), "contents[0].parts[0].text", "expected a string"),
    (
        body(_user({"text": "a", "inlineData": {"mimeType": "image/png", "data": "x"}})),
        "contents[0].parts[0]",
        "one kind",
    ),
    (body(_user({"text": "a", "thought": "yes"})), "contents[0].parts[0].thought", "expected a boolean"),
    (body(_user({"text": "a", "thoughtSignature": 1})), "contents[0].parts[0].thoughtSignature", "a string"),
    (body(_user({"inlineData": {"data": "x"}})), "contents[0].parts[0].inlineData.mimeType", "Missing"),
    (body(_user({"inlineData": "x"})), "contents[0].parts[0].inlineData", "expected an object"),
    (
        body(_user({"fileData": {"mimeType": "image/png"}})),
        "contents[0].parts[0].fileData.fileUri",
        "Missing",
    ),
    (body(_model({"functionCall": {"args": {}}})), "contents[0].parts[0].functionCall.name", "Missing"),
    (
        body(_model({"functionCall": {"name": "f", "args": "{}"}})),
        "contents[0].parts[0].functionCall.args",
        "an object",
    ),
    (
        body(_model({"functionCall": {"name": "f", "id": 3}})),
        "contents[0].parts[0].functionCall.id",
        "a string",
    ),
    (
        body(_user({"functionResponse": {"name": "f"}})),
        "contents[0].parts[0].functionResponse.response",
        "Missing",
    ),
    (
        body(_user({"functionResponse": {"name": "f", "response": "ok"}})),
        "contents[0].parts[0].functionResponse.response",
        "an object",
    ),
    (body(systemInstruction="Be terse."), "systemInstruction", "expected an object"),
    (
        body(systemInstruction={"parts": [{"inlineData": {"mimeType": "image/png", "data": "x"}}]}),
        "systemInstruction.parts[0]",
        "text only",
    ),
    (body(tools={}), "tools", "expected an array"),
    (body(tools=[{"functionDeclarations": {}}]), "tools[0].functionDeclarations", "an array"),
    (
        body(tools=[{"functionDeclarations": [{"description": "d"}]}]),
        "tools[0].functionDeclarations[0].name",
        "Missing",
    ),
    (
        body(tools=[{"functionDeclarations": [{"name": "f", "parameters": {}, "parametersJsonSchema": {}}]}]),
        "tools[0].functionDeclarations[0].parametersJsonSchema",
        "mutually exclusive",
    ),
    (
        body(tools=[{"functionDeclarations": [{"name": "f", "parameters": {"type": "DICT"}}]}]),
        "tools[0].functionDeclarations[0].parameters.type",
        "Supported values are",
    ),
    (
        body(
            tools=[
                {"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": []}}]}
            ]
        ),
        "tools[0].functionDeclarations[0].parameters.properties",
        "an object",
    ),
    (
        body(
            tools=[
                {"functionDeclarations": [{"name": "f", "parameters": {"type": "ARRAY", "maxItems": "many"}}]}
            ]
        ),
        "tools[0].functionDeclarations[0].parameters.maxItems",
        "an integer",
    ),
    (
        body(tools=[{"functionDeclarations": [{"name": "f", "parametersJsonSchema": True}]}]),
        "tools[0].functionDeclarations[0].parametersJsonSchema",
        "an object",
    ),
    (body(tools=[{"googleSearch": "on"}]), "tools[0].googleSearch", "an object"),
    (
        body(toolConfig={"functionCallingConfig": {"mode": "SOMETIMES"}}),
        "toolConfig.functionCallingConfig.mode",
        "Supported",
    ),
    (
        body(toolConfig={"functionCallingConfig": {"allowedFunctionNames": "f"}}),
        "toolConfig.functionCallingConfig.allowedFunctionNames",
        "an array",
    ),
    (body(generationConfig=[]), "generationConfig", "expected an object"),
    (body(generationConfig={"temperature": "hot"}), "generationConfig.temperature", "a number"),
    (body(generationConfig={"topK": 40.5}), "generationConfig.topK", "an integer"),
    (body(generationConfig={"maxOutputTokens": True}), "generationConfig.maxOutputTokens", "an integer"),
    (body(generationConfig={"stopSequences": "END"}), "generationConfig.stopSequences", "array of strings"),
    (body(generationConfig={"candidateCount": "two"}), "generationConfig.candidateCount", "an integer"),
    (
        body(generationConfig={"responseSchema": {"type": "STRING"}, "responseJsonSchema": {}}),
        "generationConfig.responseJsonSchema",
        "mutually exclusive",
    ),
    (
        body(generationConfig={"thinkingConfig": {"thinkingLevel": "EXTREME"}}),
        "generationConfig.thinkingConfig.thinkingLevel",
        "Supported",
    ),
    (
        body(generationConfig={"thinkingConfig": {"includeThoughts": 1}}),
        "generationConfig.thinkingConfig.includeThoughts",
        "a boolean",
    ),
    (
        body(safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT"}]),
        "safetySettings[0].threshold",
        "Missing",
    ),
    (body(cachedContent=7), "cachedContent", "a string"),
    (body(labels={"team": 1}), "labels.team", "a string"),
    (body(model=["gemini"]), "model", "a string"),
    (
        {"contents": [], "system_instruction": {}, "systemInstruction": {}},
        "body.systemInstruction",
        "given twice",
    ),
]


@pytest.mark.parametrize(("sent", "param", "fragment"), CASES, ids=[c[1] for c in CASES])
def test_malformed_bodies_are_a_400_naming_the_field(sent: dict[str, Any], param: str, fragment: str) -> None:
    with pytest.raises(GatewayError) as caught:
        codec().read_request(sent)
    error = caught.value
    assert (error.code, error.status, error.param) == (ErrorCode.INVALID_REQUEST, 400, param)
    assert fragment in error.message
    rendered = GeminiErrors().render(error, "req_1")
    assert rendered.status == 400 and b'"INVALID_ARGUMENT"' in rendered.body


def test_snake_case_fields_are_named_in_camel_case() -> None:
    with pytest.raises(GatewayError) as caught:
        codec().read_request(body(generation_config={"max_output_tokens": "lots"}))
    assert caught.value.param == "generationConfig.maxOutputTokens"
