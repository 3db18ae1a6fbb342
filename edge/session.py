"""The edge's end of a Session: its calls to the router of its host, many on one long-lived gRPC
call (the router's end, and why: router/session.py).

The session is a faster road, never the only one: while it is not open (starting, the router
restarting, draining) the client sends a call as a unary RPC (or a Stream RPC), with gRPC's
retries and round robin. A call the router refused (draining: never begun) is also sent again that
way. A call that was in the session when it broke may have begun: it fails as a unary call that had
its headers does (UNAVAILABLE, a 503 the SDKs retry, or the stream's error event), never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

import grpc

from torouter.proto.v1 import router_pb2

log = logging.getLogger("torouter.edge")

USAGE_METADATA = "torouter-usage-bin"  # as the Stream RPC's trailing metadata (router/server.py)
# A message is written once this many bytes of bodies are in it (the rest follow in the next).
BATCH_BYTES = 4 * 1024 * 1024
# Calls larger than this go as their own RPCs: a large upload would hold the session's others back.
MAX_SESSION_BODY_BYTES = 256 * 1024
# A stream's credit is granted once its caller took this many bytes (the router lets a window of
# 256 KiB travel ahead, router/session.py: a step well inside it keeps the stream flowing).
CREDIT_STEP = 64 * 1024
REOPEN_MIN_S = 0.02  # a session that ended is opened again after this, doubling up to the max
REOPEN_MAX_S = 1.0

Batches = AsyncIterator[router_pb2.Batch]
# A whole answer, and its usage when it follows the answer (``CallReply.usage_follows``).
Replied = tuple[router_pb2.CallReply, "asyncio.Future[router_pb2.Usage | None] | None"]
Open = Callable[[Batches], "grpc.aio.StreamStreamCall[router_pb2.Batch, router_pb2.Batch]"]
StreamRPC = Callable[[float], "grpc.aio.UnaryStreamCall[router_pb2.CallRequest, router_pb2.Frame]"]


def failure(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    """An error as a unary call would have raised it, so that callers handle both alike."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details, None)


async def reported_usage(
    call: grpc.aio.UnaryStreamCall[router_pb2.CallRequest, router_pb2.Frame],
) -> router_pb2.Usage | None:
    """The usage a Stream RPC reported in its trailing metadata (None: none)."""
    for key, value in await call.trailing_metadata() or ():
        if key == USAGE_METADATA and isinstance(value, bytes):
            return router_pb2.Usage.FromString(value)
    return None


def failed_in_router() -> grpc.aio.AioRpcError:
    return failure(grpc.StatusCode.UNKNOWN, "the call failed inside the router")


class Refused(Exception):
    """The router did not begin the call (it is draining): send it again another way."""


class Pending(Protocol):
    """A call in the session, waiting for its answer."""

    def deliver(self, envelope: router_pb2.Envelope) -> bool:
        """Takes an envelope of the answer; True when the answer is complete."""
        ...

    def fail(self, error: BaseException) -> None: ...


class ReplyWaiter:
    """A non-streaming call's answer: one reply, then (``CallReply.usage_follows``) the end that
    carries its usage (``usage``: None when it reported none, or when the session was lost)."""

    __slots__ = ("future", "usage")

    def __init__(self) -> None:
        self.future: asyncio.Future[router_pb2.CallReply] = asyncio.get_running_loop().create_future()
        self.usage: asyncio.Future[router_pb2.Usage | None] | None = None

    def deliver(self, envelope: router_pb2.Envelope) -> bool:
        if envelope.HasField("reply"):
            reply = envelope.reply
            if reply.usage_follows:
                self.usage = self.future.get_loop().create_future()
            if not self.future.done():
                self.future.set_result(reply)
            return self.usage is None
        if envelope.HasField("end") and self.usage is not None:
            end = envelope.end
            if not self.usage.done():
                self.usage.set_result(end.usage if end.HasField("usage") else None)
            return True
        self.fail(Refused() if envelope.refused else failed_in_router())
        return True

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)
        if self.usage is not None and not self.usage.done():
            self.usage.set_result(None)  # the answer went: only its usage is lost


