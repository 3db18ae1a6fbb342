"""``MockOpenAI``'s Responses API: ``POST /v1/responses`` (JSON and SSE), ``GET``/``DELETE
/v1/responses/{id}``, ``GET /v1/responses/{id}/input_items`` and ``POST /v1/responses/{id}/cancel``.

What ``POST /v1/responses`` checks, in this order (errors in OpenAI's format, like chat's):

1. The key, as for chat; the body is strict JSON.
2. The body validates against ``CreateResponse`` (closed-world with ``strict=True``, as the real
   API answers ``Unknown parameter``).
3. Cross-field rules: ``previous_response_id`` names a response this mock stored (else 400
   ``previous_response_not_found``, param ``previous_response_id``), not together with
   ``conversation``; ``background`` is refused (400, the mock has no job runner); an
   ``item_reference`` names a stored item (else 400); every ``function_call_output`` answers a
   ``function_call`` earlier in the conversation (else 400 "No tool call found for function call
   output with call_id …"); a reasoning item's ``encrypted_content`` is one this mock issued
   (else 400 ``invalid_encrypted_content``), as the real API verifies it.
4. The model is one of ``models`` (404 ``model_not_found``); reasoning models (the chat rule)
   refuse ``temperature``/``top_p`` other than 1, other models refuse ``reasoning.effort``.
5. The next queued fault of the endpoint ``"responses"``.

Answers follow chat's rules (:func:`support.openai_upstream.plan_answer`) on the conversation
rebuilt as chat messages (instructions first; the stored conversation of
``previous_response_id``; input items: messages, function calls and their outputs): text ``Mock
reply to: …``, tool calls for "weather" or a tool's name, ``text.format`` JSON, limits by
``max_output_tokens`` (status ``incomplete``). Output items: a ``reasoning`` item first on
reasoning models (``summary: []``, ``encrypted_content`` when ``include`` asks for it), then a
``message`` (``output_text`` with ``annotations: []``, ``logprobs: []``) or ``function_call``
items. Ids are ``resp_``/``msg_``/``fc_``/``rs_`` + hex. With ``store`` (default true) the
response, its input items (with ids) and the conversation are kept for retrieve, delete,
``input_items`` (``limit``, ``order`` default ``desc``, ``after``) and ``previous_response_id``;
an unknown id is a 404 "Response with id '…' not found.". Cancel: 400 (no background responses).

Streams are SSE with ``event:`` lines and no ``[DONE]``: ``response.created``,
``response.in_progress``, per item ``output_item.added`` (…``content_part.added``,
``output_text.delta`` per word, ``output_text.done``, ``content_part.done`` /
``function_call_arguments.delta`` per 8 characters, ``.done``) ``output_item.done``, then
``response.completed`` (or ``response.incomplete``), ``sequence_number`` from 0. Stream faults
(``die_after``, ``stall_after``, ``error_after``: an ``error`` event) apply after ``k`` events.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web
from jsonschema import ValidationError

from . import schemas
from .mock_server import WORDS, AgentScript, ClientGone, RecordedRequest

if TYPE_CHECKING:
    from .openai_upstream import MockOpenAI

PATH: Final = "/v1/responses"
ENDPOINT: Final = "responses"
ENCRYPTED_PREFIX: Final = "gAAAAmock"
_ARG_PIECE: Final = 8


@dataclass
class Stored:
    """A response this mock keeps (``store``)."""

    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    messages: list[dict[str, Any]]  # the conversation so far, as chat messages
    items: dict[str, dict[str, Any]] = field(default_factory=dict)  # every item by id


class Responses:
    """The endpoints, with the responses stored by one mock."""

    def __init__(self, mock: MockOpenAI) -> None:
        self.mock = mock
        self.stored: dict[str, Stored] = {}

    def add_routes(self, app: web.Application) -> None:
        route = self.mock._route
        app.router.add_post(PATH, route(self.create))
        app.router.add_get(PATH + "/{response_id}", route(self.retrieve))
        app.router.add_delete(PATH + "/{response_id}", route(self.delete))
        app.router.add_get(PATH + "/{response_id}/input_items", route(self.input_items))
        app.router.add_post(PATH + "/{response_id}/cancel", route(self.cancel))

    # ---- create

    async def create(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        from .openai_upstream import openai_validation_message

        mock = self.mock
        denied = mock._check_auth(rec)
        if denied is not None:
            return denied
        try:
            body = orjson.loads(rec.body)
        except orjson.JSONDecodeError:
            return mock._error(rec, 400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return mock._error(rec, 400, "Invalid type for body: expected an object.", code="invalid_type")
        if mock.validate_requests:
            found = create_response_errors(body, closed=mock.strict)
            if found:
                message, param, code = openai_validation_message(found[0])
                return mock._error(rec, 400, message, param=param, code=code)
        previous_id = body.get("previous_response_id")
        previous = self.stored.get(previous_id) if isinstance(previous_id, str) else None
        if previous_id is not None and previous is None:
            return mock._error(
                rec,
                400,
                f"Previous response with id '{previous_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        if previous_id is not None and body.get("conversation") is not None:
            return mock._error(rec, 400, "Cannot use both 'previous_response_id' and 'conversation'.")
        if body.get("background"):
            return mock._error(
                rec, 400, "Background responses are not supported by this mock.", param="background"
            )
        items, problem = self._input(body, previous)
        if problem is not None:
            return mock._error(rec, 400, problem[0], param=problem[1], code=problem[2])
        model = str(body["model"])
        if model not in mock.models:
            return mock._error(
                rec,
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        problem = self._model_problem(model, body)
        if problem is not None:
            return mock._error(rec, 400, problem[0], param=problem[1], code=problem[2])
        fault = await mock._take_fault(request, rec, ENDPOINT)
        if fault is not None:
            return fault
        response, stored = self._answer(body, items, previous, rec)
        if body.get("store") is not False:
            self.stored[response["id"]] = stored
        if body.get("stream") is True:
            return await self._stream(request, rec, response)
        return mock._json(rec, 200, response, mock._rate_headers())

    def _input(
        self, body: Mapping[str, Any], previous: Stored | None
    ) -> tuple[list[dict[str, Any]], tuple[str, str | None, str | None] | None]:
        raw = body.get("input")
        items: list[dict[str, Any]] = (
            [{"type": "message", "role": "user", "content": raw}] if isinstance(raw, str) else list(raw or [])
        )
        known_calls = {
            c["id"] for m in (previous.messages if previous else []) for c in m.get("tool_calls") or []
        }
        resolved: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            if item.get("type") == "item_reference":
                found = self._item(str(item.get("id")))
                if found is None:
                    return [], (f"Item with id '{item.get('id')}' not found.", f"input[{index}]", None)
                item = found
            kind = item.get("type", "message")
            if kind == "function_call":
                known_calls.add(item["call_id"])
            elif kind == "function_call_output" and item.get("call_id") not in known_calls:
                return [], (
                    f"No tool call found for function call output with call_id {item.get('call_id')}.",
                    "input",
                    None,
                )
            elif kind == "reasoning":
                encrypted = item.get("encrypted_content")
                if encrypted is not None and not str(encrypted).startswith(ENCRYPTED_PREFIX):
                    return [], (
                        "The encrypted content for item could not be verified.",
                        None,
                        "invalid_encrypted_content",
                    )
            resolved.append(item)
        return resolved, None

    def _item(self, item_id: str) -> dict[str, Any] | None:
        for stored in self.stored.values():
            if item_id in stored.items:
                return stored.items[item_id]
        return None

    def _model_problem(self, model: str, body: Mapping[str, Any]) -> tuple[str, str, str] | None:
        reasoning = body.get("reasoning") or {}
        if self.mock._reasoning(model):
            for knob in ("temperature", "top_p"):
                value = body.get(knob)
                if value is not None and value != 1:
                    return (
                        f"Unsupported parameter: '{knob}' is not supported with this model.",
                        knob,
                        "unsupported_parameter",
                    )
        elif reasoning.get("effort") is not None:
            return (
                "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
                "reasoning.effort",
                "unsupported_parameter",
            )
        return None

    def _answer(
        self,
        body: Mapping[str, Any],
        items: list[dict[str, Any]],
        previous: Stored | None,
        rec: RecordedRequest,
    ) -> tuple[dict[str, Any], Stored]:
        from .openai_upstream import plan_answer

        mock = self.mock
        model = str(body["model"])
        history = list(previous.messages) if previous else []
        messages = history + chat_messages(items)
        instructions = body.get("instructions")
        chat: dict[str, Any] = {
            "model": model,
            "messages": ([{"role": "developer", "content": instructions}] if instructions else []) + messages,
        }
        tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
        if tools:
            chat["tools"] = [
                {"type": "function", "function": {"name": t["name"], "parameters": t.get("parameters") or {}}}
                for t in tools
            ]
            choice = body.get("tool_choice")
            if isinstance(choice, Mapping) and choice.get("type") == "function":
                chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
            elif isinstance(choice, str):
                chat["tool_choice"] = choice
            if body.get("parallel_tool_calls") is not None:
                chat["parallel_tool_calls"] = body["parallel_tool_calls"]
        fmt = (body.get("text") or {}).get("format") or {}
        if fmt.get("type") == "json_schema":
            chat["response_format"] = {
                "type": "json_schema",
                "json_schema": {"schema": fmt.get("schema") or {}},
            }
        elif fmt.get("type") == "json_object":
            chat["response_format"] = {"type": "json_object"}
        if body.get("max_output_tokens") is not None:
            chat["max_completion_tokens"] = body["max_output_tokens"]
        if (body.get("reasoning") or {}).get("effort") == "none":
            chat["reasoning_effort"] = "none"
        digest = hashlib.sha256(f"{mock.name}/{rec.seq}/{time.time()}".encode()).hexdigest()
        response_id = f"resp_{digest[:48]}"
        scripted = scripted_call(mock.agent_script, body, items, messages, digest)
        answer = plan_answer(
            chat,
            completion_id=response_id,
            created=int(time.time()),
            cached_tokens=mock.cached_tokens,
            reasoning_tokens=mock.reasoning_tokens if mock._reasoning(model) else 0,
            script=AgentScript({}) if scripted is not None else mock.agent_script,
        )
        planned = answer.choices[0]
        output: list[dict[str, Any]] = []
        if answer.reasoning_tokens:
            reasoning: dict[str, Any] = {"id": f"rs_{digest[:40]}", "type": "reasoning", "summary": []}
            if "reasoning.encrypted_content" in (body.get("include") or []):
                reasoning["encrypted_content"] = ENCRYPTED_PREFIX + digest[:32]
            output.append(reasoning)
        assistant: dict[str, Any] = {"role": "assistant", "content": planned.content}
        if planned.content is not None:
            text = {"type": "output_text", "annotations": [], "logprobs": [], "text": planned.content}
            status = "incomplete" if planned.finish_reason == "length" else "completed"
            output.append(
                {
                    "id": f"msg_{digest[:40]}",
                    "type": "message",
                    "status": status,
                    "content": [text],
                    "role": "assistant",
                }
            )
        for i, call in enumerate(planned.tool_calls):
            output.append(
                {
                    "id": f"fc_{digest[i : i + 40]}",
                    "type": "function_call",
                    "status": "completed",
                    "arguments": call.arguments,
                    "call_id": call.id,
                    "name": call.name,
                }
            )
            assistant.setdefault("tool_calls", []).append(
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            )
        if scripted is not None:  # the scripted call, in place of the text answer
            output = [item for item in output if item["type"] == "reasoning"] + [scripted]
        usage = answer.usage()
        incomplete = planned.finish_reason == "length"
        response: dict[str, Any] = {
            "id": response_id,
            "object": "response",
            "created_at": answer.created,
            "status": "incomplete" if incomplete else "completed",
            "background": False,
            "completed_at": None if incomplete else int(time.time()),
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "instructions": instructions,
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "service_tier": "default",
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [{"strict": True, **t} for t in body.get("tools") or []],
            "top_logprobs": body.get("top_logprobs", 0),
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation") or "disabled",
            "usage": {
                "input_tokens": usage["prompt_tokens"],
                "input_tokens_details": {"cached_tokens": answer.cached_tokens, "cache_write_tokens": 0},
                "output_tokens": usage["completion_tokens"],
                "output_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
                "total_tokens": usage["total_tokens"],
            },
            "metadata": body.get("metadata") or {},
        }
        listed = listed_input(items, digest)
        stored = Stored(response, listed, [*messages, assistant])
        stored.items = {item["id"]: item for item in listed + output}
        return response, stored

    async def _stream(
        self, request: web.Request, rec: RecordedRequest, response: dict[str, Any]
    ) -> web.StreamResponse:
        mock = self.mock
        fault = rec.fault if rec.fault is not None and rec.fault.kind != "delay" else None
        events = stream_events(response)
        out = web.StreamResponse(status=200, headers=mock._headers(rec, mock._rate_headers()))
        out.content_type = "text/event-stream"
        out.charset = "utf-8"
        rec.status = 200
        try:
            await out.prepare(request)
            limit = len(events) if fault is None else min(fault.after_chunks, len(events))
            for event in events[:limit]:
                if mock.chunk_delay_s:
                    await mock._sleep(mock.chunk_delay_s)
                await out.write(_frame(event))
                rec.response_chunks.append(event)
            if fault is not None and fault.kind == "error_after":
                error = dict(fault.error or {})
                frame = {
                    "type": "error",
                    "code": error.get("code") or "server_error",
                    "message": error.get("message") or "The server had an error.",
                    "param": None,
                    "sequence_number": limit,
                }
                await out.write(_frame(frame))
                rec.response_chunks.append(frame)
            elif fault is not None:
                if fault.kind == "stall_after":
                    await mock._hang()
                await mock._drain(request)
                mock._abort(request, rec, "aborted")
                return out
            rec.done_sent = fault is None
            await out.write_eof()
            return out
        except ConnectionResetError as exc:
            raise ClientGone from exc

    # ---- stored responses

    def _stored(self, rec: RecordedRequest, request: web.Request) -> Stored | web.Response:
        denied = self.mock._check_auth(rec)
        if denied is not None:
            return denied
        response_id = request.match_info["response_id"]
        stored = self.stored.get(response_id)
        if stored is None:
            return self.mock._error(rec, 404, f"Response with id '{response_id}' not found.")
        return stored

    async def retrieve(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        stored = self._stored(rec, request)
        if isinstance(stored, web.Response):
            return stored
        return self.mock._json(rec, 200, stored.response)

    async def delete(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        stored = self._stored(rec, request)
        if isinstance(stored, web.Response):
            return stored
        response_id = stored.response["id"]
        del self.stored[response_id]
        return self.mock._json(rec, 200, {"id": response_id, "object": "response", "deleted": True})

    async def input_items(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        stored = self._stored(rec, request)
        if isinstance(stored, web.Response):
            return stored
        order = rec.query.get("order", "desc")
        limit = int(rec.query.get("limit", "20"))
        items = stored.input_items if order == "asc" else stored.input_items[::-1]
        ids = [item["id"] for item in items]
        after = rec.query.get("after")
        start = ids.index(after) + 1 if after in ids else 0
        page = items[start : start + limit]
        body = {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": start + limit < len(items),
        }
        return self.mock._json(rec, 200, body)

    async def cancel(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        stored = self._stored(rec, request)
        if isinstance(stored, web.Response):
            return stored
        return self.mock._error(rec, 400, "Only responses created with background=true can be cancelled.")


# --------------------------------------------------------------------------- conversions


def scripted_call(
    script: AgentScript | None,
    body: Mapping[str, Any],
    items: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    digest: str,
) -> dict[str, Any] | None:
    """The output item of an agent script's call (:class:`support.mock_server.AgentScript`), or
    None. The tools offered are ``tools`` and those of ``additional_tools`` items, namespaces
    included (a namespaced tool is offered as ``<namespace>__<name>``); a function's call is a
    ``function_call``, a custom tool's a ``custom_tool_call`` (with ``input``, the script's
    ``input`` argument), each naming its namespace."""
    if script is None:
        return None
    offered: dict[str, tuple[str | None, Mapping[str, Any]]] = {}
    carried = [t for item in items if item.get("type") == "additional_tools" for t in item.get("tools") or []]
    for tool in [*(body.get("tools") or []), *carried]:
        if tool.get("type") == "namespace":
            for member in tool.get("tools") or []:
                offered[f"{tool['name']}__{member['name']}"] = (str(tool["name"]), member)
        elif tool.get("type") in ("function", "custom"):
            offered[str(tool["name"])] = (None, tool)
    called = script.call(list(offered), any(m.get("role") == "tool" for m in messages))
    if called is None:
        return None
    name, arguments = called
    namespace, tool = offered[name]
    item: dict[str, Any] = {"id": f"ctc_{digest[:40]}", "call_id": f"call_{digest[8:32]}"}
    if tool.get("type") == "custom":
        item.update(type="custom_tool_call", name=tool["name"], input=str(arguments.get("input", "")))
    else:
        arguments_text = orjson.dumps(arguments).decode()
        item.update(type="function_call", status="completed", name=tool["name"], arguments=arguments_text)
    if namespace is not None:
        item["namespace"] = namespace
    return item


def chat_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Input items as the chat messages :func:`plan_answer` reads."""
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            content = item["content"]
            if isinstance(content, list):
                content = [_chat_part(p) for p in content]
            messages.append({"role": item["role"], "content": content})
        elif kind in ("function_call", "custom_tool_call"):
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant":
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append(
                {
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item.get("arguments", item.get("input"))},
                }
            )
        elif kind in ("function_call_output", "custom_tool_call_output"):
            output = item["output"]
            if isinstance(output, list):
                output = " ".join(str(p.get("text", "")) for p in output)
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": output})
    return messages


