"""The engine front in-process (TestClient) in front of a real fake-engine process."""

from __future__ import annotations

import json
import os
import signal

import httpx
import pytest
from starlette.testclient import TestClient

from tests.backends import fake_backend
from tests.backends.conftest import wait_ready_http, wait_state
from trussd.backends.state import EngineState
from trussd.server.engine_front import ENGINE_DEFAULT_CONCURRENCY

pytestmark = pytest.mark.e2e  # the engine is a real process

CHAT = {"model": "fake-llm", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


def _events(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


def test_chat_maps_the_model_name_both_ways(fake_engine_client: TestClient) -> None:
    client = fake_engine_client
    assert wait_state(client, EngineState.READY) is EngineState.READY
    response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "fake-llm"  # the engine answered with its own name; mapped back
    assert body["usage"]["completion_tokens"] == 3
    assert fake_backend.ENGINE_NAME not in response.text
    # no model at all is the served one; the engine's own name is accepted too
    assert client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2}).status_code == 200
    other = {**CHAT, "model": fake_backend.ENGINE_NAME}
    assert client.post("/v1/chat/completions", json=other).status_code == 200


def test_stream_passes_events_through(fake_engine_client: TestClient) -> None:
    client = fake_engine_client
    wait_state(client, EngineState.READY)
    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    events = _events(text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["model"] for c in chunks} == {"fake-llm"}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:4]] == ["t0 ", "t1 ", "t2 "]
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_unknown_model_and_engine_errors_use_openai_envelope(
    fake_engine_client: TestClient,
) -> None:
    client = fake_engine_client
    wait_state(client, EngineState.READY)
    response = client.post("/v1/chat/completions", json={**CHAT, "model": "gpt-4"})
    assert response.status_code == 404
    assert "fake-llm" in response.json()["error"]["message"]
    # the fake engine has no embeddings: its own 404 comes back in OpenAI's envelope
    response = client.post("/v1/embeddings", json={"model": "fake-llm", "input": "x"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Not Found"
    response = client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_predict_goes_to_chat_or_completions(fake_engine_client: TestClient) -> None:
    client = fake_engine_client
    wait_state(client, EngineState.READY)
    chat = client.post("/predict", json=CHAT).json()
    assert chat["object"] == "chat.completion"
    text = client.post("/v1/models/model:predict", json={"prompt": "x", "max_tokens": 2}).json()
    assert text["object"] == "text_completion"
    assert client.get("/v1/models").json()["data"][0]["id"] == "fake-llm"


def test_engine_gate_defaults_wide(fake_engine_client: TestClient) -> None:
    ctx = fake_engine_client.app.state.ctx  # type: ignore[attr-defined]
    assert ctx.gate.limit == ENGINE_DEFAULT_CONCURRENCY


def test_readiness_is_503_while_the_engine_restarts(fake_engine_slow_restart: TestClient) -> None:
    client = fake_engine_slow_restart
    wait_state(client, EngineState.READY)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    pid = engine.supervisor.engine_pid
    os.kill(pid, signal.SIGKILL)
    state = wait_state(client, EngineState.RESTARTING, EngineState.STARTING)
    assert state in (EngineState.RESTARTING, EngineState.STARTING)
    ready = client.get("/v1/models/model")
    assert ready.status_code == 503
    assert ready.json()["state"] in ("RESTARTING", "STARTING")
    down = client.post("/v1/chat/completions", json=CHAT)
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "engine_unavailable"
    wait_ready_http(client)
    assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    metrics = client.get("/metrics").text
    assert 'trussd_engine_state{state="READY"} 1.0' in metrics
    assert "trussd_engine_restarts_total 1.0" in metrics


def test_front_measures_what_the_engine_does_not_expose(fake_engine_client: TestClient) -> None:
    client = fake_engine_client
    wait_state(client, EngineState.READY)
    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
        r.read()
    client.post("/v1/completions", json={"prompt": "x", "max_tokens": 2})
    metrics = client.get("/metrics").text
    assert "trussd_engine_time_to_first_token_seconds_count 1.0" in metrics
    assert "trussd_engine_inter_token_latency_seconds_count" in metrics
    assert "trussd_engine_generation_tokens_total 5.0" in metrics
    assert "trussd_engine_prompt_tokens_total 6.0" in metrics
    assert "trussd_engine_requests_running 0.0" in metrics


def test_engine_metrics_win_over_the_front(fake_metrics_client: TestClient) -> None:
    client = fake_metrics_client
    wait_state(client, EngineState.READY)
    engine = client.app.state.engine  # type: ignore[attr-defined]
    client.post("/v1/chat/completions", json=CHAT)
    scraped = httpx.get(f"{engine.plan.base_url}/metrics")  # what the scrape loop reads
    engine.metrics.update(scraped.text)
    metrics = client.get("/metrics").text
    assert "trussd_engine_generation_tokens_total 1.0" in metrics  # the engine's count
    assert "trussd_engine_time_to_first_token_seconds_count 1.0" in metrics
    assert metrics.count("# TYPE trussd_engine_time_to_first_token_seconds histogram") == 1