class SessionStream:
    """A streamed answer on the session, read as a Stream RPC's call is (``forward._stream``):
    frames, then the trailing metadata; ``cancel`` abandons it. Refused by the router, it is sent
    again as a Stream RPC and read from there. Its own iterator (no async generator, no queue):
    read again, it goes on where the last reading left off, as a gRPC call's does."""

    def __init__(self, session: EdgeSession, call_id: int, deadline: float, fallback: StreamRPC) -> None:
        self._session = session
        self._id = call_id
        self._deadline = deadline
        self._fallback = fallback
        self._rpc: grpc.aio.UnaryStreamCall[router_pb2.CallRequest, router_pb2.Frame] | None = None
        self._rpc_frames: AsyncIterator[router_pb2.Frame] | None = None
        self._items: deque[router_pb2.Frame | router_pb2.StreamEnd | BaseException] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._end: router_pb2.StreamEnd | None = None
        self.ended = False  # the end came (it may not have been read yet)
        self._over = False
        self._read_out = False  # the reading is over (the end, or an error, was read)
        self._untold = 0  # bytes the caller took that the router was not told of yet
        self._handed = 0  # bytes of the frame last handed out (taken once the caller reads on)
        self._usage_later: asyncio.Future[router_pb2.Usage | None] | None = None
        # one timer for the whole stream (cheaper than a timeout around each frame's wait)
        self._expiry = asyncio.get_running_loop().call_at(deadline, self._expire)

    def deliver(self, envelope: router_pb2.Envelope) -> bool:
        if envelope.HasField("frame"):
            self._put(envelope.frame)
            return False
        if envelope.HasField("end"):
            self.ended = True
            later = self._usage_later
            if later is None:
                self._put(envelope.end)
                return True
            self._over = self._read_out = True  # nobody reads on: only the usage was waited for
            self._expiry.cancel()
            self._end = envelope.end
            if not later.done():
                later.set_result(envelope.end.usage if envelope.end.HasField("usage") else None)
            return True
        self.fail(Refused() if envelope.refused else failed_in_router())
        return True

    def fail(self, error: BaseException) -> None:
        later = self._usage_later
        if later is not None and not later.done():
            later.set_result(None)  # the answer went: only its usage is lost
        self._put(error)

    def usage_later(self) -> asyncio.Future[router_pb2.Usage | None] | None:
        """Once the caller had the answer's last frame: the usage its end will report, without
        reading on (None when the end came already or will not come on the session: read on)."""
        if self._rpc is not None or self.ended or self._read_out or self._items:
            return None
        # The answer is out: its deadline no longer applies (the router's accounting is never
        # cancelled and its end always comes, or the session is lost), as for a reply's usage.
        self._expiry.cancel()
        self._usage_later = asyncio.get_running_loop().create_future()
        return self._usage_later

    def _put(self, item: router_pb2.Frame | router_pb2.StreamEnd | BaseException) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> SessionStream:
        return self

    async def __anext__(self) -> router_pb2.Frame:
        if self._handed:  # the caller took the last frame: the router may send more
            self._took(self._handed)
            self._handed = 0
        if self._rpc_frames is not None:
            return await self._rpc_frames.__anext__()
        if self._read_out:
            raise StopAsyncIteration
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if isinstance(item, router_pb2.Frame):
            self._handed = len(item.data)
            return item
        self._over = True
        self._expiry.cancel()
        if isinstance(item, Refused):
            loop = asyncio.get_running_loop()
            self._rpc = self._fallback(max(0.0, self._deadline - loop.time()))
            self._rpc_frames = self._rpc.__aiter__()
            return await self._rpc_frames.__anext__()
        self._read_out = True
        if isinstance(item, router_pb2.StreamEnd):
            self._end = item
            raise StopAsyncIteration
        raise item

    def _expire(self) -> None:
        if self.cancel():
            self.fail(failure(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))

    def _took(self, size: int) -> None:
        self._untold += size
        if self._untold >= CREDIT_STEP:
            self._session.send(Send(self._id, credit=self._untold))
            self._untold = 0

    async def usage(self) -> router_pb2.Usage | None:
        """The usage the answer's end reported (None: none, or the answer is not over)."""
        if self._rpc is not None:
            return await reported_usage(self._rpc)
        end = self._end
        return end.usage if end is not None and end.HasField("usage") else None

    def cancel(self) -> bool:
        if self._rpc is not None:
            return self._rpc.cancel()
        if self._over:
            return False
        self._over = True
        self._expiry.cancel()
        self._session.abandon(self._id)
        return True


