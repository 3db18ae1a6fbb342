"""Work before authentication: an images/edits form is read only when the request carries a key,
and however it is made (tens of thousands of tiny parts, megabytes of text fields) it costs the
edge a bounded amount of work, handed out in slices, so that other callers are not kept waiting."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from support.hostile import HostileStack, assert_refused, http_request, raw_request
from support.png import png

BOUNDARY = b"hostile-boundary"
CONTENT_TYPE = b"multipart/form-data; boundary=" + BOUNDARY


def form(parts: list[tuple[str, bytes, str | None]]) -> bytes:
    out = b""
    for name, data, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (
            b"--"
            + BOUNDARY
            + b"\r\nContent-Disposition: "
            + disposition.encode()
            + b"\r\n\r\n"
            + data
            + b"\r\n"
        )
    return out + b"--" + BOUNDARY + b"--\r\n"


def edit_request(body: bytes, key: bytes | None) -> bytes:
    headers = [(b"Authorization", b"Bearer " + key)] if key else []
    return http_request("POST", "/v1/images/edits", headers, body, content_type=CONTENT_TYPE)


TINY_PARTS = form([(f"f{i}", b"v", None) for i in range(20_000)])  # 1.2 MB of one-byte fields


async def test_a_form_without_a_key_is_refused_before_it_is_read(hostile: HostileStack) -> None:
    answer = await raw_request(hostile.port, edit_request(TINY_PARTS, None))
    assert "No API key" in assert_refused(answer, "openai", 401)


async def test_a_form_of_too_many_parts_is_a_400(hostile: HostileStack) -> None:
    answer = await raw_request(hostile.port, edit_request(TINY_PARTS, b"tr-hostile-any-key"))
    assert "Too many parts" in assert_refused(answer, "openai", 400)


async def test_text_fields_beyond_their_budget_are_a_413(hostile: HostileStack) -> None:
    fields = [(f"field{i}", b"x" * 600_000, None) for i in range(2)]
    answer = await raw_request(hostile.port, edit_request(form(fields), b"tr-hostile-any-key"))
    assert "text fields" in assert_refused(answer, "openai", 413)


async def test_hostile_forms_do_not_hold_up_other_callers(hostile: HostileStack) -> None:
    """Four 20,000-part forms (each took the edge seconds of CPU in one go) and one 3.5 MB image
    sent at once: /healthz still answers promptly throughout."""
    big = form([("image", png(8, 8) + b"\0" * 3_500_000, "a.png"), ("prompt", b"p", None)])
    hostile_requests = [edit_request(TINY_PARTS, b"tr-hostile-any-key") for _ in range(4)]
    hostile_requests.append(edit_request(big, b"tr-hostile-any-key"))
    worst = 0.0
    async with aiohttp.ClientSession() as http:
        sent = asyncio.gather(*(raw_request(hostile.port, r, timeout_s=30) for r in hostile_requests))
        await asyncio.sleep(0)
        while not sent.done():
            started = time.perf_counter()
            async with http.get(f"{hostile.gateway.base_url}/healthz") as answer:
                assert answer.status == 200
            worst = max(worst, time.perf_counter() - started)
            await asyncio.sleep(0.005)
        answers = await sent
    assert [a.status for a in answers] == [400, 400, 400, 400, 401]  # the key is unknown to the router
    # before: 12-19 s; now a few ms of work at a time (bounded generously: a busy 2-core box)
    print(f"worst /healthz wait: {worst * 1000:.1f} ms")
    assert worst < 1.0, worst
