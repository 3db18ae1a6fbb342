"""The edge's gRPC client of the router: one channel, ``dns:///`` resolution, round-robin."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from torouter.proto.v1 import router_pb2_grpc

if TYPE_CHECKING:
    from torouter.proto.v1.router_pb2_grpc import RouterAsyncStub

# A call that fails with UNAVAILABLE before the router answered (a replica restarting or draining)
# is tried again, on the next replica of the round robin; once the router has answered, never.
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [{"service": "torouter.v1.Router"}],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.05s",
                "maxBackoff": "0.5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}

CHANNEL_OPTIONS = [
    ("grpc.lb_policy_name", "round_robin"),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    # A restarted router is picked up within about a second, without restarting the edge.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


def grpc_target(router: str) -> str:
    """``host:port`` becomes ``dns:///host:port``; explicit schemes are kept."""
    if "://" in router or router.startswith(("dns:", "unix:", "ipv4:", "ipv6:")):
        return router
    return f"dns:///{router}"


class RouterClient:
    def __init__(self, target: str) -> None:
        self.channel = grpc.aio.insecure_channel(grpc_target(target), options=CHANNEL_OPTIONS)
        self.stub: RouterAsyncStub = router_pb2_grpc.RouterStub(self.channel)
        self._health = health_pb2_grpc.HealthStub(self.channel)

    async def ready(self, wait_s: float) -> bool:
        """True when the router answers its health check as SERVING."""
        try:
            reply = await self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=wait_s)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def close(self) -> None:
        await self.channel.close(grace=None)
