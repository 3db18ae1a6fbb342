"""A byte relay: what a proxy with no work of its own adds where the gateway runs.

    python bench/relay.py --port P --to 127.0.0.1:Q

Each connection accepted on P is joined to a new connection to Q, and bytes are copied both ways as
they arrive: no parsing, no buffering beyond the sockets' own, reading paused while the other side
cannot take more. ``bench/run.py --relay`` runs it on the gateway's CPU against the mock, so that
its added latency is the placement's own cost (the hops between the two CPUs, one more process
waking on the gateway's), apart from any work a gateway does. It listens only on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, cast


class _Side(asyncio.Protocol):
    """One connection of a pair; what it reads goes to ``peer``'s transport."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.early: list[bytes] = []  # read before the peer's connection was open

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream's (uvloop's: not a subclass)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.early.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # the peer's socket is full: stop reading until it drains
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class _Front(_Side):
    """A client's connection: opens the one to the target when it arrives."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__()
        self.target = target
        self.opening: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.opening = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        back = _Side()
        back.peer = self
        try:
            await asyncio.get_running_loop().create_connection(lambda: back, *self.target)
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        assert back.transport is not None
        for data in self.early:
            back.transport.write(data)
        self.early = []
        self.peer = back
        if self.transport is None or self.transport.is_closing():
            back.transport.close()


async def serve(port: int, target: tuple[str, int]) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Front(target), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        asyncio.run(coroutine)
        return
    uvloop.run(coroutine)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Relay bytes between 127.0.0.1:PORT and a target.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--to", required=True, help="host:port of the target (loopback)")
    args = parser.parse_args(argv)
    host, _, port = args.to.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        parser.error("--to must be on 127.0.0.1")
    try:
        _run(serve(args.port, (host, int(port))))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
