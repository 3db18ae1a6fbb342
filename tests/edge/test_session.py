"""The session between the edge and the router of its host (edge/session.py, router/session.py):
the non-streaming calls share one long-lived gRPC call, and keep what each unary call had —
cancellation, deadlines, a router draining or going away, errors in the caller's protocol."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import grpc
import httpx
import openai
import pytest

from support.gateway import Gateway
from support.openai_upstream import Fault, MockOpenAI
from support.stack import KEYS, Stack, upstream_config
from torouter.edge import middleware as edge_middleware
from torouter.edge.session import EdgeSession, SessionStream, failure
from torouter.proto.v1 import router_pb2
from torouter.router import server as router_server
from torouter.router.config import RouterConfig
from torouter.router.server import server_options
from torouter.router.session import BATCH_BYTES, STREAM_WINDOW, Answered, RouterSession

MESSAGES = [{"role": "user", "content": "Hello"}]


async def session_open(gateway: Gateway) -> None:
    """Until the edge's session is open (it opens in the background once the router is ready)."""
    client = gateway.edge_client
    deadline = asyncio.get_running_loop().time() + 10
    while not client.session_open:
        assert asyncio.get_running_loop().time() < deadline, "the session did not open"
        await asyncio.sleep(0.01)


def record_roads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the road of each call the router takes: "rpc" (a call of its own: ``to_call``
    is given its context) or "session"."""
    roads: list[str] = []
    real = router_server.to_call

    def to_call(request: router_pb2.CallRequest, context: Any = None) -> Any:
        roads.append("session" if context is None else "rpc")
        return real(request, context)

    monkeypatch.setattr(router_server, "to_call", to_call)
    return roads


def no_stream(
    request: router_pb2.CallRequest,
) -> AsyncGenerator[router_pb2.Frame | router_pb2.StreamEnd, None]:
    raise AssertionError("no stream was asked for")


@pytest.fixture
async def one_upstream() -> AsyncIterator[MockOpenAI]:
    async with MockOpenAI(name="session") as mock:
        yield mock


def config_for(mock: MockOpenAI) -> dict[str, Any]:
    return {
        "upstreams": {"main": upstream_config("openai", mock)},
        "groups": {"g": {"upstreams": ["main"]}},
        "keys": [{"name": "session", "key": "tr-session-key", "group": "g"}],
    }


def client_of(gateway: Gateway, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{gateway.base_url}/v1", api_key="tr-session-key", max_retries=0, **kwargs
    )


async def test_concurrent_calls_share_the_session(fresh: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    await session_open(fresh.gateway)
    roads = record_roads(monkeypatch)
    client = fresh.client()
    replies = await asyncio.gather(
        *(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"call {i}"}]
            )
            for i in range(40)
        )
    )
    assert [reply.choices[0].message.content for reply in replies] == [
        f"Mock reply to: call {i}" for i in range(40)
    ]
    assert roads == ["session"] * 40
    assert fresh.gateway.router is not None and fresh.gateway.router.sessions.count == 1
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert roads[40:] == ["session"]


async def test_a_large_body_goes_as_a_unary_call(fresh: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    await session_open(fresh.gateway)
    roads = record_roads(monkeypatch)
    big = "x" * 300_000  # above the session's limit, below the edge's 1 MB
    reply = await fresh.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": big}]
    )
    assert reply.choices[0].message.content == f"Mock reply to: {big}"
    assert roads == ["rpc"]


async def test_a_caller_going_away_cancels_the_upstream_request(fresh: Stack) -> None:
    await session_open(fresh.gateway)
    fresh.upstream.enqueue(Fault.stall())
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(
                f"{fresh.gateway.base_url}/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": MESSAGES},
                headers={"authorization": f"Bearer {KEYS['openai']}"},
                timeout=0.5,
            )
    upstream = fresh.upstream.requests[-1]
    assert await upstream.wait_finished(timeout_s=5) == "cancelled"
    # the session carries on
    reply = await fresh.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == "Mock reply to: Hello"


async def test_the_callers_deadline_ends_the_call(fresh: Stack) -> None:
    await session_open(fresh.gateway)
    fresh.upstream.enqueue(Fault.stall())
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            f"{fresh.gateway.base_url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
            headers={"authorization": f"Bearer {KEYS['openai']}", "x-stainless-timeout": "1"},
            timeout=10,
        )
    assert reply.status_code == 504, reply.text
    assert reply.json()["error"]["message"]
    assert await fresh.upstream.requests[-1].wait_finished(timeout_s=5) == "cancelled"


async def test_a_call_failing_inside_the_router_is_a_500_and_the_session_goes_on(
    fresh: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    await session_open(fresh.gateway)
    real = router_server.answer_first

    async def failing(dispatcher: Any, call: Any) -> Answered:
        if call.body and b"boom" in call.body:
            raise RuntimeError("boom")
        return await real(dispatcher, call)

    monkeypatch.setattr(router_server, "answer_first", failing)
    client = fresh.client()
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "boom"}]
        )
    assert "Internal gateway error" in info.value.message
    assert "boom" not in info.value.message
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == "Mock reply to: Hello"


async def test_a_draining_router_answers_its_calls_and_refuses_later_ones(one_upstream: MockOpenAI) -> None:
    """Calls begun before the drain are answered; the session then ends, and calls go as unary
    RPCs (which fail while no router serves: a 503), then on a new session once one is back."""
    async with Gateway(config_for(one_upstream)) as gateway:
        await session_open(gateway)
        client = client_of(gateway)
        one_upstream.enqueue(Fault.delay(0.5))
        slow = asyncio.create_task(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES))
        await one_upstream.wait_for_requests(1, timeout_s=5)
        stopping = asyncio.create_task(gateway.stop_router(grace=5))
        reply = await slow
        assert reply.choices[0].message.content == "Mock reply to: Hello"
        await stopping
        assert not gateway.edge_client.session_open
        with pytest.raises(openai.APIStatusError) as info:
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert info.value.status_code == 503
        await gateway.start_router()
        await session_open(gateway)
        reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert reply.choices[0].message.content == "Mock reply to: Hello"
        assert len(one_upstream.requests) == 2  # each call reached the upstream once


async def test_calls_arriving_while_the_router_drains_are_sent_again_as_unary_calls() -> None:
    """A call the router refused never began there: the edge sends it again by a unary call."""
    answered: list[int] = []

    async def answer(request: router_pb2.CallRequest) -> Answered:
        answered.append(int(request.request_id))
        await asyncio.sleep(0.05)
        return router_pb2.CallReply(status=200, body=request.body), None

    session = RouterSession(answer, no_stream)
    incoming: asyncio.Queue[router_pb2.Batch | None] = asyncio.Queue()

    async def requests() -> AsyncIterator[router_pb2.Batch]:
        while (batch := await incoming.get()) is not None:
            yield batch

    out: list[router_pb2.Batch] = []

    async def collect() -> None:
        async for batch in session.run(requests()):
            out.append(batch)

    running = asyncio.create_task(collect())
    first = router_pb2.Batch()
    first.items.add(id=1, request=router_pb2.CallRequest(request_id="1", body=b"one"))
    await incoming.put(first)
    await asyncio.sleep(0.01)
    session.drain()
    later = router_pb2.Batch()
    later.items.add(id=2, request=router_pb2.CallRequest(request_id="2", body=b"two"))
    await incoming.put(later)
    await asyncio.sleep(0.2)
    # call 1 is answered, but a call the edge wrote before it read the drain may be on its way:
    # the session ends only once the edge says none follows
    assert not running.done()
    await incoming.put(router_pb2.Batch(drained=True))
    await asyncio.wait_for(running, 5)
    items = [item for batch in out for item in batch.items]
    assert any(batch.draining for batch in out)
    assert [(i.id, i.refused, i.reply.body) for i in items] == [(2, True, b""), (1, False, b"one")]
    assert answered == [1]


async def messages_written(
    session: RouterSession, request_ids: list[str], release: asyncio.Event
) -> list[list[int]]:
    """The ids in each message a router session writes for calls 1, 2, … (one per request id, all in
    one batch), their answers let go by ``release`` once all are waiting."""
    batch = router_pb2.Batch()
    for call_id, request_id in enumerate(request_ids, start=1):
        batch.items.add(id=call_id, request=router_pb2.CallRequest(request_id=request_id))

    async def requests() -> AsyncIterator[router_pb2.Batch]:
        yield batch

    out: list[list[int]] = []

    async def collect() -> None:
        async for message in session.run(requests()):
            out.append([item.id for item in message.items])

    running = asyncio.create_task(collect())
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(running, 5)
    return out


async def test_answers_ready_together_travel_in_one_message_within_the_byte_bound() -> None:
    release = asyncio.Event()

    async def answer(request: router_pb2.CallRequest) -> Answered:
        await release.wait()
        size = int(request.request_id)
        return router_pb2.CallReply(status=200, body=b"x" * size), None

    sizes = [10, 20, BATCH_BYTES - 30, 40, 50]
    out = await messages_written(RouterSession(answer, no_stream), [str(size) for size in sizes], release)
    assert out == [[1, 2, 3], [4, 5]]  # all five ready at once; the third fills the first message


async def test_answers_ready_within_one_turn_share_a_message_while_others_are_in_flight() -> None:
    """Call 1's answer is ready first; 2 and 3 are a step behind it in the same turn of the loop.
    With calls still in flight, the writer waits out the turn: one message, not two."""
    release = asyncio.Event()

    async def answer(request: router_pb2.CallRequest) -> Answered:
        await release.wait()
        if request.request_id != "1":
            await asyncio.sleep(0)  # a step more to its answer (a read, a parse)
        return router_pb2.CallReply(status=200, body=request.request_id.encode()), None

    out = await messages_written(RouterSession(answer, no_stream), ["1", "2", "3"], release)
    assert out == [[1, 2, 3]]


async def test_calls_made_within_one_turn_share_a_message_while_others_are_in_flight() -> None:
    session = EdgeSession(lambda batches: None)  # type: ignore[arg-type,return-value]
    session._usable = True  # as once the router's headers came
    batches = session._batches(session._wake)
    request = router_pb2.CallRequest(body=b"{}")

    async def a_step_later() -> router_pb2.CallReply | None:
        await asyncio.sleep(0)
        return await session.call(request, 5)

    calls = [asyncio.create_task(session.call(request, 5))]
    async with asyncio.timeout(5):  # (not wait_for: the writer runs in this task, as in gRPC's)
        alone = await anext(batches)
        assert [item.id for item in alone.items] == [1]  # nothing else in flight: it goes at once
        calls += [asyncio.create_task(session.call(request, 5)), asyncio.create_task(a_step_later())]
        together = await anext(batches)
    assert [item.id for item in together.items] == [2, 3]
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    await batches.aclose()


async def test_the_edge_going_away_cancels_its_calls() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def answer(request: router_pb2.CallRequest) -> Answered:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("not reached")

    session = RouterSession(answer, no_stream)
    forever = asyncio.Event()

    async def requests() -> AsyncIterator[router_pb2.Batch]:
        batch = router_pb2.Batch()
        batch.items.add(id=1, request=router_pb2.CallRequest(request_id="1"))
        yield batch
        await forever.wait()

    async def collect() -> None:
        async for _ in session.run(requests()):
            pass

    running = asyncio.create_task(collect())
    await asyncio.wait_for(started.wait(), 5)
    running.cancel()  # what gRPC does when the edge's call goes
    with pytest.raises(asyncio.CancelledError):
        await running
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_a_replys_accounting_runs_after_it_and_its_usage_follows_under_its_id() -> None:
    """A reply that goes before its accounting (``CallReply.usage_follows``): the accounting runs
    once the reply is written, and its end (the usage) follows; it runs all the same when the
    edge goes away meanwhile (the request's usage record and log line are never lost)."""
    release = asyncio.Event()
    accounted: list[str] = []

    async def answer(request: router_pb2.CallRequest) -> Answered:
        async def account() -> router_pb2.StreamEnd:
            await release.wait()
            accounted.append(request.request_id)
            return router_pb2.StreamEnd(usage=router_pb2.Usage(output_tokens=7))

        return router_pb2.CallReply(status=200, body=b"whole", usage_follows=True), account

    session = RouterSession(answer, no_stream)
    forever = asyncio.Event()

    async def requests(ids: list[int]) -> AsyncIterator[router_pb2.Batch]:
        for call_id in ids:
            batch = router_pb2.Batch()
            batch.items.add(id=call_id, request=router_pb2.CallRequest(request_id=str(call_id)))
            yield batch
        await forever.wait()

    written = session.run(requests([1]))
    first = await asyncio.wait_for(anext(written), 5)
    assert [(e.id, e.reply.body, e.reply.usage_follows) for e in first.items] == [(1, b"whole", True)]
    assert not accounted  # the reply went while the accounting waited
    release.set()
    then = await asyncio.wait_for(anext(written), 5)
    assert [(e.id, e.HasField("end")) for e in then.items] == [(1, True)]
    assert then.items[0].end.usage.output_tokens == 7 and accounted == ["1"]
    await written.aclose()

    release.clear()
    session = RouterSession(answer, no_stream)
    written = session.run(requests([2]))
    first = await asyncio.wait_for(anext(written), 5)
    assert first.items[0].id == 2 and first.items[0].reply.usage_follows
    await written.aclose()  # the edge went away: the call's task is cancelled
    release.set()
    deadline = asyncio.get_running_loop().time() + 5
    while accounted != ["1", "2"]:
        assert asyncio.get_running_loop().time() < deadline, accounted
        await asyncio.sleep(0.01)


def held_stream(
    accounted: list[str], *, rest: asyncio.Event | None = None, accounting: asyncio.Event | None = None
) -> Callable[[router_pb2.CallRequest], AsyncGenerator[router_pb2.Frame | router_pb2.StreamEnd, None]]:
    """A stream answer: its head with b"first"; once ``rest`` is set, b"rest"; its last frame; then
    its accounting (noting the request's id in ``accounted``, once ``accounting`` is set) and end."""

    async def stream(
        request: router_pb2.CallRequest,
    ) -> AsyncGenerator[router_pb2.Frame | router_pb2.StreamEnd, None]:
        yield router_pb2.Frame(head=router_pb2.Head(status=200), data=b"first")
        if rest is not None:
            await rest.wait()
            yield router_pb2.Frame(data=b"rest")
        yield router_pb2.Frame(last=True)
        if accounting is not None:
            await accounting.wait()
        accounted.append(request.request_id)
        yield router_pb2.StreamEnd()

    return stream


async def test_the_accounting_waits_for_the_writer_to_take_the_answers_last_message() -> None:
    """gRPC writes one message at a time: the answer's last frame may wait behind one still being
    written. The request's accounting waits for it too, rather than run before the answer's end
    even leaves (it would delay the last bytes)."""
    more = asyncio.Event()
    accounted: list[str] = []
    session = RouterSession(no_answer, held_stream(accounted, rest=more))
    forever = asyncio.Event()

    async def requests() -> AsyncIterator[router_pb2.Batch]:
        batch = router_pb2.Batch()
        batch.items.add(id=1, request=router_pb2.CallRequest(request_id="1"), stream=True)
        yield batch
        await forever.wait()

    written = session.run(requests())
    first = await asyncio.wait_for(anext(written), 5)
    assert [e.frame.data for e in first.items] == [b"first"]
    more.set()  # the rest comes while the first message is being written
    await asyncio.sleep(0.05)
    assert not accounted
    second = await asyncio.wait_for(anext(written), 5)
    assert [(e.frame.data, e.frame.last) for e in second.items] == [(b"rest", False), (b"", True)]
    third = await asyncio.wait_for(anext(written), 5)
    assert [e.HasField("end") for e in third.items] == [True] and accounted == ["1"]
    await written.aclose()


async def test_a_streams_accounting_after_its_last_frame_is_never_cancelled() -> None:
    """Once a stream's last frame is out, the edge's cancel (its deadline passing) or its going away
    no longer cancels the call: the accounting (usage record, log line) runs to its end."""
    release = asyncio.Event()
    accounted: list[str] = []
    for edge_leaves in (False, True):
        release.clear()
        session = RouterSession(no_answer, held_stream(accounted, accounting=release))
        incoming: asyncio.Queue[router_pb2.Batch] = asyncio.Queue()

        async def requests(incoming: asyncio.Queue[router_pb2.Batch]) -> AsyncIterator[router_pb2.Batch]:
            while True:
                yield await incoming.get()

        call = router_pb2.Batch()
        call.items.add(id=1, request=router_pb2.CallRequest(request_id=str(edge_leaves)), stream=True)
        incoming.put_nowait(call)
        written = session.run(requests(incoming))
        first = await asyncio.wait_for(anext(written), 5)
        assert [e.frame.last for e in first.items] == [False, True]
        if edge_leaves:
            await written.aclose()  # what gRPC does when the edge's call goes
        else:
            cancel = router_pb2.Batch()
            cancel.items.add(id=1, cancel=True)
            incoming.put_nowait(cancel)
        await asyncio.sleep(0.05)
        release.set()
        if not edge_leaves:
            end = await asyncio.wait_for(anext(written), 5)
            assert [e.HasField("end") for e in end.items] == [True]
            await written.aclose()
        deadline = asyncio.get_running_loop().time() + 5
        while str(edge_leaves) not in accounted:
            assert asyncio.get_running_loop().time() < deadline, accounted
            await asyncio.sleep(0.01)
    assert accounted == ["False", "True"]


async def session_gauge(gateway: Gateway) -> str:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{gateway.base_url}/metrics")).text
    (line,) = [line for line in text.splitlines() if line.startswith("torouter_edge_router_session_open ")]
    return line.split()[1]


async def test_a_tcp_link_keeps_a_unary_call_per_request(one_upstream: MockOpenAI) -> None:
    async with Gateway(config_for(one_upstream), link="tcp") as gateway:
        reply = await client_of(gateway).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert reply.choices[0].message.content == "Mock reply to: Hello"
        assert gateway.router is not None and gateway.router.sessions.count == 0
        assert not gateway.edge_client.session_open
        assert await session_gauge(gateway) == "0.0"


async def test_metrics_say_whether_the_session_is_open(one_upstream: MockOpenAI) -> None:
    async with Gateway(config_for(one_upstream)) as gateway:
        await session_open(gateway)
        assert await session_gauge(gateway) == "1.0"
        await gateway.stop_router(grace=1)
        assert await session_gauge(gateway) == "0.0"
        await gateway.start_router()
        await session_open(gateway)
        assert await session_gauge(gateway) == "1.0"


# ---------------------------------------------------------------------------------------- streams


async def test_a_long_stream_reaches_a_slow_caller_whole(
    fresh: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several windows of frames: the edge grants credit as its caller reads, the router sends on."""
    await session_open(fresh.gateway)
    roads = record_roads(monkeypatch)
    words = [f"w{i}" for i in range(6000)]  # ~1 MB of SSE chunks, four windows and more
    stream = await fresh.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": " ".join(words)}], stream=True
    )
    text = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if len(text) % 500 == 0:
            await asyncio.sleep(0.01)  # a reader slower than the upstream
    assert "".join(text) == "Mock reply to: " + " ".join(words)
    assert roads == ["session"]


async def batches_from(incoming: asyncio.Queue[router_pb2.Batch]) -> AsyncIterator[router_pb2.Batch]:
    """What an edge writes on a session: the batches a test puts in the queue."""
    while True:
        yield await incoming.get()


def stream_call(call_id: int) -> router_pb2.Batch:
    """A batch with one call whose answer streams."""
    batch = router_pb2.Batch()
    batch.items.add(id=call_id, request=router_pb2.CallRequest(), stream=True)
    return batch


def frames_of(count: int, size: int) -> Any:
    async def stream(
        request: router_pb2.CallRequest,
    ) -> AsyncIterator[router_pb2.Frame | router_pb2.StreamEnd]:
        for _ in range(count):
            yield router_pb2.Frame(data=b"x" * size)
        yield router_pb2.StreamEnd()

    return stream


async def test_a_stream_sends_a_window_ahead_of_its_callers_credit() -> None:
    session = RouterSession(no_answer, frames_of(100, 10_000))  # 1 MB
    incoming: asyncio.Queue[router_pb2.Batch] = asyncio.Queue()
    await incoming.put(stream_call(7))
    sent: list[int] = []
    ended = asyncio.Event()

    async def collect() -> None:
        async for message in session.run(batches_from(incoming)):
            for item in message.items:
                sent.append(len(item.frame.data))
                if item.HasField("end"):
                    ended.set()

    running = asyncio.create_task(collect())
    await asyncio.sleep(0.1)
    assert STREAM_WINDOW <= sum(sent) < STREAM_WINDOW + 10_000  # then it waits
    credit = router_pb2.Batch()
    credit.items.add(id=7, credit=200_000)
    await incoming.put(credit)
    await asyncio.sleep(0.1)
    assert STREAM_WINDOW + 200_000 <= sum(sent) < STREAM_WINDOW + 210_000
    assert not ended.is_set()
    credit = router_pb2.Batch()
    credit.items.add(id=7, credit=10_000_000)
    await incoming.put(credit)
    await asyncio.wait_for(ended.wait(), 5)
    assert sum(sent) == 1_000_000
    running.cancel()


async def no_answer(request: router_pb2.CallRequest) -> Answered:
    raise AssertionError("no reply was asked for")


async def test_a_refused_stream_is_sent_again_as_a_stream_rpc() -> None:
    """Refused (the router is draining): read from a Stream RPC, within what is left of the deadline."""

    class FakeRPC:
        def __init__(self, timeout_s: float) -> None:
            self.timeout_s = timeout_s

        def __aiter__(self) -> AsyncIterator[router_pb2.Frame]:
            return self.frames()

        async def frames(self) -> AsyncIterator[router_pb2.Frame]:
            yield router_pb2.Frame(data=b"from the rpc")

        async def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
            usage = router_pb2.Usage(model="from-the-rpc", input_tokens=3)
            return (("torouter-error", "none"), ("torouter-usage-bin", usage.SerializeToString()))

    rpcs: list[FakeRPC] = []

    def fallback(timeout_s: float) -> Any:
        rpcs.append(FakeRPC(timeout_s))
        return rpcs[-1]

    session = EdgeSession(lambda batches: None)  # type: ignore[arg-type,return-value]
    stream = SessionStream(session, 1, asyncio.get_running_loop().time() + 30, fallback)
    assert stream.deliver(router_pb2.Envelope(id=1, refused=True))
    frames = [frame.data async for frame in stream]
    assert frames == [b"from the rpc"]
    assert len(rpcs) == 1 and 29 < rpcs[0].timeout_s <= 30
    assert await stream.usage() == router_pb2.Usage(model="from-the-rpc", input_tokens=3)


async def test_a_stream_read_again_goes_on_where_it_left_off() -> None:
    """As a gRPC call's: the edge stops reading at an answer's last frame and reads what follows
    (the end; a refused stream's Stream RPC) in the background."""

    class FakeRPC:
        def __aiter__(self) -> AsyncIterator[router_pb2.Frame]:
            return self.frames()

        async def frames(self) -> AsyncIterator[router_pb2.Frame]:
            yield router_pb2.Frame(data=b"whole", last=True)

        async def trailing_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
            return (("torouter-usage-bin", router_pb2.Usage(output_tokens=7).SerializeToString()),)

    session = EdgeSession(lambda batches: None)  # type: ignore[arg-type,return-value]
    refused = SessionStream(session, 1, asyncio.get_running_loop().time() + 30, lambda _: FakeRPC())  # type: ignore[arg-type,return-value]
    answered = SessionStream(session, 2, asyncio.get_running_loop().time() + 30, lambda _: None)  # type: ignore[arg-type,return-value]
    assert refused.deliver(router_pb2.Envelope(id=1, refused=True))
    assert not answered.deliver(router_pb2.Envelope(id=2, frame=router_pb2.Frame(data=b"all", last=True)))
    for stream in (refused, answered):
        async for frame in stream:
            assert frame.last
            break
    assert answered.deliver(router_pb2.Envelope(id=2, end=router_pb2.StreamEnd(usage={"output_tokens": 5})))

    async def rest(stream: SessionStream) -> list[router_pb2.Frame]:
        return [frame async for frame in stream]

    for stream in (refused, answered):
        assert await asyncio.wait_for(rest(stream), 5) == []
    assert (await refused.usage(), await answered.usage()) == (
        router_pb2.Usage(output_tokens=7),
        router_pb2.Usage(output_tokens=5),
    )


async def test_a_streams_usage_is_had_without_reading_on_after_its_last_frame() -> None:
    """Once the caller had the last frame, the edge waits for the end's usage alone (no task reading
    the stream on): it comes with the end, or None when the session is lost first; a stream whose
    end came already, or that went on as a Stream RPC, is read on instead."""
    loop = asyncio.get_running_loop()
    session = EdgeSession(lambda batches: None)  # type: ignore[arg-type,return-value]

    def answered(call_id: int) -> SessionStream:
        stream = SessionStream(session, call_id, loop.time() + 30, lambda _: None)  # type: ignore[arg-type,return-value]
        assert not stream.deliver(
            router_pb2.Envelope(id=call_id, frame=router_pb2.Frame(data=b"a", last=True))
        )
        return stream

    async def last_frame(stream: SessionStream) -> None:
        async for frame in stream:
            assert frame.last
            break

    ending, lost, ended = answered(1), answered(2), answered(3)
    for stream in (ending, lost, ended):
        await last_frame(stream)
    usage = ending.usage_later()
    assert usage is not None and not usage.done()
    assert ending.deliver(router_pb2.Envelope(id=1, end=router_pb2.StreamEnd(usage={"output_tokens": 5})))
    assert usage.result() == router_pb2.Usage(output_tokens=5)
    assert await ending.usage() == router_pb2.Usage(output_tokens=5)
    assert [frame async for frame in ending] == []
    usage = lost.usage_later()
    assert usage is not None
    lost.fail(failure(grpc.StatusCode.UNAVAILABLE, "gone"))
    assert usage.result() is None
    assert ended.deliver(router_pb2.Envelope(id=3, end=router_pb2.StreamEnd()))
    assert ended.usage_later() is None


async def test_a_streams_usage_after_its_last_frame_outlives_its_deadline() -> None:
    """The caller had the whole answer: a deadline passing before the end comes abandons nothing,
    and the end's usage is still counted (as a reply's is, whose deadline ends with its reply)."""
    loop = asyncio.get_running_loop()
    session = EdgeSession(lambda batches: None)  # type: ignore[arg-type,return-value]
    abandoned: list[int] = []
    session.abandon = abandoned.append  # type: ignore[method-assign,assignment]
    stream = SessionStream(session, 4, loop.time() + 0.05, lambda _: None)  # type: ignore[arg-type,return-value]
    stream.deliver(router_pb2.Envelope(id=4, frame=router_pb2.Frame(data=b"all", last=True)))
    async for frame in stream:
        assert frame.last
        break
    usage = stream.usage_later()
    assert usage is not None
    await asyncio.sleep(0.15)
    assert abandoned == [] and not usage.done()
    assert stream.deliver(router_pb2.Envelope(id=4, end=router_pb2.StreamEnd(usage={"output_tokens": 3})))
    assert usage.result() == router_pb2.Usage(output_tokens=3)


async def test_a_stream_in_a_session_that_breaks_ends_with_unavailable() -> None:
    session = EdgeSession(lambda batches: None)  # type: ignore[arg-type,return-value]
    stream = SessionStream(session, 1, asyncio.get_running_loop().time() + 30, lambda _: None)  # type: ignore[arg-type,return-value]
    assert not stream.deliver(router_pb2.Envelope(id=1, frame=router_pb2.Frame(data=b"first")))
    stream.fail(failure(grpc.StatusCode.UNAVAILABLE, "gone"))
    seen: list[bytes] = []

    async def read() -> None:
        async for frame in stream:
            seen.append(frame.data)

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await read()
    assert seen == [b"first"] and info.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_a_stream_past_its_deadline_is_abandoned_and_ends_with_deadline_exceeded() -> None:
    session = EdgeSession(lambda batches: None)  # type: ignore[arg-type,return-value]
    abandoned: list[int] = []
    session.abandon = abandoned.append  # type: ignore[method-assign,assignment]
    loop = asyncio.get_running_loop()
    stream = SessionStream(session, 5, loop.time() + 0.1, lambda _: None)  # type: ignore[arg-type,return-value]
    stream.deliver(router_pb2.Envelope(id=5, frame=router_pb2.Frame(data=b"first")))
    seen: list[bytes] = []

    async def read() -> None:
        async for frame in stream:
            seen.append(frame.data)

    started = loop.time()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await asyncio.wait_for(read(), 5)
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert seen == [b"first"] and abandoned == [5]
    assert 0.05 < loop.time() - started < 2
    assert not stream.cancel()  # already over


def test_a_routers_unix_socket_has_no_max_connection_age() -> None:
    """Over TCP, connections age out so that edges resolve the routers' name again; a session on
    a Unix socket (one router, nothing to resolve) would be cut at the end of the age's grace."""
    tcp = RouterConfig(listen="127.0.0.1:50051", max_connection_age_s=20)
    assert ("grpc.max_connection_age_ms", 20_000) in server_options(tcp)
    unix = replace(tcp, listen="unix:/run/torouter/router-0.sock")
    assert not [name for name, _ in server_options(unix) if name.startswith("grpc.max_connection_age")]


async def test_calls_queued_when_the_drain_is_read_go_as_rpcs_and_the_edge_says_drained() -> None:
    session = EdgeSession(lambda batches: None)  # type: ignore[arg-type,return-value]
    session._usable = True  # as once the router's headers came
    queued = asyncio.create_task(session.call(router_pb2.CallRequest(body=b"{}"), 5))
    await asyncio.sleep(0)  # in the outbox, not yet written

    async def from_router() -> AsyncIterator[router_pb2.Batch]:
        yield router_pb2.Batch(draining=True)

    await session._read(from_router())  # type: ignore[arg-type]
    assert not session.usable
    message = session._take()
    assert message.drained and not message.items  # the queued call is not sent into the drain
    assert await asyncio.wait_for(queued, 5) is None  # refused: the client sends it as an RPC


async def test_a_stream_abandoned_while_it_waits_for_credit_closes_its_answer() -> None:
    closed = asyncio.Event()

    async def stream(
        request: router_pb2.CallRequest,
    ) -> AsyncGenerator[router_pb2.Frame | router_pb2.StreamEnd, None]:
        try:
            while True:  # more than a window: it waits for credit that never comes
                yield router_pb2.Frame(data=b"x" * 100_000)
        finally:
            closed.set()  # where the upstream response closes and the request is logged

    session = RouterSession(no_answer, stream)
    incoming: asyncio.Queue[router_pb2.Batch] = asyncio.Queue()
    await incoming.put(stream_call(3))

    async def collect() -> None:
        async for _ in session.run(batches_from(incoming)):
            pass

    running = asyncio.create_task(collect())
    await asyncio.sleep(0.1)
    assert not closed.is_set()
    cancel = router_pb2.Batch()
    cancel.items.add(id=3, cancel=True)
    await incoming.put(cancel)
    await asyncio.wait_for(closed.wait(), 5)
    running.cancel()


async def test_a_mixed_crowd_leaves_the_session_clean(fresh: Stack) -> None:
    """Calls, streams, callers that go away mid-call or mid-stream, all at once: every answer
    arrives whole or is abandoned, and nothing stays behind on either end of the session."""
    await session_open(fresh.gateway)
    client = fresh.client()
    url = f"{fresh.gateway.base_url}/v1/chat/completions"
    auth = {"authorization": f"Bearer {KEYS['openai']}"}
    fresh.upstream.chunk_delay_s = 0.002

    async def call(i: int) -> str:
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"call {i}"}]
        )
        return reply.choices[0].message.content or ""

    async def stream(i: int) -> str:
        answer = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"stream {i} a b c"}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in answer if c.choices])

    async def leave(i: int, streaming: bool) -> None:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"gone {i} x y z"}]}
        async with httpx.AsyncClient() as http:
            if streaming:
                async with http.stream("POST", url, json={**body, "stream": True}, headers=auth) as response:
                    async for _ in response.aiter_raw():
                        break  # the first piece, then away
            else:
                try:
                    await http.post(url, json=body, headers=auth, timeout=0.001)
                except httpx.TimeoutException:
                    pass

    jobs = []
    for i in range(30):
        jobs += [call(i), stream(i), leave(i, streaming=True), leave(i, streaming=False)]
    try:
        results = await asyncio.gather(*jobs)
    finally:
        fresh.upstream.chunk_delay_s = 0.0
    for i in range(30):
        assert results[4 * i] == f"Mock reply to: call {i}"
        assert results[4 * i + 1] == f"Mock reply to: stream {i} a b c"
    router = fresh.gateway.router
    assert router is not None
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        (session,) = router.sessions._open
        edge = fresh.gateway.edge_client._session
        assert edge is not None
        leftover = (len(session._calls), len(session._windows), len(edge._waiting), len(edge._outbox))
        if leftover == (0, 0, 0, 0):
            break
        assert asyncio.get_running_loop().time() < deadline, leftover
        await asyncio.sleep(0.05)
    assert fresh.gateway.edge_client.session_open


