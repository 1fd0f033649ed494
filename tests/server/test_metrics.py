"""/metrics: request counts and latency by route and status, in-flight, queue, model state."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import served


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_count_requests_by_route_and_status() -> None:
    async with served("server-sync") as (_, client):
        for _ in range(3):
            await client.post("/predict", json={})
        await client.post("/predict", json={"boom": True})
        await client.get("/nope")
        text = (await client.get("/metrics")).text
    samples = _samples(text)
    assert samples[("trussd_requests_total", (("route", "/predict"), ("status", "200")))] == 3
    assert samples[("trussd_requests_total", (("route", "/predict"), ("status", "500")))] == 1
    assert samples[("trussd_requests_total", (("route", "unmatched"), ("status", "404")))] == 1
    assert (
        samples[
            ("trussd_request_duration_seconds_count", (("route", "/predict"), ("status", "200")))
        ]
        == 3
    )
    assert samples[("trussd_model_state", (("trussd_model_state", "READY"),))] == 1
    assert samples[("trussd_requests_in_flight", ())] == 0
    assert samples[("trussd_queue_depth", ())] == 0


async def test_failed_model_state_is_exported() -> None:
    async with served("server-load-fails") as (_, client):
        text = (await client.get("/metrics")).text
    assert _samples(text)[("trussd_model_state", (("trussd_model_state", "LOAD_FAILED"),))] == 1


async def test_each_app_has_its_own_registry() -> None:
    async with served("server-sync") as (app_a, a), served("server-async") as (app_b, b):
        await a.post("/predict", json={})
        text_b = (await b.get("/metrics")).text
    assert app_a.state.ctx.metrics.registry is not app_b.state.ctx.metrics.registry
    assert 'route="/predict"' not in text_b


async def test_rejections_are_counted_by_reason() -> None:
    async with served("server-sync", predict_concurrency=1, max_queue=0) as (app, client):
        slot = await app.state.ctx.gate.acquire()
        try:
            refused = await client.post("/predict", json={})
        finally:
            slot.release()
        text = (await client.get("/metrics")).text
    assert refused.status_code == 503
    assert _samples(text)[("trussd_requests_rejected_total", (("reason", "queue_full"),))] == 1