def _chat_part(part: Mapping[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part.get("text", "")}
    if kind == "refusal":
        return {"type": "refusal", "refusal": part.get("refusal", "")}
    if kind == "input_image":
        return {"type": "image_url", "image_url": {"url": part.get("image_url") or ""}}
    return {"type": "file", "file": {}}


def listed_input(items: list[dict[str, Any]], digest: str) -> list[dict[str, Any]]:
    """The input items with ids and statuses, as ``input_items`` lists them."""
    out: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        item = dict(raw)
        kind = item.setdefault("type", "message")
        prefix = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}
        item.setdefault("id", f"{prefix.get(kind, 'item')}_{digest[:32]}{index:04d}")
        if kind != "reasoning":
            item.setdefault("status", "completed")
        if kind == "message" and isinstance(item.get("content"), str):
            part_type = "output_text" if item["role"] == "assistant" else "input_text"
            part: dict[str, Any] = {"type": part_type, "text": item["content"]}
            if part_type == "output_text":
                part.update(annotations=[], logprobs=[])
            item["content"] = [part]
        out.append(item)
    return out


def stream_events(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of a response's stream, in order, numbered from 0."""
    events: list[dict[str, Any]] = []
    start = {**response, "status": "in_progress", "output": [], "completed_at": None}
    del start["usage"]
    events.append({"type": "response.created", "response": start})
    events.append({"type": "response.in_progress", "response": start})
    for index, item in enumerate(response["output"]):
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "content": [], "status": "in_progress"},
                }
            )
            for c, part in enumerate(item["content"]):
                empty = {**part, "text": ""}
                events.append(
                    {"type": "response.content_part.added", **where, "content_index": c, "part": empty}
                )
                for word in WORDS.findall(part["text"]):
                    events.append(
                        {
                            "type": "response.output_text.delta",
                            **where,
                            "content_index": c,
                            "delta": word,
                            "logprobs": [],
                        }
                    )
                events.append(
                    {
                        "type": "response.output_text.done",
                        **where,
                        "content_index": c,
                        "text": part["text"],
                        "logprobs": [],
                    }
                )
                events.append(
                    {"type": "response.content_part.done", **where, "content_index": c, "part": part}
                )
        elif item["type"] == "function_call":
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "arguments": "", "status": "in_progress"},
                }
            )
            arguments = item["arguments"]
            for at in range(0, len(arguments), _ARG_PIECE):
                piece = arguments[at : at + _ARG_PIECE]
                events.append({"type": "response.function_call_arguments.delta", **where, "delta": piece})
            events.append(
                {
                    "type": "response.function_call_arguments.done",
                    **where,
                    "name": item["name"],
                    "arguments": arguments,
                }
            )
        elif item["type"] == "custom_tool_call":
            events.append(
                {"type": "response.output_item.added", "output_index": index, "item": {**item, "input": ""}}
            )
            events.append({"type": "response.custom_tool_call_input.delta", **where, "delta": item["input"]})
            events.append({"type": "response.custom_tool_call_input.done", **where, "input": item["input"]})
        else:
            events.append({"type": "response.output_item.added", "output_index": index, "item": item})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    terminal = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    events.append({"type": terminal, "response": response})
    for number, event in enumerate(events):
        event["sequence_number"] = number
    return events


