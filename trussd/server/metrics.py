"""Prometheus metrics of one app, in a registry of its own (several apps can live in a process)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from trussd.model_wrapper.state import ModelState

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
)


class ServerMetrics:
    """The server's own metrics. Other modules may register theirs in ``registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "trussd_requests", "HTTP requests by route and status.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "trussd_request_duration_seconds",
            "Time from request start to the last byte of the response.",
            ["route", "status"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "trussd_requests_in_flight",
            "Inference requests holding a concurrency slot.",
            registry=r,
        )
        self.queue_depth = Gauge(
            "trussd_queue_depth", "Inference requests waiting for a concurrency slot.", registry=r
        )
        self.rejected = Counter(
            "trussd_requests_rejected",
            "Requests refused with 503 because the queue was full or too slow.",
            ["reason"],
            registry=r,
        )
        self.model_state = Enum(
            "trussd_model_state",
            "Lifecycle state of the model.",
            states=[s.value for s in ModelState],
            registry=r,
        )
        self.stream_chunks = Counter(
            "trussd_stream_chunks", "Chunks sent in streamed responses.", registry=r
        )
        self.event_loop = Info(
            "trussd_event_loop", "The event loop implementation serving requests.", registry=r
        )

    def set_model_state(self, state: ModelState | str) -> None:
        self.model_state.state(state.value if isinstance(state, ModelState) else state)

    def record_event_loop(self) -> str:
        loop = asyncio.get_running_loop()
        name = "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
        self.event_loop.info(
            {"loop": name, "class": f"{type(loop).__module__}.{type(loop).__name__}"}
        )
        return name

    def render(self) -> bytes:
        return generate_latest(self.registry)
