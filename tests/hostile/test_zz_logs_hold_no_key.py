"""No credential a caller sent appears in any log line: every line the process wrote while this
suite ran (this file's name makes it run last), at DEBUG, through the gateway's own JSON handler,
is searched for every key the suite used — the gateway's own loggers and aiohttp's alike. This test
also sends, first, one request for each way a key can reach the logs, so that it stands alone."""

from __future__ import annotations

import io

import orjson

from support.hostile import (
    KEYS,
    MADE_UP,
    HostileStack,
    every_credential,
    http_request,
    raw_request,
)

CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'


async def test_no_log_line_holds_a_key(hostile: HostileStack, collected_logs: io.StringIO) -> None:
    made_up = MADE_UP[0].encode()
    attempts = [
        [(b"Authorization", b"Bearer " + made_up + b"\x01")],  # refused by aiohttp's parser
        [(b"x-api-key", made_up * 400)],  # a header line too long
        [(b"x-goog-api-key", b"\xff" + made_up)],  # not UTF-8
        [(b"Authorization", b"Bearer " + made_up)],  # well formed, unknown to the router
        [(b"x-api-key", KEYS["openai"].encode()), (b"Content-Encoding", b"br")],
    ]
    for headers in attempts:
        await raw_request(hostile.port, http_request("POST", "/v1/chat/completions", headers, CHAT))
    await raw_request(hostile.port, http_request("POST", "/v1/chat/completions?key=" + MADE_UP[0], [], CHAT))
    await raw_request(
        hostile.port, http_request("POST", "/v1/chat/completions?key=" + MADE_UP[0] * 400, [], CHAT)
    )
    await raw_request(
        hostile.port,
        http_request(
            "POST", "/v1/chat/completions", [(b"Authorization", b"Bearer " + KEYS["openai"].encode())], CHAT
        ),
    )

    lines = collected_logs.getvalue().split("\n")[:-1]  # (not splitlines: a value may hold U+2028)
    assert len(lines) > 20  # the suite's requests were logged
    for secret in every_credential():
        leaked = [line[:300] for line in lines if secret in line]
        assert not leaked, (secret, leaked)
    entries = [orjson.loads(line) for line in lines]
    # requests aiohttp refused are one warning line each, with no traceback
    assert not [e for e in entries if e["logger"].startswith("aiohttp") and e["level"] == "error"]
    assert not [e for e in entries if "exc" in e and "http_exceptions" in e["exc"]]
    assert [e for e in entries if e["msg"] == "request refused by the HTTP parser"]
