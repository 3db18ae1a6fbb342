"""The router's HTTP/1.1 client of its upstreams (router/upstreams/http1.py), against raw servers on
127.0.0.1 that record every request's bytes and every connection, and answer exactly what a test
scripts: keep-alive and its limits, the request's head, decoded and chunked answers, 1xx answers,
a kept-alive connection the upstream closed, header injection, TLS against a CA of the test's own."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from support.tls import certificates
from torouter.router.upstreams import http1
from torouter.router.upstreams.http1 import HeaderInjection, Http1Pool

Answer = Callable[[bytes], bytes]


def plain(body: bytes = b'{"ok":true}', *extra: str) -> Answer:
    head = "".join(f"{line}\r\n" for line in [f"content-length: {len(body)}", *extra])
    return lambda _request: f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{head}\r\n".encode() + body


class RawServer:
    """An HTTP/1.1 server that reads each request whole (head and Content-Length body), records it,
    and writes what ``answer`` makes of it; ``close_after`` closes each connection after that many
    answers, ``drop_after`` closes it unanswered at the request after that many."""

    def __init__(
        self,
        answer: Answer,
        close_after: int = 0,
        drop_after: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.answer = answer
        self.close_after = close_after
        self.drop_after = drop_after
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                if self.drop_after and answered >= self.drop_after:
                    break
                writer.write(self.answer(request))
                await writer.drain()
                answered += 1
                if self.close_after and answered >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def pool() -> AsyncIterator[Http1Pool]:
    pool = Http1Pool({"Authorization": "Bearer sk-test", "X-Fixed": "fixed"})
    yield pool
    await pool.close()


async def call(pool: Http1Pool, url: str, method: str = "POST", body: bytes = b"{}", **headers: str) -> bytes:
    response = await pool.request(method, url, headers, body, connect_timeout=5, read_timeout=5)
    try:
        return await response.payload.read()
    finally:
        response.release()


async def test_connections_are_kept_alive_and_reused(pool: Http1Pool) -> None:
    async with RawServer(plain()) as server:
        for _ in range(3):
            assert await call(pool, f"{server.url}/v1/chat") == b'{"ok":true}'
    assert server.connections == 1
    assert len(server.requests) == 3


async def test_the_request_head_has_the_fixed_headers_and_the_request_s_own(pool: Http1Pool) -> None:
    async with RawServer(plain()) as server:
        await call(pool, f"{server.url}/v1/models/a%20b:go?alt=sse", body=b'{"a":1}', **{"x-fixed": "mine"})
        await call(pool, f"{server.url}/v1/models", method="GET", body=b"")
    post, get = (request.decode() for request in server.requests)
    lines = post.split("\r\n")
    assert lines[0] == "POST /v1/models/a%20b:go?alt=sse HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "Authorization: Bearer sk-test" in lines
    assert "x-fixed: mine" in lines and "X-Fixed: fixed" not in lines  # the request's value wins
    assert "Content-Length: 7" in lines and post.endswith('\r\n\r\n{"a":1}')
    assert "Accept-Encoding: " + http1.ACCEPT_ENCODING in lines
    assert not any(line.lower().startswith("user-agent") for line in lines)
    assert get.startswith("GET /v1/models HTTP/1.1\r\n") and "content-length" not in get.lower()


async def test_compressed_and_chunked_answers_are_decoded(pool: Http1Pool) -> None:
    packed = gzip.compress(b'{"big":"' + b"x" * 10_000 + b'"}')

    def answer(_request: bytes) -> bytes:
        return (
            f"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
            f"{len(packed[:20]):x}\r\n".encode()
            + packed[:20]
            + f"\r\n{len(packed[20:]):x}\r\n".encode()
            + packed[20:]
            + b"\r\n0\r\n\r\n"
        )

    async with RawServer(answer) as server:
        assert await call(pool, server.url) == b'{"big":"' + b"x" * 10_000 + b'"}'
        assert await call(pool, server.url) == b'{"big":"' + b"x" * 10_000 + b'"}'
    assert server.connections == 1


@pytest.mark.parametrize("packed", [False, True])
async def test_a_body_past_the_reader_s_high_water_mark_comes_whole(
    pool: Http1Pool, packed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body read slowly, in many small chunks or compressed, makes aiohttp's reader pause the
    connection and resume it: every byte arrives, and the connection is kept."""
    events = b"".join(b"data: %06d\n\n" % i for i in range(40_000))  # 480 KB in 40,000 chunks
    sent = gzip.compress(events) if packed else events
    chunks = [sent[i : i + 12] for i in range(0, len(sent), 12)]

    def answer(_request: bytes) -> bytes:
        head = "content-encoding: gzip\r\n" if packed else ""
        head += "transfer-encoding: chunked\r\n"
        return (
            f"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{head}\r\n".encode()
            + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
            + b"0\r\n\r\n"
        )

    paused = 0
    pause = http1._Protocol.pause_reading

    def counted(protocol: http1._Protocol) -> None:
        nonlocal paused
        paused += 1
        pause(protocol)

    monkeypatch.setattr(http1._Protocol, "pause_reading", counted)
    async with RawServer(answer) as server:
        for _ in range(2):
            response = await pool.request("POST", server.url, {}, b"{}", connect_timeout=5, read_timeout=5)
            received = []
            while chunk := await response.payload.readany():
                received.append(chunk)
                await asyncio.sleep(0)
            response.release()
            assert b"".join(received) == events
    assert server.connections == 1
    assert paused >= 2  # the pause (and so the resume) did happen


