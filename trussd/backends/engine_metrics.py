"""Normalised engine metrics: one set of ``trussd_engine_*`` names, whichever engine serves.

Two sources, one name each:

- **The engine's own ``/metrics``** (vLLM ``vllm:*``, SGLang ``sglang:*``, TensorRT-LLM
  ``trtllm_*``): scraped in the background (``scrape``), each family the adapter maps
  (``Backend.metric_names``) re-exposed under its normalised name with its labels summed away
  (one model per server), histogram buckets kept as the engine defines them.
- **The front** (``StreamObserver``), for what the engine does not expose (``transformers
  serve`` has no ``/metrics``; nor has a docker_server): requests running at the engine,
  requests waiting in trussd's queue, time to the first token and between chunks as seen at
  the proxy, and token counts from the responses' ``usage``.

An engine family always wins over the front's measurement of the same name. The collector
also exposes ``trussd_engine_state`` and ``trussd_engine_restarts_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from trussd.backends.state import EngineState

__all__ = [
    "NORMALISED",
    "EngineMetrics",
    "StreamObserver",
    "normalise",
    "scrape_loop",
]

RUNNING = "trussd_engine_requests_running"
WAITING = "trussd_engine_requests_waiting"
TTFT = "trussd_engine_time_to_first_token_seconds"
ITL = "trussd_engine_inter_token_latency_seconds"
PROMPT = "trussd_engine_prompt_tokens"
GENERATION = "trussd_engine_generation_tokens"

#: The normalised names every engine maps into (adapters may map more ``trussd_engine_*``).
NORMALISED: dict[str, str] = {
    RUNNING: "Requests the engine is running.",
    WAITING: "Requests waiting for the engine.",
    TTFT: "Seconds from request to the first generated token.",
    ITL: "Seconds between two generated tokens of a stream.",
    PROMPT: "Prompt tokens processed.",
    GENERATION: "Tokens generated.",
}
#: A chunk that carries generated text (not the role-only first chunk, not empty content).
_FIRST_TOKEN = re.compile(rb'"(?:content|text)":\s?"[^"]')
logger = logging.getLogger("trussd.engine")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0, 20.0, 40.0, 80.0)  # fmt: skip


def _help(name: str) -> str:
    return NORMALISED.get(name, name.removeprefix("trussd_engine_").replace("_", " ") + ".")


def _le(value: str) -> float:
    return float("inf") if value in ("+Inf", "Inf", "inf") else float(value)


def _histogram(name: str, family: Metric) -> HistogramMetricFamily:
    buckets: dict[float, float] = {}
    total = 0.0
    for sample in family.samples:
        if sample.name.endswith("_bucket"):
            le = _le(sample.labels.get("le", "+Inf"))
            buckets[le] = buckets.get(le, 0.0) + sample.value
        elif sample.name.endswith("_sum"):
            total += sample.value
    ordered = [
        (("+Inf" if le == float("inf") else repr(le)), n) for le, n in sorted(buckets.items())
    ]
    if not ordered or ordered[-1][0] != "+Inf":
        count = sum(s.value for s in family.samples if s.name.endswith("_count"))
        ordered.append(("+Inf", count))
    return HistogramMetricFamily(name, _help(name), buckets=ordered, sum_value=total)


def normalise(text: str, names: Mapping[str, str]) -> list[Metric]:
    """Families of an engine's Prometheus text, renamed by ``names`` and summed over labels.

    ``names`` maps an engine family (as the text parser names it: counters without
    ``_total``) to a normalised name. Unmapped and unparsable families are dropped.
    """
    out: list[Metric] = []
    for family in text_string_to_metric_families(text):
        name = names.get(family.name)
        if name is None:
            continue
        if family.type == "histogram":
            out.append(_histogram(name, family))
        elif family.type == "counter":
            value = sum(s.value for s in family.samples if s.name.endswith("_total"))
            out.append(CounterMetricFamily(name, _help(name), value=value))
        elif family.type == "gauge":
            out.append(
                GaugeMetricFamily(name, _help(name), value=sum(s.value for s in family.samples))
            )
    return out


@dataclass
class _Front:
    """What the front measures itself, in a private registry (exposed only where needed)."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        self.running = Gauge(RUNNING, NORMALISED[RUNNING], registry=r)
        self.waiting = Gauge(WAITING, NORMALISED[WAITING], registry=r)
        self.ttft = Histogram(TTFT, NORMALISED[TTFT], buckets=_LATENCY_BUCKETS, registry=r)
        self.itl = Histogram(ITL, NORMALISED[ITL], buckets=_LATENCY_BUCKETS, registry=r)
        self.prompt = Counter(PROMPT, NORMALISED[PROMPT], registry=r)
        self.generation = Counter(GENERATION, NORMALISED[GENERATION], registry=r)


