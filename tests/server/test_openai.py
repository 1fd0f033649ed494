"""OpenAI routes of a Model class, in-process, with the real openai client."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.server.conftest import served


def _client(app: object) -> openai.AsyncOpenAI:
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://trussd.test/v1"
    )  # type: ignore[arg-type]
    return openai.AsyncOpenAI(
        base_url="http://trussd.test/v1", api_key="unused", http_client=http, max_retries=0
    )


async def test_chat_completion_with_openai_client() -> None:
    async with served("server-openai") as (app, _):
        client = _client(app)
        reply = await client.chat.completions.create(
            model="server-openai", messages=[{"role": "user", "content": "one two three"}]
        )
        await client.close()
    assert reply.choices[0].message.content == "three two one"
    assert reply.usage is not None
    assert reply.usage.total_tokens == 6


async def test_streamed_chat_is_sse_ending_with_done() -> None:
    async with served("server-openai") as (app, client):
        raw = await client.post(
            "/v1/chat/completions",
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "a b"}]},
        )
        oa = _client(app)
        stream = await oa.chat.completions.create(
            model="m", stream=True, messages=[{"role": "user", "content": "a b"}]
        )
        parts = [c.choices[0].delta.content or "" async for c in stream]
        await oa.close()
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.endswith("data: [DONE]\n\n")
    assert "".join(parts) == "b a "


async def test_completions_and_embeddings() -> None:
    async with served("server-openai") as (app, _):
        oa = _client(app)
        completion = await oa.completions.create(model="m", prompt="hello")
        streamed = await oa.completions.create(model="m", prompt="hello", stream=True)
        text = "".join([c.choices[0].text async for c in streamed])
        embedding = await oa.embeddings.create(model="m", input=["ab", "abc"])
        models = await oa.models.list()
        await oa.close()
    assert completion.choices[0].text == "HELLO"
    assert text == "hello"
    assert [d.embedding for d in embedding.data] == [[2.0, 0.5], [3.0, 0.5]]
    assert [m.id for m in models.data] == ["server-openai"]


async def test_missing_method_is_404_in_openai_envelope() -> None:
    async with served("server-missing-method") as (app, client):
        raw = await client.post("/v1/chat/completions", json={"model": "m", "messages": []})
        oa = _client(app)
        with pytest.raises(openai.NotFoundError) as info:
            await oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        await oa.close()
    assert raw.status_code == 404
    error = raw.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "method_not_found"
    assert "chat_completions" in error["message"]
    assert "chat_completions" in str(info.value)


async def test_openai_route_bad_body_is_400_envelope() -> None:
    async with served("server-openai") as (_, client):
        response = await client.post(
            "/v1/chat/completions", content=b"[1]", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


async def test_openai_routes_are_inside_the_concurrency_gate() -> None:
    async with served("server-openai", predict_concurrency=1, max_queue=0) as (app, client):
        gate = app.state.ctx.gate
        slot = await gate.acquire()  # hold the only slot
        try:
            response = await client.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
            )
        finally:
            slot.release()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "overloaded"


async def test_error_after_stream_start_is_an_openai_error_event() -> None:
    async with served("server-openai") as (app, client):
        raw = await client.post(
            "/v1/chat/completions",
            json={
                "model": "m",
                "stream": True,
                "messages": [{"role": "user", "content": "fail a"}],
            },
        )
        oa = _client(app)
        stream = await oa.chat.completions.create(
            model="m", stream=True, messages=[{"role": "user", "content": "fail a"}]
        )
        with pytest.raises(openai.APIError, match="Internal Server Error"):
            async for _ in stream:
                pass
        await oa.close()
    events = raw.text.strip().split("\n\n")
    assert raw.status_code == 200
    assert events[-1].startswith('data: {"error":{"message":"Internal Server Error')
    assert "the stream broke" not in raw.text
    assert "[DONE]" not in raw.text  # a failed stream does not pretend to have finished