# ---------------------------------------------------------------------------- the answer, then the accounting


def hold_the_accounting(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, list[Any]]:
    """The router's accounting of each request (``Dispatcher._finish``: limits charged, usage
    recorded, line logged) waits until the event is set; the list gets each request's context
    once it is done."""
    assert gateway.router is not None
    dispatcher = gateway.router.app.dispatcher
    real = dispatcher._finish
    release = asyncio.Event()
    done: list[Any] = []

    async def held(ctx: Any, outcome: Any) -> None:
        await release.wait()
        await real(ctx, outcome)
        done.append(ctx)

    monkeypatch.setattr(dispatcher, "_finish", held)
    return release, done


async def read_stream(gateway: Gateway, key: str) -> bytes:
    """A chat stream's whole body, read raw on a connection closed right after it."""
    async with (
        httpx.AsyncClient() as http,
        http.stream(
            "POST",
            f"{gateway.base_url}/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
            headers={"authorization": f"Bearer {key}"},
        ) as reply,
    ):
        assert reply.status_code == 200
        return await reply.aread()


def output_tokens(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("torouter_tokens_total{") and 'kind="output"' in line
    )


async def call_whole(gateway: Gateway, key: str) -> str:
    """A chat call's answer (not streamed), through the OpenAI SDK on the session."""
    client = openai.AsyncOpenAI(api_key=key, base_url=f"{gateway.base_url}/v1", max_retries=0)
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    await client.close()
    return reply.choices[0].message.content or ""