async def test_informational_answers_are_skipped(pool: Http1Pool) -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n"
    async with RawServer(lambda request: early + plain()(request)) as server:
        assert await call(pool, server.url) == b'{"ok":true}'


async def test_an_answer_that_says_close_closes_its_connection(pool: Http1Pool) -> None:
    async with RawServer(plain(b"{}", "connection: close"), close_after=1) as server:
        for _ in range(2):
            assert await call(pool, server.url) == b"{}"
    assert server.connections == 2


async def test_an_answer_not_read_to_its_end_closes_its_connection(pool: Http1Pool) -> None:
    async with RawServer(plain(b"x" * 200_000)) as server:
        response = await pool.request("POST", server.url, {}, b"{}", connect_timeout=5, read_timeout=5)
        await response.payload.readany()
        response.release()
        assert await call(pool, server.url) == b"x" * 200_000
    assert server.connections == 2


async def test_an_idle_connection_past_the_keepalive_is_not_used(
    pool: Http1Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http1, "KEEPALIVE_S", 0.05)
    async with RawServer(plain()) as server:
        await call(pool, server.url)
        await asyncio.sleep(0.1)
        await call(pool, server.url)
    assert server.connections == 2


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_kept_alive_connection_the_upstream_closed(pool: Http1Pool, method: str) -> None:
    """The upstream closes a kept-alive connection as the next request arrives on it: an idempotent
    request goes once more on a new connection; a POST does not (it may have been acted on), and
    fails as a broken connection."""
    async with RawServer(plain(), drop_after=1) as server:
        await call(pool, server.url, method=method, body=b"")
        if method == "GET":
            assert await call(pool, server.url, method=method, body=b"") == b'{"ok":true}'
            assert server.connections == 2
        else:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await call(pool, server.url, method=method, body=b"")
            assert server.connections == 1
    assert len(server.requests) == (3 if method == "GET" else 2)


async def test_a_header_that_would_end_its_line_is_refused(pool: Http1Pool) -> None:
    async with RawServer(plain()) as server:
        for value in ("a\r\nx-injected: 1", "a\nb", "a\0b"):
            with pytest.raises(HeaderInjection):
                await call(pool, server.url, **{"anthropic-beta": value})
    assert server.requests == []
    with pytest.raises(HeaderInjection):
        Http1Pool({"x-api-key": "sk\r\nhost: elsewhere"})


async def test_nothing_listening_is_an_os_error(pool: Http1Pool) -> None:
    async with RawServer(plain()) as server:
        url = server.url
    with pytest.raises(OSError):
        await call(pool, url)


async def test_tls_upstreams_are_verified_against_the_system_s_trust_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file, server_context = certificates(tmp_path)
    async with RawServer(plain(), tls=server_context) as server:
        untrusting = Http1Pool({})
        with pytest.raises(ssl.SSLCertVerificationError):
            await call(untrusting, server.url)
        await untrusting.close()
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the trust store OpenSSL reads
        trusting = Http1Pool({})
        try:
            for _ in range(2):
                assert await call(trusting, f"{server.url}/v1/chat") == b'{"ok":true}'
        finally:
            await trusting.close()
    assert server.connections == 1  # one kept alive (the refused handshake never became one)
    assert server.requests[0].startswith(b"POST /v1/chat HTTP/1.1\r\nHost: 127.0.0.1:")
