"""Predict over the ASGI app: one fixture truss per behaviour."""

from __future__ import annotations

import json
import logging

import pytest

from tests.server.conftest import served


async def test_sync_model_answers_predict_on_both_routes() -> None:
    async with served("server-sync") as (_, client):
        for path in ("/predict", "/v1/models/model:predict"):
            response = await client.post(path, json={"x": 1})
            assert response.status_code == 200
            assert response.json() == {
                "echo": {"x": 1},
                "loaded": True,
                "model_name": "server-sync",
            }
            assert len(response.headers["x-request-id"]) == 16


async def test_incoming_request_id_is_echoed() -> None:
    async with served("server-sync") as (_, client):
        response = await client.post("/predict", json={}, headers={"X-Request-Id": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"


async def test_numpy_output_is_json() -> None:
    async with served("server-sync") as (_, client):
        response = await client.post("/predict", json={"numpy": True})
        assert response.json() == {"array": [0, 1, 2], "scalar": 1.5}


async def test_user_exception_is_a_clean_500_logged_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    async with served("server-sync") as (_, client):
        response = await client.post("/predict", json={"boom": True})
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"error"}
    assert "secret internal detail" not in body["error"]
    assert "Traceback" not in body["error"]
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1
    assert "ValueError" in caplog.text
    assert "secret internal detail 42" in caplog.text


async def test_invalid_json_is_400() -> None:
    async with served("server-sync") as (_, client):
        response = await client.post(
            "/predict", content=b"{nope", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]


async def test_body_over_limit_is_413() -> None:
    async with served("server-sync", max_request_bytes=100) as (_, client):
        response = await client.post("/predict", json={"x": "y" * 200})
        assert response.status_code == 413
        assert "limit" in response.json()["error"]
        ok = await client.post("/predict", json={"x": 1})
        assert ok.status_code == 200


async def test_async_model_gets_named_init_kwargs(fixtures_dir) -> None:  # type: ignore[no-untyped-def]
    async with served("server-async") as (_, client):
        body = (await client.post("/predict", json={"a": [1, 2]})).json()
    assert body == {
        "echo": {"a": [1, 2]},
        "ready": True,
        "data_dir": str(fixtures_dir / "server-async" / "data"),
    }


async def test_sync_generator_streams_chunked_text() -> None:
    async with served("server-generator") as (_, client):
        response = await client.post("/predict", json={"n": 4})
    assert response.status_code == 200
    assert response.text == "token0 token1 token2 token3 "
    assert response.headers["content-type"] == "application/octet-stream"


async def test_async_generator_json_chunks_are_json_lines() -> None:
    async with served("server-async-generator") as (_, client):
        response = await client.post("/predict", json={"n": 3, "json": True})
    assert [json.loads(line) for line in response.text.splitlines()] == [
        {"i": 0},
        {"i": 1},
        {"i": 2},
    ]


async def test_predict_streams_sse_when_asked() -> None:
    async with served("server-async-generator") as (_, client):
        response = await client.post(
            "/predict", json={"n": 2, "json": True}, headers={"accept": "text/event-stream"}
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text == 'data: {"i":0}\n\ndata: {"i":1}\n\n'


async def test_sse_text_chunks_with_newlines_become_multiline_events() -> None:
    async with served("server-async-generator") as (_, client):
        response = await client.post(
            "/predict", json={"n": 1}, headers={"accept": "text/event-stream"}
        )
    assert response.text == "data: chunk0\ndata: \n\n"


async def test_error_after_stream_start_is_an_sse_event() -> None:
    async with served("server-async-generator") as (_, client):
        response = await client.post(
            "/predict",
            json={"n": 3, "json": True, "fail_at": 1},
            headers={"accept": "text/event-stream"},
        )
    assert response.status_code == 200
    events = response.text.strip().split("\n\n")
    assert events[0] == 'data: {"i":0}'
    assert events[1].startswith("event: error\ndata: ")
    error = json.loads(events[1].split("data: ", 1)[1])
    assert "async generator broke" not in error["error"]


async def test_streaming_read_timeout_ends_the_stream_with_an_error_event() -> None:
    # the fixture's streaming_read_timeout is 1 s; chunks come every 5 s
    async with served("server-async-generator") as (app, client):
        response = await client.post(
            "/predict",
            json={"n": 3, "delay": 5, "json": True},
            headers={"accept": "text/event-stream"},
        )
        assert app.state.ctx.gate.in_flight == 0
    events = response.text.strip().split("\n\n")
    assert events[0] == 'data: {"i":0}'
    assert events[1].startswith("event: error")
    assert "streaming_read_timeout" in events[1]


async def test_preprocess_predict_postprocess_with_request() -> None:
    async with served("server-prepost") as (_, client):
        response = await client.post("/v1/models/model:predict", json={"value": 1})
    assert response.json() == {"value": 20, "path": "/v1/models/model:predict", "post": True}


async def test_pydantic_input_is_validated_with_field_path() -> None:
    async with served("server-pydantic") as (_, client):
        ok = await client.post(
            "/predict", json={"customer": "ann", "items": [{"name": "a", "quantity": 2}]}
        )
        bad = await client.post(
            "/predict", json={"customer": "ann", "items": [{"name": "a", "quantity": 0}]}
        )
        schema = await client.get("/v1/models/model/schema")
    assert ok.json() == {"customer": "ann", "total_items": 2}
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["loc"] == "items[0].quantity"
    assert "items[0].quantity" in bad.json()["error"]
    assert schema.json()["input_schema"]["title"] == "Order"
    assert schema.json()["output_schema"]["title"] == "Receipt"
    assert schema.json()["supports_streaming"] is False


async def test_schema_is_404_without_annotations() -> None:
    async with served("server-sync") as (_, client):
        response = await client.get("/v1/models/model/schema")
    assert response.status_code == 404


async def test_truss_example_shaped_model_runs_unchanged() -> None:
    async with served("server-truss-example") as (_, client):
        whole = await client.post("/predict", json={"prompt": "hey", "max_new_tokens": 3})
        streamed = await client.post(
            "/predict", json={"prompt": "hey", "max_new_tokens": 3, "stream": True}
        )
    assert whole.json() == {"output": "delta epsilon alpha"}
    assert streamed.text == "delta epsilon alpha "


async def test_request_id_reaches_logs_made_inside_sync_predict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from trussd.server.logs import RequestIdFilter

    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO, logger="fixture.log")
    async with served("server-log") as (_, client):
        response = await client.post("/predict", json={}, headers={"x-request-id": "rid-7"})
    assert response.status_code == 200
    records = [r for r in caplog.records if r.name == "fixture.log"]
    assert [getattr(r, "request_id", None) for r in records] == ["rid-7"]


def test_request_id_prefix_differs_in_a_forked_child() -> None:
    import os
    import warnings

    from trussd.server import middleware

    read, write = os.pipe()
    with warnings.catch_warnings():  # newer Pythons warn about fork() with threads alive
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # child
        os.write(write, middleware._new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert child_id[:10] != middleware._new_request_id()[:10]