class EngineMetrics(Collector):
    """The ``trussd_engine_*`` families of one engine; register it in the app's registry."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = dict(names)
        self.front = _Front()
        self._scraped: list[Metric] = []
        self.state = EngineState.STOPPED
        self.restarts = 0
        #: names the engine provides itself: the front does not measure those
        self.engine_provides = frozenset(self.names.values())

    def update(self, text: str) -> None:
        """Take a fresh scrape of the engine's ``/metrics``."""
        self._scraped = normalise(text, self.names)

    def clear(self) -> None:
        """Forget the last scrape (the engine restarted: its values are gone)."""
        self._scraped = []

    def measures(self, name: str) -> bool:
        """Whether the front must measure ``name`` (the engine does not expose it)."""
        return name not in self.engine_provides

    def collect(self) -> Iterator[Metric]:
        seen = set()
        for family in self._scraped:
            seen.add(family.name)
            yield family
        for family in self.front.registry.collect():
            if family.name not in seen and family.name not in self.engine_provides:
                yield family
        state = GaugeMetricFamily(
            "trussd_engine_state", "1 for the engine's current state.", labels=["state"]
        )
        for s in EngineState:
            state.add_metric([s.value], 1.0 if s is self.state else 0.0)
        yield state
        yield CounterMetricFamily(
            "trussd_engine_restarts", "Times the engine was restarted.", value=self.restarts
        )

    def describe(self) -> Iterator[Metric]:
        return iter(())


class StreamObserver:
    """Measures one proxied response at the front: TTFT, gaps between chunks, usage tokens.

    Cheap by design (a clock read and a byte search per chunk): it runs on every chunk of
    every stream. Only used for what the engine does not expose itself.
    """

    __slots__ = ("_first_seen", "_itl", "_last", "_metrics", "_start", "_tokens", "_ttft")

    def __init__(self, metrics: EngineMetrics, start: float | None = None) -> None:
        """``start``: ``time.perf_counter()`` when the request went to the engine."""
        self._metrics = metrics
        self._start = time.perf_counter() if start is None else start
        self._last = 0.0
        self._first_seen = False
        self._ttft = metrics.measures(TTFT)
        self._itl = metrics.measures(ITL)
        self._tokens = metrics.measures(PROMPT) or metrics.measures(GENERATION)

    def chunk(self, data: bytes) -> None:
        now = time.perf_counter()
        if self._first_seen:
            if self._itl:
                self._metrics.front.itl.observe(now - self._last)
        elif _FIRST_TOKEN.search(data):
            # The first chunk of a chat stream is often the role alone, sent before any token.
            self._first_seen = True
            if self._ttft:
                self._metrics.front.ttft.observe(now - self._start)
        self._last = now
        if self._tokens and b'"usage"' in data:
            self._usage_from_events(data)

    def body(self, data: bytes) -> None:
        """A whole (not streamed) response."""
        if self._tokens and b'"usage"' in data:
            self._count(data)

    def _usage_from_events(self, data: bytes) -> None:
        for line in data.split(b"\n"):
            if line.startswith(b"data:") and b'"usage"' in line:
                self._count(line[5:])

    def _count(self, payload: bytes) -> None:
        try:
            usage = json.loads(payload).get("usage") or {}
        except (ValueError, AttributeError):
            return
        front = self._metrics.front
        if isinstance(usage, dict):
            if self._metrics.measures(PROMPT):
                front.prompt.inc(max(0, int(usage.get("prompt_tokens") or 0)))
            if self._metrics.measures(GENERATION):
                front.generation.inc(max(0, int(usage.get("completion_tokens") or 0)))


async def scrape_loop(
    client: httpx.AsyncClient,
    path: str,
    metrics: EngineMetrics,
    ready: Callable[[], bool],
    interval: float = 5.0,
    wake: asyncio.Event | None = None,
) -> None:
    """Scrape the engine's ``path`` every ``interval`` seconds while ``ready()``; runs until
    cancelled. A failed scrape keeps the last values (the engine may be restarting).

    Setting ``wake`` (the front does when the engine turns READY) scrapes at once instead of
    at the next tick, so ``/metrics`` carries the engine's families as soon as it serves.
    """
    wake = wake or asyncio.Event()
    while True:
        if ready():
            try:
                response = await client.get(path, timeout=5.0)
                if response.status_code == 200:
                    metrics.update(response.text)
            except (httpx.HTTPError, ValueError) as exc:
                logger.debug("engine metrics scrape failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), interval)
        wake.clear()
