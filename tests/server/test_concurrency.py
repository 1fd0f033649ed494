"""The concurrency gate: bounded in-flight, bounded queue, 503 + Retry-After, no lost requests."""

from __future__ import annotations

import asyncio

import pytest

from tests.server.conftest import served
from trussd.errors import Overloaded
from trussd.server.gate import ConcurrencyGate


async def test_many_more_requests_than_slots_all_complete_async_model() -> None:
    async with served("server-concurrency") as (app, client):
        model_cls = type(app.state.ctx.model.model)
        model_cls.peak = 0
        n = 60
        responses = await asyncio.gather(
            *[client.post("/predict", json={"i": i, "sleep": 0.005}) for i in range(n)]
        )
        gate = app.state.ctx.gate
    assert [r.status_code for r in responses] == [200] * n
    assert sorted(r.json()["i"] for r in responses) == list(range(n))
    assert gate.peak_in_flight == 3  # predict_concurrency of the fixture
    assert model_cls.peak <= 3
    assert gate.in_flight == 0
    assert gate.queued == 0


async def test_many_more_requests_than_slots_all_complete_sync_model() -> None:
    async with served("server-sync-concurrency") as (app, client):
        model_cls = type(app.state.ctx.model.model)
        model_cls.peak = 0
        n = 40
        responses = await asyncio.gather(
            *[client.post("/predict", json={"i": i, "sleep": 0.002}) for i in range(n)]
        )
    assert sorted(r.json()["i"] for r in responses) == list(range(n))
    assert app.state.ctx.gate.peak_in_flight <= 2
    assert model_cls.peak <= 2


async def test_full_queue_answers_503_with_retry_after() -> None:
    async with served("server-blocking", max_queue=2) as (app, client):
        model_cls = type(app.state.ctx.model.model)
        model_cls.release = asyncio.Event()
        gate = app.state.ctx.gate
        running = [asyncio.ensure_future(client.post("/predict", json={"i": i})) for i in range(3)]
        while gate.in_flight < 1 or gate.queued < 2:
            await asyncio.sleep(0.001)
        rejected = await client.post("/predict", json={"i": 99})
        model_cls.release.set()
        done = await asyncio.gather(*running)
        model_cls.release = None
    assert rejected.status_code == 503
    assert rejected.headers["retry-after"] == "1"
    assert "busy" in rejected.json()["error"]
    assert [r.status_code for r in done] == [200, 200, 200]


async def test_queue_wait_longer_than_timeout_is_503() -> None:
    async with served("server-blocking", queue_timeout_seconds=0.05) as (app, client):
        model_cls = type(app.state.ctx.model.model)
        model_cls.release = asyncio.Event()
        holder = asyncio.ensure_future(client.post("/predict", json={"i": 0}))
        while app.state.ctx.gate.in_flight < 1:
            await asyncio.sleep(0.001)
        late = await client.post("/predict", json={"i": 1})
        model_cls.release.set()
        first = await holder
        model_cls.release = None
    assert late.status_code == 503
    assert "retry-after" in late.headers
    assert first.status_code == 200


async def test_gate_hands_slots_over_in_order_and_never_leaks() -> None:
    gate = ConcurrencyGate(2, max_queue=18, queue_timeout=5)
    order: list[int] = []
    active = 0
    peak = 0

    async def job(i: int) -> None:
        nonlocal active, peak
        async with gate.slot():
            active += 1
            peak = max(peak, active)
            order.append(i)
            await asyncio.sleep(0)
            active -= 1

    await asyncio.gather(*[job(i) for i in range(20)])
    assert order == list(range(20))
    assert peak == 2
    assert gate.in_flight == 0
    assert gate.queued == 0


async def test_cancelled_waiter_leaves_the_queue_and_frees_nothing_twice() -> None:
    gate = ConcurrencyGate(1, max_queue=5, queue_timeout=5)
    first = await gate.acquire()
    waiter = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    assert gate.queued == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.queued == 0
    first.release()
    first.release()  # idempotent
    assert gate.in_flight == 0
    again = await gate.acquire()
    assert gate.in_flight == 1
    again.release()


async def test_waiter_cancelled_after_being_granted_passes_the_slot_on() -> None:
    gate = ConcurrencyGate(1, max_queue=5, queue_timeout=5)
    holder = await gate.acquire()
    a = asyncio.ensure_future(gate.acquire())
    b = asyncio.ensure_future(gate.acquire())
    await asyncio.sleep(0)
    holder.release()  # grants a's future...
    a.cancel()  # ...but a is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await a
    slot_b = await asyncio.wait_for(b, 1)
    assert gate.in_flight == 1
    slot_b.release()
    assert gate.in_flight == 0


async def test_zero_queue_rejects_immediately() -> None:
    gate = ConcurrencyGate(1, max_queue=0)
    slot = await gate.acquire()
    with pytest.raises(Overloaded):
        await gate.acquire()
    slot.release()


def _scope(path: str, body: bytes) -> dict[str, object]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("trussd.test", 80),
    }


class _Client:
    """A raw ASGI client that can hang up at a moment the test chooses."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sent_body = False
        self.gone = asyncio.Event()
        self.messages: list[dict[str, object]] = []

    async def receive(self) -> dict[str, object]:
        if not self.sent_body:
            self.sent_body = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, object]) -> None:
        self.messages.append(message)


async def test_client_disconnect_cancels_predict_and_frees_the_slot() -> None:
    async with served("server-blocking") as (app, _):
        model_cls = type(app.state.ctx.model.model)
        model_cls.release = asyncio.Event()
        model_cls.cancelled = 0
        gate = app.state.ctx.gate
        client = _Client(b'{"i": 1}')
        call = asyncio.ensure_future(
            app(_scope("/predict", client.body), client.receive, client.send)
        )
        while gate.in_flight < 1:
            await asyncio.sleep(0.001)
        client.gone.set()
        await asyncio.wait_for(call, 10)
        model_cls.release = None
    assert model_cls.cancelled == 1
    assert gate.in_flight == 0
    assert client.messages[0]["status"] == 499


async def test_client_disconnect_mid_stream_closes_the_generator_and_frees_the_slot() -> None:
    async with served("server-async-generator") as (app, _):
        gate = app.state.ctx.gate
        client = _Client(b'{"n": 50, "delay": 0.2}')
        call = asyncio.ensure_future(
            app(_scope("/predict", client.body), client.receive, client.send)
        )
        while len(client.messages) < 2:  # response start + first chunk
            await asyncio.sleep(0.001)
        assert gate.in_flight == 1
        client.gone.set()
        await asyncio.wait_for(call, 10)
    assert gate.in_flight == 0
    bodies = [m.get("body") for m in client.messages[1:]]
    assert bodies == [b"chunk0\n"]
