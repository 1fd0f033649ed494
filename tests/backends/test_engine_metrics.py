"""Engine metric normalisation and the front's own measurements."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from trussd.backends.engine_metrics import EngineMetrics, StreamObserver, normalise, scrape_loop
from trussd.backends.state import EngineState

VLLM = """# HELP vllm:num_requests_running Running.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 2.0
vllm:num_requests_running{engine="1",model_name="m"} 1.0
# HELP vllm:generation_tokens_total Generated.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{model_name="m"} 40.0
vllm:generation_tokens_created{model_name="m"} 1.7e9
# HELP vllm:time_to_first_token_seconds TTFT.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{le="1.0",model_name="m"} 3.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 4.0
vllm:time_to_first_token_seconds_count{model_name="m"} 4.0
vllm:time_to_first_token_seconds_sum{model_name="m"} 2.5
# HELP vllm:unmapped Not ours.
# TYPE vllm:unmapped gauge
vllm:unmapped 9.0
"""
NAMES = {
    "vllm:num_requests_running": "trussd_engine_requests_running",
    "vllm:generation_tokens": "trussd_engine_generation_tokens",
    "vllm:time_to_first_token_seconds": "trussd_engine_time_to_first_token_seconds",
}


def _render(metrics: EngineMetrics) -> str:
    registry = CollectorRegistry()
    registry.register(metrics)
    return generate_latest(registry).decode()


def test_normalise_renames_and_sums_over_labels() -> None:
    families = {f.name: f for f in normalise(VLLM, NAMES)}
    assert set(families) == {
        "trussd_engine_requests_running",
        "trussd_engine_generation_tokens",
        "trussd_engine_time_to_first_token_seconds",
    }
    assert families["trussd_engine_requests_running"].samples[0].value == 3.0
    assert families["trussd_engine_generation_tokens"].samples[0].value == 40.0
    buckets = [
        (s.labels["le"], s.value)
        for s in families["trussd_engine_time_to_first_token_seconds"].samples
        if s.name.endswith("_bucket")
    ]
    assert buckets == [("0.1", 1.0), ("1.0", 3.0), ("+Inf", 4.0)]


def test_engine_values_replace_front_measurements() -> None:
    metrics = EngineMetrics(NAMES)
    metrics.update(VLLM)
    metrics.state = EngineState.READY
    text = _render(metrics)
    assert "trussd_engine_generation_tokens_total 40.0" in text
    assert "trussd_engine_requests_running 3.0" in text
    assert text.count("# TYPE trussd_engine_requests_running ") == 1
    assert "trussd_engine_requests_waiting 0.0" in text  # not mapped: the front's value
    assert 'trussd_engine_state{state="READY"} 1.0' in text
    assert "vllm:" not in text
    metrics.clear()
    assert "trussd_engine_generation_tokens_total 40.0" not in _render(metrics)


def test_stream_observer_counts_first_token_gaps_and_usage() -> None:
    metrics = EngineMetrics({})
    observer = StreamObserver(metrics)
    observer.chunk(b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n')
    observer.chunk(b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n')
    observer.chunk(b'data: {"choices":[{"delta":{"content":"b"}}]}\n\n')
    usage = b'{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}'
    observer.chunk(b"data: " + usage + b"\n\ndata: [DONE]\n\n")
    text = _render(metrics)
    assert "trussd_engine_time_to_first_token_seconds_count 1.0" in text
    assert "trussd_engine_inter_token_latency_seconds_count 2.0" in text
    assert "trussd_engine_prompt_tokens_total 7.0" in text
    assert "trussd_engine_generation_tokens_total 2.0" in text
    StreamObserver(metrics).body(b'{"usage": {"prompt_tokens": 1, "completion_tokens": 3}}')
    assert "trussd_engine_generation_tokens_total 5.0" in _render(metrics)


def test_stream_observer_skips_what_the_engine_reports() -> None:
    metrics = EngineMetrics(NAMES)
    observer = StreamObserver(metrics)
    observer.chunk(b'data: {"choices":[{"text":"a"}],"usage":{"completion_tokens":1}}\n\n')
    assert metrics.front.generation._value.get() == 0.0
    assert metrics.front.ttft._sum.get() == 0.0


class _Recorded(EngineMetrics):
    """EngineMetrics that says when a scrape landed."""

    def __init__(self) -> None:
        super().__init__(NAMES)
        self.updated = asyncio.Event()

    def update(self, text: str) -> None:
        super().update(text)
        self.updated.set()


async def test_scrape_loop_reads_the_engine_as_soon_as_it_is_ready() -> None:
    # An hour between ticks: only the wake-up at READY can explain a scrape in this test.
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, text=VLLM)

    metrics = _Recorded()
    ready = False
    wake = asyncio.Event()
    transport = httpx.MockTransport(handler)
    async with httpx.AsyncClient(transport=transport, base_url="http://engine") as client:
        loop = scrape_loop(client, "/metrics", metrics, lambda: ready, interval=3600, wake=wake)
        task = asyncio.create_task(loop)
        await asyncio.sleep(0)  # the loop's first tick: not ready, nothing read
        assert calls == []
        ready = True
        wake.set()
        await asyncio.wait_for(metrics.updated.wait(), 30)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert calls == ["/metrics"]
    assert "trussd_engine_generation_tokens_total 40.0" in _render(metrics)