@dataclass(slots=True)
class Send:
    """One envelope to write (built in the message itself when it is written)."""

    id: int
    request: router_pb2.CallRequest | None = None
    stream: bool = False
    cancel: bool = False
    credit: int = 0


class EdgeSession:
    """Keeps one session open (opening it again when it ends) and multiplexes calls on it."""

    def __init__(self, open_call: Open) -> None:
        self._open_call = open_call
        self._call: grpc.aio.StreamStreamCall[router_pb2.Batch, router_pb2.Batch] | None = None
        self._usable = False
        self._ids = itertools.count(1)
        self._waiting: dict[int, Pending] = {}
        self._outbox: list[Send] = []
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._say_drained = False  # the router drains: tell it no call follows

    @property
    def usable(self) -> bool:
        return self._usable

    def start(self) -> None:
        if self._keeper is None:
            self._keeper = asyncio.get_running_loop().create_task(self._keep())

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None

    @staticmethod
    def takes(request: router_pb2.CallRequest) -> bool:
        """Whether a call may go on the session (small, without files)."""
        return not request.files and len(request.body) <= MAX_SESSION_BODY_BYTES

    async def call(self, request: router_pb2.CallRequest, timeout_s: float) -> Replied | None:
        """The router's reply, and its usage when that follows (``ReplyWaiter``); None when the
        session cannot take the call (send it as a unary RPC). Raises ``grpc.aio.AioRpcError`` as a
        unary call would (deadline, session lost)."""
        if not self._usable or not self.takes(request):
            return None
        call_id = next(self._ids)
        waiter = ReplyWaiter()
        self._waiting[call_id] = waiter
        self.send(Send(call_id, request))
        expiry = asyncio.get_running_loop().call_later(timeout_s, self._expire, call_id, waiter)
        try:
            return await waiter.future, waiter.usage
        except Refused:
            return None
        except asyncio.CancelledError:
            self.abandon(call_id)
            raise
        finally:
            expiry.cancel()

    def _expire(self, call_id: int, waiter: ReplyWaiter) -> None:
        """A call's deadline passed: abandoned, and failed as a unary call's would."""
        self.abandon(call_id)
        waiter.fail(failure(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))

    def stream(
        self, request: router_pb2.CallRequest, timeout_s: float, fallback: StreamRPC
    ) -> SessionStream | None:
        """A call whose answer may stream, read as a Stream RPC's; None when the session cannot
        take it (send it as a Stream RPC)."""
        if not self._usable or not self.takes(request):
            return None
        call_id = next(self._ids)
        deadline = asyncio.get_running_loop().time() + timeout_s
        stream = SessionStream(self, call_id, deadline, fallback)
        self._waiting[call_id] = stream
        self.send(Send(call_id, request, stream=True))
        return stream

    def send(self, envelope: Send) -> None:
        self._outbox.append(envelope)
        self._wake.set()

    def abandon(self, call_id: int) -> None:
        """The caller gave up: the router abandons the call (and its upstream request)."""
        if self._waiting.pop(call_id, None) is not None and self._call is not None:
            self.send(Send(call_id, cancel=True))

    async def _keep(self) -> None:
        pause = REOPEN_MIN_S
        while True:
            wake = self._wake
            call: grpc.aio.StreamStreamCall[router_pb2.Batch, router_pb2.Batch] | None = None
            try:
                call = self._open_call(self._batches(wake))  # waits for the router to be ready
                await call.initial_metadata()  # the router sends its headers first
                self._call, self._usable = call, True
                pause = REOPEN_MIN_S
                log.info("router session open")
                await self._read(call)
                log.info("router session ended: the router drained it")
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                if self._call is not None:  # (a failed attempt to open one is not news)
                    log.info("router session ended", extra={"code": exc.code().name})
            except Exception:
                log.exception("router session ended")
            finally:
                self._usable = False
                self._call = None
                self._say_drained = False
                self._wake = asyncio.Event()  # the next session's: this one's writer stops
                wake.set()
                if call is not None:
                    call.cancel()
                self._lose()
            await asyncio.sleep(pause)
            pause = min(pause * 2, REOPEN_MAX_S)

    async def _read(self, call: grpc.aio.StreamStreamCall[router_pb2.Batch, router_pb2.Batch]) -> None:
        async for batch in call:
            if batch.draining:
                self._usable = False  # new calls go as their own RPCs; these finish here
                self._say_drained = True
                self._wake.set()
            waiting = self._waiting
            for envelope in batch.items:
                pending = waiting.get(envelope.id)
                if pending is not None and pending.deliver(envelope):
                    del waiting[envelope.id]
            # The callers answer their clients before gRPC is asked for the next message (an
            # operation that would otherwise sit on each answer's path).
            await asyncio.sleep(0)

    async def _batches(self, wake: asyncio.Event) -> Batches:
        """A session's messages to the router, as calls come (gRPC writes each in turn). Ends
        when the session does (gRPC may leave it waiting: the next session has its own)."""
        while True:
            await wake.wait()
            wake.clear()
            if len(self._waiting) > 1:
                # With other calls in flight, calls that arrive within this turn of the loop go in
                # the same message (one gRPC write, not one each); a call alone goes at once.
                await asyncio.sleep(0)
            while (self._outbox or self._say_drained) and wake is self._wake:
                yield self._take()
            if wake is not self._wake:
                return

    def _take(self) -> router_pb2.Batch:
        """The next message: envelopes from the outbox up to ``BATCH_BYTES`` of bodies (one at least)."""
        batch = router_pb2.Batch()
        taken = size = 0
        for out in self._outbox:
            if out.request is not None and self._say_drained:
                taken += 1  # written after draining was read: the router refuses it, and so do we
                self._refuse(out.id)
                continue
            if out.request is not None:
                if taken and size + len(out.request.body) > BATCH_BYTES:
                    break
                size += len(out.request.body)
                batch.items.add(id=out.id, request=out.request, stream=out.stream)
            elif out.cancel:
                batch.items.add(id=out.id, cancel=True)
            else:
                batch.items.add(id=out.id, credit=out.credit)
            taken += 1
        del self._outbox[:taken]
        if self._say_drained and not self._outbox:
            batch.drained = True
            self._say_drained = False
        return batch

    def _refuse(self, call_id: int) -> None:
        pending = self._waiting.pop(call_id, None)
        if pending is not None:
            pending.fail(Refused())

    def _lose(self) -> None:
        """The session ended: its calls may have begun, so they fail (never sent twice); those
        not yet written are sent again as their own RPCs."""
        unsent = {out.id for out in self._outbox if out.request is not None}
        self._outbox.clear()
        waiting, self._waiting = self._waiting, {}
        for call_id, pending in waiting.items():
            if call_id in unsent:
                pending.fail(Refused())
            else:
                pending.fail(
                    failure(grpc.StatusCode.UNAVAILABLE, "the router's session ended during the call")
                )
