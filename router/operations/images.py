"""OpenAI ``/v1/images/generations`` and ``/v1/images/edits`` on every group.

- An OpenAI upstream gets the request as the caller sent it, with only the model changed: the JSON
  body (generations, and the JSON form of edits), or a multipart edit encoded again from the text
  fields and files the edge decoded. Its answer comes back untouched; a stream is relayed event by
  event and must end with a ``*.completed`` (or an error) event, else the caller gets an error event.
- Other upstreams get the request translated to the call their image models answer, once per image
  asked for (``n`` calls at once: those models make one image a call), and the answers translated
  back to an ``ImagesResponse``: ``b64_json`` by default, and for ``response_format: url`` a
  ``data:`` URL (the gateway hosts no files); a stream gets one ``*.completed`` event per image,
  once all are made (no partial images). Which call that is, its protocol says
  (``WireProtocol.image_translation``): a Gemini upstream gets ``generateContent`` with image
  output (``protocols/gemini/images.py``); an OpenAI-protocol upstream without the images
  endpoints (OpenRouter, echo) gets chat completions with ``modalities``
  (``protocols/openai/chat_images.py``).
- Anthropic upstreams make no images: a 400 that says what to ask for.

``model`` is required (OpenAI's default of ``dall-e-2`` / ``gpt-image-1.5`` is not assumed: the
caller's group decides what exists).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any

import orjson

from ..account.metering import OPENAI_IMAGES, image_tokens
from ..call import JSON_HEADERS, SSE_HEADERS, Context, Outcome
from ..errors import ErrorCode, GatewayError
from ..ir_images import ImageRequest, ImageResponse, ImageResult, ImageUsage
from ..protocols.base import ImageCodec
from ..protocols.openai import images as openai_images
from ..routing.fallbacks import with_fallbacks
from ..upstreams.base import Upstream, UpstreamRequest, UpstreamResponse
from ..upstreams.calls import send
from .body_bytes import encode_request, last_event_end, replace_model
from .passthrough import Target, call_for_json, target_of, whole_if_not_sse
from .services import Operation

_ENDED = (b'.completed"', b'"error"')  # what the last events of a complete image stream contain


class ImagesHandler(Operation):
    async def __call__(self, ctx: Context) -> Outcome:
        first = target_of(ctx, self.catalog, self.upstreams)
        # a malformed request fails here, before any upstream
        request = openai_images.read_request(ctx.call.operation, first.body, ctx.call.files)
        ctx.stream = request.stream

        async def attempt(ctx: Context, target: Target) -> Outcome:
            return await self._attempt(ctx, target, request)

        return await with_fallbacks(ctx, first, self.upstreams, attempt, self.cooldowns, self.retry)

    async def _attempt(self, ctx: Context, target: Target, request: ImageRequest) -> Outcome:
        upstream, route = target.upstream, target.route
        if upstream.protocol == ctx.call.protocol and ctx.call.operation in upstream.operations:
            return await self._openai(ctx, target, request)
        translation = self.protocols[upstream.protocol].image_translation
        if translation is not None and translation.operation in upstream.operations:
            return await self._translated(ctx, target, request, translation.operation, translation.codec)
        raise GatewayError(
            ErrorCode.INVALID_REQUEST,
            f"The model `{target.model}` is served by the {route.upstream.kind} upstream "
            f"{route.upstream.name!r}, which cannot make images. Ask for an image model of an OpenAI, "
            "Gemini or OpenRouter upstream (e.g. gpt-image-1, gemini-2.5-flash-image or "
            "google/gemini-2.5-flash-image).",
            param="model",
        )

    # ------------------------------------------------------------------ OpenAI: as sent

    async def _openai(self, ctx: Context, target: Target, asked: ImageRequest) -> Outcome:
        call, route = ctx.call, target.route
        if call.files:
            body, content_type = await openai_images.write_form(target.body, call.files, route.model)
        else:
            body, content_type = call.body, JSON_HEADERS["content-type"]
            if route.model != target.model:
                body = replace_model(call.body, target.body, route.model)
        request = UpstreamRequest(
            operation=call.operation,
            model=route.model,
            body=body,
            stream=ctx.stream,
            request_id=call.request_id,
            deadline=ctx.deadline,
            content_type=content_type,
        )
        upstream = target.upstream
        ctx.reached_upstream = True
        response = await whole_if_not_sse(
            await send(call.protocol, upstream, self.protocols[upstream.protocol], request)
        )
        headers = route.headers()
        answered = (
            openai_images.read_response(response.body) if ctx.stream and response.chunks is None else None
        )
        if answered is not None:  # a stream asked for, a whole answer given: as the stream's events
            ctx.tokens = OPENAI_IMAGES.body(response.body)
            events = openai_images.completed_events(asked, int(time.time()), [answered])
            return Outcome(200, {**SSE_HEADERS, **headers}, chunks=_once(events))
        if response.chunks is None:
            headers["content-type"] = response.headers.get("content-type", JSON_HEADERS["content-type"])
            ctx.tokens = OPENAI_IMAGES.body(response.body)
            return Outcome(response.status, headers, response.body)
        headers.update(SSE_HEADERS)
        return Outcome(response.status, headers, chunks=self._relay(ctx, upstream, response))

    async def _relay(
        self, ctx: Context, upstream: Upstream, response: UpstreamResponse
    ) -> AsyncIterator[bytes]:
        """Complete SSE events as they arrive (an image event is one large line: its pieces are
        collected, not re-joined per chunk); a stream that ends before its last image is reported."""
        assert response.chunks is not None
        pieces: list[bytes] = []
        tail = b""  # the last bytes received, where a boundary may have begun
        ended = False
        tap = OPENAI_IMAGES.tap()
        try:
            async for chunk in response.chunks:
                pieces.append(chunk)
                seen = tail + chunk
                tail = seen[-3:]
                if b"\n\n" not in seen and b"\r\n\r\n" not in seen:
                    continue
                data = b"".join(pieces)
                cut = last_event_end(data)
                ready, rest = data[:cut], data[cut:]
                pieces, tail = ([rest] if rest else []), rest[-3:]
                ended = ended or any(marker in ready for marker in _ENDED)
                tap.feed(ready)
                yield ready
        except GatewayError as failure:
            ctx.error_code = failure.code.value
            yield ctx.protocol.errors.stream_event(failure)
            return
        finally:
            await response.aclose()
            ctx.tokens = tap.tokens()
        rest = b"".join(pieces)
        if rest.strip():
            ended = ended or any(marker in rest for marker in _ENDED)
            tap.feed(rest.rstrip(b"\r\n") + b"\n\n")
            ctx.tokens = tap.tokens()
            yield rest.rstrip(b"\r\n") + b"\n\n"
        if not ended:
            error = GatewayError(
                ErrorCode.UPSTREAM_ERROR,
                f"upstream {upstream.config.name!r} ended the image stream before the image was complete",
            )
            ctx.error_code = error.code.value
            yield ctx.protocol.errors.stream_event(error)

    # ------------------------------------------------------------------ other kinds: translated

    async def _translated(
        self, ctx: Context, target: Target, request: ImageRequest, operation: str, codec: ImageCodec
    ) -> Outcome:
        codec.check_request(request)
        body = encode_request(codec.write_request(request, target.route.model))

        async def one() -> ImageResult:
            return codec.read_response(await call_for_json(ctx, target, self.protocols, operation, body))

        results = await _all(one() for _ in range(request.n))
        usage = ImageUsage()
        for result in results:
            if result.usage is not None:
                usage.add(result.usage)
        if any(result.usage is not None for result in results):
            ctx.tokens = image_tokens(usage)
        created = int(time.time())
        headers = target.route.headers()
        if ctx.stream:
            events = openai_images.completed_events(request, created, results)
            return Outcome(200, {**SSE_HEADERS, **headers}, chunks=_once(events))
        images = [image for result in results for image in result.images]
        response = ImageResponse(created, images, usage)
        body_out = orjson.dumps(openai_images.write_response(response, request))
        return Outcome(200, {**JSON_HEADERS, **headers}, body_out)


async def _all(calls: Iterable[Coroutine[Any, Any, ImageResult]]) -> list[ImageResult]:
    """Runs the calls at once; the first failure cancels the others and is raised."""
    tasks: list[asyncio.Task[ImageResult]] = []
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except BaseExceptionGroup as failed:
        raise _first(failed) from None
    return [task.result() for task in tasks]


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first(error)
        if isinstance(error, GatewayError):
            return error
    return group.exceptions[0]


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
