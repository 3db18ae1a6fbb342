"""Typed application state (aiohttp ``AppKey``s), in one place."""

from __future__ import annotations

from aiohttp import web

from torouter.router.config import Config
from torouter.router.protocols.base import ErrorCodec

from .client import RouterClient
from .client_ip import ClientAddress
from .console_files import ConsoleFiles
from .keepalive import KeepAlive
from .metrics import Metrics
from .worker_metrics import WorkerMetrics

CONFIG = web.AppKey("config", Config)
ERRORS = web.AppKey("errors", dict[str, ErrorCodec])  # the error formats of the protocols served
METRICS = web.AppKey("metrics", Metrics)
WORKER_METRICS = web.AppKey("worker_metrics", WorkerMetrics)  # one of several edges: /metrics sums them
CLIENT = web.AppKey("router_client", RouterClient)
KEEPALIVE = web.AppKey("keepalive", KeepAlive)
CLIENT_ADDRESS = web.AppKey("client_address", ClientAddress)
ADMIN_ENABLED = web.AppKey("admin_enabled", bool)  # an admin key is configured: /admin/v1 answers
CONSOLE = web.AppKey("console", ConsoleFiles)  # the console's files, when an admin key is configured
