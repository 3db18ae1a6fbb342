"""The edge's gRPC client: which targets it resolves again, and what it does when a name's
addresses change (new calls on a new channel; calls in flight finish on the old one)."""

from __future__ import annotations

import asyncio
import json

import pytest

from support.openai_upstream import Fault
from support.stack import KEYS, Stack
from torouter.edge.client import SERVICE_CONFIG, RouterClient, dns_name, grpc_target
from torouter.proto.v1 import router_pb2


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("dns:///router:50051", ("router", 50051)),
        ("dns://10.0.0.53/router.internal:7", ("router.internal", 7)),
        (grpc_target("router:50051"), ("router", 50051)),
        ("dns:///127.0.0.1:50051", None),  # an address has nothing to resolve
        ("dns:///[::1]:50051", None),
        ("ipv4:127.0.0.1:1,127.0.0.1:2", None),
        ("unix:/run/torouter.sock", None),
        ("dns:///router", None),  # no port: left to gRPC
    ],
)
def test_which_targets_are_resolved_again(target: str, name: tuple[str, int] | None) -> None:
    assert dns_name(target) == name


def test_calls_are_retried_only_on_statuses_of_calls_no_router_began() -> None:
    policy = SERVICE_CONFIG["methodConfig"][0]["retryPolicy"]  # type: ignore[index]
    assert sorted(policy["retryableStatusCodes"]) == ["CANCELLED", "UNAVAILABLE"]  # type: ignore[index]
    assert json.loads(json.dumps(SERVICE_CONFIG)) == SERVICE_CONFIG


async def test_changed_addresses_move_new_calls_to_a_new_channel(fresh: Stack) -> None:
    answers = [frozenset({"10.0.0.1"}), frozenset({"10.0.0.1"}), frozenset({"10.0.0.1", "10.0.0.2"})]
    asked = asyncio.Event()

    async def resolver(host: str, port: int) -> frozenset[str]:
        assert (host, port) == ("localhost", fresh.gateway.router_port)
        if len(answers) == 1:
            asked.set()
        return answers.pop(0) if len(answers) > 1 else answers[0]

    client = RouterClient(f"localhost:{fresh.gateway.router_port}", resolver=resolver)
    try:
        first = client.channel
        assert await client.ready(5)
        fresh.upstream.enqueue(Fault.delay(1.0))
        call = router_pb2.CallRequest(
            protocol="openai",
            operation="chat.completions",
            key=KEYS["openai"],
            body=b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"slow"}]}',
        )
        in_flight = asyncio.ensure_future(client.stub.Call(call, timeout=10))
        await fresh.upstream.wait_for_requests(1, timeout_s=5)
        refresh = asyncio.create_task(client.refresh(0.05))
        await asyncio.wait_for(asked.wait(), 5)
        for _ in range(100):
            if client.channel is not first:
                break
            await asyncio.sleep(0.05)
        assert client.channel is not first
        assert await client.ready(5)  # the new channel serves
        reply = await in_flight  # the call on the old one finished there
        assert reply.status == 200 and b"Mock reply to: slow" in reply.body
        refresh.cancel()
    finally:
        await client.close()