def _frame(event: Mapping[str, Any]) -> bytes:
    return f"event: {event['type']}\n".encode() + b"data: " + orjson.dumps(event) + b"\n\n"


# --------------------------------------------------------------------------- checks of what was sent


def create_response_errors(body: Mapping[str, Any], *, closed: bool) -> list[ValidationError]:
    """``CreateResponse`` errors of a body, the way the real API sees it. The spec's ``InputItem``
    is a ``oneOf`` in which a user message with a list of parts is both an ``EasyInputMessage``
    and an ``InputMessage`` (the API tells them apart by its discriminator, ``type``): so items
    are checked one by one, and "valid under each of" their branches is no error.

    Codex sends two things the live API takes but the vendored spec lacks, checked here and left
    out of the rest: ``client_metadata`` (a map of strings), an ``id`` on input messages of every
    role (the spec has one on assistant output messages only) and ``content: null`` on the
    reasoning items it gives back."""
    metadata = body.get("client_metadata")
    if "client_metadata" in body:
        body = {k: v for k, v in body.items() if k != "client_metadata"}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            return [
                ValidationError(
                    "client_metadata must be an object of strings",
                    validator="type",
                    validator_value="object",
                    path=["client_metadata"],
                    instance=metadata,
                )
            ]
    items = body.get("input")
    if not isinstance(items, list):
        return schemas.errors("openai", "CreateResponse", body, closed=closed)
    found = schemas.errors("openai", "CreateResponse", {**body, "input": "items"}, closed=closed)
    for index, item in enumerate(items):
        message = isinstance(item, dict) and item.get("type") == "message"
        if message and isinstance(item.get("id"), str) and item.get("role") != "assistant":
            item = {k: v for k, v in item.items() if k != "id"}
        if isinstance(item, dict) and item.get("type") == "reasoning" and item.get("content", 0) is None:
            item = {k: v for k, v in item.items() if k != "content"}
        for error in schemas.errors("openai", "InputItem", item, closed=closed):
            if error.validator == "oneOf" and not error.context and not error.path:
                continue  # valid under more than one branch: fine for a discriminated union
            error.path.extendleft([index, "input"])  # -> input[index]...
            found.append(error)
    return found