@pytest.mark.parametrize("streamed", [True, False])
async def test_a_callers_whole_answer_comes_before_the_routers_accounting(
    fresh: Stack, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """A stream's last frame says so (``Frame.last``), a reply too (``usage_follows``): the edge
    ends the answer at once and counts the usage when the end comes, in the background (the
    session keeps nothing behind once it came). The caller, gone right after, cancels nothing:
    the accounting is whole, and ``/metrics`` counts it."""
    gateway = fresh.gateway
    await session_open(gateway)
    async with httpx.AsyncClient() as http:
        before = output_tokens((await http.get(f"{gateway.base_url}/metrics")).text)
    release, done = hold_the_accounting(gateway, monkeypatch)
    if streamed:
        body = await asyncio.wait_for(read_stream(gateway, KEYS["openai"]), 10)
        assert body.rstrip().endswith(b"data: [DONE]") and b"Mock" in body
    else:
        assert await asyncio.wait_for(call_whole(gateway, KEYS["openai"]), 10) == "Mock reply to: Hello"
    assert not done  # the answer was whole while the accounting waited
    edge = gateway.edge_client._session
    assert edge is not None and len(edge._waiting) == 1  # its end is still to come
    release.set()
    async with httpx.AsyncClient() as http:  # /metrics counts every answer its callers had
        after = output_tokens((await http.get(f"{gateway.base_url}/metrics")).text)
    assert len(done) == 1
    ctx = done[0]
    assert ctx.stream == streamed and ctx.error_code == ""
    assert ctx.tokens is not None and ctx.tokens.output > 0
    assert after - before == ctx.tokens.output
    assert not edge._waiting


async def test_with_another_caller_at_the_edge_the_answer_waits_for_its_accounting(
    fresh: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request the edge is still reading (a slow upload: not at the router yet) is load the
    router cannot see: the edge says the call is not alone, and its answer goes with its usage."""
    gateway = fresh.gateway
    await session_open(gateway)
    host, port = gateway.base_url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer " + KEYS["openai"].encode() + b"\r\ncontent-length: 100\r\n\r\n{"
    )
    await writer.drain()
    await asyncio.sleep(0.2)  # its handler reads the body
    release, done = hold_the_accounting(gateway, monkeypatch)
    try:
        calling = asyncio.create_task(call_whole(gateway, KEYS["openai"]))
        await asyncio.sleep(0.5)
        assert not calling.done() and not done
        release.set()
        assert await asyncio.wait_for(calling, 10) == "Mock reply to: Hello" and len(done) == 1
    finally:
        writer.close()
    deadline = asyncio.get_running_loop().time() + 5
    while edge_middleware._in_flight:  # the edge sees the slow caller go
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    release.clear()  # a call alone again: its answer goes first
    assert await asyncio.wait_for(call_whole(gateway, KEYS["openai"]), 10) == "Mock reply to: Hello"
    assert len(done) == 1
    release.set()


async def answers_wait_for_the_accounting(
    gateway: Gateway, key: str, release: asyncio.Event, done: list[Any]
) -> None:
    """A stream's answer, then a whole one, each still unanswered while the router's accounting
    is held (``hold_the_accounting``), and whole once it is released."""
    reading = asyncio.create_task(read_stream(gateway, key))
    await asyncio.sleep(0.5)
    assert not reading.done() and not done
    release.set()
    body = await asyncio.wait_for(reading, 10)
    assert body.rstrip().endswith(b"data: [DONE]") and len(done) == 1
    release.clear()  # and a whole answer alike
    calling = asyncio.create_task(call_whole(gateway, key))
    await asyncio.sleep(0.5)
    assert not calling.done() and len(done) == 1
    release.set()
    assert await asyncio.wait_for(calling, 10) == "Mock reply to: Hello" and len(done) == 2


@pytest.mark.parametrize("rule", [{"tpm": 1_000_000}, {"spend_cap_usd": 100.0}])
async def test_a_key_whose_next_request_waits_for_the_accounting_has_its_answer_after_it(
    one_upstream: MockOpenAI, monkeypatch: pytest.MonkeyPatch, rule: dict[str, Any]
) -> None:
    """A token limit is charged, a spend cap's spend added, in the accounting: the answer ends
    after it, so that the key's next request sees what this one used."""
    config = config_for(one_upstream)
    config["keys"][0].update(rule)
    async with Gateway(config) as gateway:
        await session_open(gateway)
        release, done = hold_the_accounting(gateway, monkeypatch)
        await answers_wait_for_the_accounting(gateway, "tr-session-key", release, done)


async def in_flight_is(gateway: Gateway, count: int) -> None:
    assert gateway.router is not None
    dispatcher = gateway.router.app.dispatcher
    deadline = asyncio.get_running_loop().time() + 5
    while dispatcher._in_flight != count:
        assert asyncio.get_running_loop().time() < deadline, f"{dispatcher._in_flight} in flight"
        await asyncio.sleep(0.01)


async def test_with_another_request_in_flight_the_answer_ends_with_its_accounting(
    fresh: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router's core is busy anyway: the end goes with the last bytes (one message), and the
    answer ends after the accounting. A request whose caller went away counts as over."""
    gateway = fresh.gateway
    await session_open(gateway)
    fresh.upstream.enqueue(Fault.stall())
    async with httpx.AsyncClient() as http:
        stalled = asyncio.create_task(
            http.post(
                f"{gateway.base_url}/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": MESSAGES},
                headers={"authorization": f"Bearer {KEYS['openai']}"},
                timeout=30,
            )
        )
        await in_flight_is(gateway, 1)  # the stalled one
        release, done = hold_the_accounting(gateway, monkeypatch)
        await answers_wait_for_the_accounting(gateway, KEYS["openai"], release, done)
        stalled.cancel()  # its caller goes away: the router's request is cancelled
        with pytest.raises(asyncio.CancelledError):
            await stalled
    await in_flight_is(gateway, 0)
