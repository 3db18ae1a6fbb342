"""The router's end of a Session: many calls on one long-lived gRPC call.

A unary call costs each side about five gRPC completions (the call, its message, the headers, the
reply with its status, the close), each handed from gRPC's poller thread to the event loop; on a
session, a message carries every call (or answer) ready when it is written, so a busy edge and
router pay one completion for several calls. The edge opens one session per link to the router
of its host (edge/session.py) and keeps per-call RPCs for everything else.

A call's answer is a reply, or (``Envelope.stream``) frames then an end, as the Stream RPC's. A
reply sent before the request's accounting (the request alone, at the edge and here:
``Dispatcher._answers_first``) says so (``CallReply.usage_follows``), and an end with its usage
follows once the accounting is done. An answer's last message (that reply, or a stream's last
frame) is taken by the writer before the accounting begins (``_sent``), and from then on neither
an ``Envelope.cancel`` nor the edge going away cancels the call (``_accounting``).

What a unary call gets from gRPC, a session does here:
- cancellation: an ``Envelope.cancel`` from the edge (its caller went away, or its deadline
  passed) cancels that call's task, and with it the upstream request;
- deadlines: each call carries the caller's (``CallRequest.deadline_unix_ms``), which the
  dispatcher applies as for a unary call; the edge gives up at it too;
- draining: a stopping router tells each session (``Batch.draining``), answers the calls it has,
  refuses the ones that come after (``Envelope.refused``: never begun, so the edge sends them
  again by a unary call, which reaches the next router) until the edge says it sends no more
  (``Batch.drained``: a call written before it is refused, never lost), then ends the session;
- flow control per stream: at most ``STREAM_WINDOW`` bytes of a stream's frames travel ahead of
  what its caller took (the edge grants ``Envelope.credit`` as it writes them), so a slow caller
  holds back its own stream only, and the edge's buffer stays bounded;
- an edge that goes away: the session's call is cancelled, and its calls' tasks with it (but
  those whose answer is out, in their accounting).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from torouter.proto.v1 import router_pb2

log = logging.getLogger("torouter.router")

# A message is flushed once this many bytes of bodies are in it (the rest follow in the next):
# far below gRPC's message limit, and a large answer does not hold the others back for long.
BATCH_BYTES = 4 * 1024 * 1024
# How many bytes of a stream's frames may travel ahead of what its caller took.
STREAM_WINDOW = 256 * 1024

# A request's accounting after its answer went: gives the end that carries its usage.
Accounting = Callable[[], Awaitable[router_pb2.StreamEnd]]
# A call's whole answer, and its accounting when that is left for after the answer is sent
# (``CallReply.usage_follows``).
Answered = tuple[router_pb2.CallReply, Accounting | None]
Answer = Callable[[router_pb2.CallRequest], Awaitable[Answered]]
StreamAnswer = Callable[
    [router_pb2.CallRequest], AsyncGenerator[router_pb2.Frame | router_pb2.StreamEnd, None]
]


class Sessions:
    """The sessions open on this router, so that a stopping router can drain them."""

    def __init__(self) -> None:
        self._open: set[RouterSession] = set()
        self.draining = False

    def add(self, session: RouterSession) -> None:
        if self.draining:
            session.drain()
        self._open.add(session)

    def discard(self, session: RouterSession) -> None:
        self._open.discard(session)

    def drain(self) -> None:
        self.draining = True
        for session in self._open:
            session.drain()

    @property
    def count(self) -> int:
        return len(self._open)


@dataclass(slots=True)
class Out:
    """One envelope to write (built in the message itself when it is written)."""

    id: int
    reply: router_pb2.CallReply | None = None
    frame: router_pb2.Frame | None = None
    end: router_pb2.StreamEnd | None = None
    refused: bool = False
    failed: bool = False
    taken: asyncio.Future[None] | None = None  # set once the writer took it (its message is written)

    @property
    def size(self) -> int:
        if self.reply is not None:
            return len(self.reply.body)
        return len(self.frame.data) if self.frame is not None else 0


class Window:
    """A stream's flow control: bytes sent ahead of the edge's credit."""

    __slots__ = ("_room", "ahead")

    def __init__(self) -> None:
        self.ahead = 0
        self._room = asyncio.Event()

    async def take(self, size: int) -> None:
        while self.ahead >= STREAM_WINDOW:
            self._room.clear()
            await self._room.wait()
        self.ahead += size

    def credit(self, size: int) -> None:
        self.ahead -= size
        if self.ahead < STREAM_WINDOW:
            self._room.set()


class RouterSession:
    """One session: reads the edge's batches, runs each call in its own task, and writes the
    answers back as they are ready, several to a message when several are."""

    def __init__(self, answer: Answer, stream: StreamAnswer) -> None:
        self._answer = answer
        self._stream = stream
        self._calls: dict[int, asyncio.Task[None]] = {}
        # calls whose answer is out, doing their accounting: neither the edge's cancel nor its
        # going away cancels them (their usage record and log line are never lost)
        self._accounting: set[int] = set()
        self._windows: dict[int, Window] = {}
        self._outbox: list[Out] = []
        self._wake = asyncio.Event()
        self._edge_done = False  # the edge sends no more calls (it said so, or its side closed)
        self._draining = False
        self._announce_drain = False

    async def run(self, requests: AsyncIterator[router_pb2.Batch]) -> AsyncIterator[router_pb2.Batch]:
        """The messages to write: serves the session until the edge sends no more calls (its side
        closed, or it said so after a drain) and every call has been answered. Closed early (the
        edge went away): every call is cancelled."""
        reader = asyncio.create_task(self._read(requests))
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if len(self._calls) > 1:
                    # Other calls in flight may have their answers ready within this turn of the
                    # loop: they go in the same message (one gRPC write, not one each). With one
                    # call in flight, it goes at once.
                    await asyncio.sleep(0)
                while self._outbox or self._announce_drain:
                    yield self._take()
                if self._edge_done and not self._calls:
                    return
        finally:
            reader.cancel()
            for out in self._outbox:  # never written: nobody waits for it
                if out.taken is not None and not out.taken.done():
                    out.taken.set_result(None)
            for call_id, task in self._calls.items():
                if call_id not in self._accounting:
                    task.cancel()

    def drain(self) -> None:
        """Take no new calls (refuse them); end once the edge says none follows and those begun
        are answered."""
        if self._draining:
            return
        self._draining = self._announce_drain = True
        self._wake.set()

    async def _read(self, requests: AsyncIterator[router_pb2.Batch]) -> None:
        try:
            async for batch in requests:
                for envelope in batch.items:
                    self._receive(envelope)
                if batch.drained:
                    self._edge_done = True
                    self._wake.set()
                # The calls begin (and reach their upstreams) before gRPC is asked for the next
                # message (an operation that would otherwise sit on each call's path).
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception:  # the stream broke: the session's call ends, and run() with it
            log.debug("session read ended", exc_info=True)
        self._edge_done = True
        self._wake.set()

    def _receive(self, envelope: router_pb2.Envelope) -> None:
        call_id = envelope.id
        if envelope.credit:
            window = self._windows.get(call_id)
            if window is not None:
                window.credit(envelope.credit)
            return
        if envelope.cancel:
            task = self._calls.get(call_id)
            if task is not None and call_id not in self._accounting:
                task.cancel()
            return
        if self._draining:
            self._send(Out(call_id, refused=True))
            return
        serve = self._serve_stream if envelope.stream else self._serve
        self._calls[call_id] = asyncio.create_task(serve(call_id, envelope.request))

    async def _serve(self, call_id: int, request: router_pb2.CallRequest) -> None:
        accounting: Accounting | None = None
        try:
            reply, accounting = await self._answer(request)
            if accounting is None:
                self._send(Out(call_id, reply=reply))
            else:
                self._accounting.add(call_id)  # from here on, the edge going away cancels nothing
                await self._sent(Out(call_id, reply=reply))  # then the request's accounting
        except asyncio.CancelledError:
            return  # abandoned by the edge (or the session is gone): nobody waits for an answer
        except Exception:
            log.exception("call failed", extra={"request_id": request.request_id})
            self._send(Out(call_id, failed=True))
        finally:
            if accounting is not None:
                await self._account(call_id, accounting, request.request_id)
            self._done(call_id)

    async def _account(self, call_id: int, accounting: Accounting, request_id: str) -> None:
        """Runs a request's accounting after its reply, then sends the end its edge waits for."""
        end = router_pb2.StreamEnd()
        try:
            end = await accounting()
        except Exception:
            log.exception("accounting failed", extra={"request_id": request_id})
        finally:
            self._accounting.discard(call_id)
            self._send(Out(call_id, end=end))

    async def _serve_stream(self, call_id: int, request: router_pb2.CallRequest) -> None:
        window = self._windows[call_id] = Window()
        answer = self._stream(request)
        try:
            async for item in answer:
                if isinstance(item, router_pb2.Frame):
                    await window.take(len(item.data))
                    if item.last:  # (sent only with no other call in flight: Dispatcher._logged)
                        self._accounting.add(call_id)  # the answer is out: nothing cancels the rest
                        await self._sent(Out(call_id, frame=item))  # then the request's accounting
                    else:
                        self._send(Out(call_id, frame=item))
                else:
                    self._send(Out(call_id, end=item))
        except asyncio.CancelledError:
            return
        except Exception:
            log.exception("call failed", extra={"request_id": request.request_id})
            self._send(Out(call_id, failed=True))
        finally:
            # closed here, not left to the collector: the upstream stream closes, and the
            # request's usage and log line are written, as soon as the call is abandoned
            await answer.aclose()
            self._accounting.discard(call_id)
            self._windows.pop(call_id, None)
            self._done(call_id)

    def _done(self, call_id: int) -> None:
        self._calls.pop(call_id, None)
        if self._edge_done and not self._calls:
            self._wake.set()

    def _send(self, out: Out) -> None:
        self._outbox.append(out)
        self._wake.set()

    async def _sent(self, out: Out) -> None:
        """Sends the last of an answer, and waits until the writer took it: the request's
        accounting waits for a write still in flight too (gRPC writes one message at a time)
        rather than run before the answer's last message even leaves."""
        out.taken = asyncio.get_running_loop().create_future()
        self._send(out)
        await out.taken

    def _take(self) -> router_pb2.Batch:
        """The next message: envelopes from the outbox up to ``BATCH_BYTES`` of bodies (one at
        least), with the drain notice when it is due."""
        batch = router_pb2.Batch(draining=self._announce_drain)
        self._announce_drain = False
        taken = size = 0
        for out in self._outbox:
            if taken and size + out.size > BATCH_BYTES:
                break
            size += out.size
            taken += 1
            if out.taken is not None and not out.taken.done():
                out.taken.set_result(None)
            if out.reply is not None:
                batch.items.add(id=out.id, reply=out.reply)
            elif out.frame is not None:
                batch.items.add(id=out.id, frame=out.frame)
            elif out.end is not None:
                batch.items.add(id=out.id, end=out.end)
            else:
                batch.items.add(id=out.id, refused=out.refused, failed=out.failed)
        del self._outbox[:taken]
        return batch