EVENT_SCHEMAS: Final = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.refusal.delta": "ResponseRefusalDeltaEvent",
    "response.refusal.done": "ResponseRefusalDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.custom_tool_call_input.delta": "ResponseCustomToolCallInputDeltaEvent",
    "response.custom_tool_call_input.done": "ResponseCustomToolCallInputDoneEvent",
    "response.web_search_call.in_progress": "ResponseWebSearchCallInProgressEvent",
    "response.web_search_call.searching": "ResponseWebSearchCallSearchingEvent",
    "response.web_search_call.completed": "ResponseWebSearchCallCompletedEvent",
    "response.output_text.annotation.added": "ResponseOutputTextAnnotationAddedEvent",
    "response.reasoning_summary_part.added": "ResponseReasoningSummaryPartAddedEvent",
    "response.reasoning_summary_part.done": "ResponseReasoningSummaryPartDoneEvent",
    "response.reasoning_summary_text.delta": "ResponseReasoningSummaryTextDeltaEvent",
    "response.reasoning_summary_text.done": "ResponseReasoningSummaryTextDoneEvent",
    "error": "ResponseErrorEvent",
}


def assert_response_valid(response: Any) -> None:
    """A Response object against the spec, closed world. ``store`` is left out first: the API
    sends it (it echoes the request), but the spec's ``Response`` does not declare it."""
    assert isinstance(response, dict), response
    schemas.validate("openai", "Response", {k: v for k, v in response.items() if k != "store"}, closed=True)


def assert_event_valid(event: Any) -> None:
    """A stream event against its own event schema (closed world), Response objects included."""
    assert isinstance(event, dict) and event.get("type") in EVENT_SCHEMAS, event
    if isinstance(event.get("response"), dict):
        assert_response_valid(event["response"])
        event = {**event, "response": {k: v for k, v in event["response"].items() if k != "store"}}
    schemas.validate("openai", EVENT_SCHEMAS[event["type"]], event, closed=True)


def assert_emitted_valid(rec: RecordedRequest) -> None:
    """A Responses answer (body, or every stream event) against the spec, closed world."""
    body = rec.response_json
    if isinstance(body, dict) and "object" not in body and "deleted" not in body:
        assert set(body) == {"error"}, body
        schemas.validate("openai", "Error", body["error"], closed=True)
    elif isinstance(body, dict) and body.get("object") == "list":
        schemas.validate("openai", "ResponseItemList", body, closed=True)
    elif isinstance(body, dict) and body.get("deleted") is True:
        assert set(body) == {"id", "object", "deleted"}, body
    elif body is not None:
        assert_response_valid(body)
    for event in rec.response_chunks:
        assert_event_valid(event)
