"""The edge's end of a Session: its non-streaming calls to the router of its host, many on one
long-lived gRPC call (the router's end, and why: router/session.py).

The session is a faster road, never the only one: while it is not open (starting, the router
restarting, draining) :meth:`EdgeSession.call` returns None and the call goes as a unary RPC, with
gRPC's retries and round robin. A call the router refused (draining: never begun) is also sent
again that way. A call that was in the session when it broke may have begun: it fails as a unary
call that had its headers does (UNAVAILABLE, a 503 the SDKs retry), never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable

import grpc

from torouter.proto.v1 import router_pb2

log = logging.getLogger("torouter.edge")

# A message is written once this many bytes of bodies are in it (the rest follow in the next).
BATCH_BYTES = 4 * 1024 * 1024
# Calls larger than this go as unary RPCs: a large upload would hold the session's others back.
MAX_SESSION_BODY_BYTES = 256 * 1024
REOPEN_MIN_S = 0.02  # a session that ended is opened again after this, doubling up to the max
REOPEN_MAX_S = 1.0

Batches = AsyncIterator[router_pb2.Batch]
Open = Callable[[Batches], "grpc.aio.StreamStreamCall[router_pb2.Batch, router_pb2.Batch]"]


def failure(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    """An error as a unary call would have raised it, so that callers handle both alike."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details, None)


class Refused(Exception):
    """The router did not begin the call (it is draining): send it again another way."""


class EdgeSession:
    """Keeps one session open (opening it again when it ends) and multiplexes calls on it."""

    def __init__(self, open_call: Open) -> None:
        self._open_call = open_call
        self._call: grpc.aio.StreamStreamCall[router_pb2.Batch, router_pb2.Batch] | None = None
        self._usable = False
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[router_pb2.CallReply]] = {}
        self._outbox: list[tuple[int, router_pb2.CallRequest | None]] = []  # None: a cancel
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

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

    async def call(self, request: router_pb2.CallRequest, timeout_s: float) -> router_pb2.CallReply | None:
        """The router's reply; None when the session cannot take the call (send it as a unary
        RPC). Raises ``grpc.aio.AioRpcError`` as a unary call would (deadline, session lost)."""
        if not self._usable or request.files or len(request.body) > MAX_SESSION_BODY_BYTES:
            return None
        call_id = next(self._ids)
        answer: asyncio.Future[router_pb2.CallReply] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = answer
        self._outbox.append((call_id, request))
        self._wake.set()
        try:
            async with asyncio.timeout(timeout_s):
                return await answer
        except Refused:
            return None
        except TimeoutError:
            self._cancel(call_id)
            raise failure(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except asyncio.CancelledError:
            self._cancel(call_id)
            raise

    def _cancel(self, call_id: int) -> None:
        """The caller gave up: the router abandons the call (and its upstream request)."""
        if self._waiting.pop(call_id, None) is not None and self._call is not None:
            self._outbox.append((call_id, None))
            self._wake.set()

    async def _keep(self) -> None:
        pause = REOPEN_MIN_S
        while True:
            wake = self._wake
            call = self._open_call(self._batches(wake))  # waits for the router to be ready
            try:
                await call.initial_metadata()  # the router sends its headers first
                self._call, self._usable = call, True
                pause = REOPEN_MIN_S
                await self._read(call)
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.debug("session ended", extra={"code": exc.code().name})
            except Exception:
                log.exception("session ended")
            finally:
                self._usable = False
                self._call = None
                self._wake = asyncio.Event()  # the next session's: this one's writer stops
                wake.set()
                call.cancel()
                self._lose()
            await asyncio.sleep(pause)
            pause = min(pause * 2, REOPEN_MAX_S)

    async def _read(self, call: grpc.aio.StreamStreamCall[router_pb2.Batch, router_pb2.Batch]) -> None:
        async for batch in call:
            if batch.draining:
                self._usable = False  # new calls go as unary RPCs; these finish here
            for envelope in batch.items:
                answer = self._waiting.pop(envelope.id, None)
                if answer is None or answer.done():
                    continue  # cancelled meanwhile
                if envelope.HasField("reply"):
                    answer.set_result(envelope.reply)
                elif envelope.refused:
                    answer.set_exception(Refused())
                else:
                    answer.set_exception(
                        failure(grpc.StatusCode.UNKNOWN, "the call failed inside the router")
                    )

    async def _batches(self, wake: asyncio.Event) -> Batches:
        """A session's messages to the router, as calls come (gRPC writes each in turn). Ends
        when the session does (gRPC may leave it waiting: the next session has its own)."""
        while True:
            await wake.wait()
            wake.clear()
            while self._outbox and wake is self._wake:
                yield self._take()
            if wake is not self._wake:
                return

    def _take(self) -> router_pb2.Batch:
        """The next message: calls from the outbox up to ``BATCH_BYTES`` of bodies (one at least)."""
        batch = router_pb2.Batch()
        taken = size = 0
        for call_id, request in self._outbox:
            if request is None:
                batch.items.add(id=call_id, cancel=True)
            else:
                if taken and size + len(request.body) > BATCH_BYTES:
                    break
                size += len(request.body)
                batch.items.add(id=call_id, request=request)
            taken += 1
        del self._outbox[:taken]
        return batch

    def _lose(self) -> None:
        """The session ended: its calls may have begun, so they fail (never sent twice); those
        not yet written are sent again as unary RPCs."""
        unsent = {call_id for call_id, request in self._outbox if request is not None}
        self._outbox.clear()
        waiting, self._waiting = self._waiting, {}
        for call_id, answer in waiting.items():
            if answer.done():
                continue
            if call_id in unsent:
                answer.set_exception(Refused())
            else:
                answer.set_exception(
                    failure(grpc.StatusCode.UNAVAILABLE, "the router's session ended during the call")
                )
