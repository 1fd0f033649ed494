"""``trussd serve`` as a real process, driven by the openai client, httpx and ``trussd predict``."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.server.conftest import FIXTURES
from tests.server.live import TRUSSD, LiveServer

pytestmark = pytest.mark.e2e


def _metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _until(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def openai_server() -> Iterator[LiveServer]:
    server = LiveServer(FIXTURES / "server-openai").wait_ready()
    yield server
    server.terminate()


def test_openai_client_chat_completion_and_streaming(openai_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=openai_server.url + "/v1", api_key="x", max_retries=0)
    chat = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello big world"}]
    )
    assert chat.choices[0].message.content == "world big hello"
    stream = client.chat.completions.create(
        model="m", stream=True, messages=[{"role": "user", "content": "hello big world"}]
    )
    pieces = [c.choices[0].delta.content or "" for c in stream]
    assert "".join(pieces) == "world big hello "
    completion = client.completions.create(model="m", prompt="abc")
    assert completion.choices[0].text == "ABC"
    streamed = client.completions.create(model="m", prompt="abcdefg", stream=True)
    assert "".join(c.choices[0].text for c in streamed) == "abcde"


def test_event_loop_is_uvloop(openai_server: LiveServer) -> None:
    text = httpx.get(openai_server.url + "/metrics").text
    assert 'trussd_event_loop_info{class="uvloop.Loop",loop="uvloop"} 1.0' in text


def test_chunks_arrive_before_the_stream_ends() -> None:
    server = LiveServer(FIXTURES / "server-async-generator").wait_ready()
    try:
        with httpx.stream(
            "POST", server.url + "/predict", json={"n": 3, "delay": 0.4}, timeout=30
        ) as r:
            chunks = r.iter_raw()
            first = next(chunks)
            # chunk1 cannot exist yet (the model sleeps before yielding it): we got chunk0 alone
            assert first == b"chunk0\n"
            assert b"".join(chunks) == b"chunk1\nchunk2\n"
        with httpx.stream(
            "POST",
            server.url + "/predict",
            json={"n": 2, "json": True},
            headers={"accept": "text/event-stream"},
            timeout=30,
        ) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.read() == b'data: {"i":0}\n\ndata: {"i":1}\n\n'
    finally:
        server.terminate()


def test_sigterm_drains_an_in_flight_stream() -> None:
    server = LiveServer(FIXTURES / "server-async-generator").wait_ready()
    with httpx.stream(
        "POST", server.url + "/predict", json={"n": 3, "delay": 0.5}, timeout=30
    ) as r:
        chunks = r.iter_raw()
        assert next(chunks) == b"chunk0\n"
        server.proc.send_signal(15)
        rest = b"".join(chunks)
    assert rest == b"chunk1\nchunk2\n"
    # a clean drain is a clean exit (uvicorn alone would re-raise SIGTERM: status -15)
    assert server.proc.wait(30) == 0
    assert "Traceback" not in server.output
    server.close()


def test_client_disconnect_cancels_work_and_frees_the_slot() -> None:
    server = LiveServer(FIXTURES / "server-blocking").wait_ready()
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url + "/predict", json={"i": 1}, timeout=httpx.Timeout(5, read=0.5))
        _until(lambda: _metric(server.url, "trussd_requests_in_flight") == 0)
        # the single slot is free again: the next request is queued, not refused
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url + "/predict", json={"i": 2}, timeout=httpx.Timeout(5, read=0.5))
        _until(lambda: 'status="499"' in httpx.get(server.url + "/metrics").text)
    finally:
        server.terminate()


def test_error_in_raw_stream_sends_error_line_then_ends_the_body_cleanly() -> None:
    server = LiveServer(FIXTURES / "server-generator").wait_ready()
    try:
        request = {"n": 3, "fail_at": 2}
        with httpx.stream("POST", server.url + "/predict", json=request, timeout=30) as r:
            received = r.read()  # a well-formed chunked body: no RemoteProtocolError
        assert received.startswith(b"token0 token1 ")
        assert json.loads(received.splitlines()[-1])["error"].startswith("Internal Server Error")
        failed = subprocess.run(
            [*TRUSSD, "predict", "-d", json.dumps(request), "--url", server.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert failed.returncode == 1
        assert failed.stdout.startswith("token0 token1 ")
        assert "error: the stream failed: Internal Server Error" in failed.stderr
    finally:
        server.terminate()


def test_trussd_predict_cli_streams_and_reports_errors() -> None:
    server = LiveServer(FIXTURES / "server-generator").wait_ready()
    try:
        done = subprocess.run(
            [*TRUSSD, "predict", "-d", '{"n": 3}', "--url", server.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "token0 token1 token2 "
        bad = subprocess.run(
            [*TRUSSD, "predict", "-d", "[1", "--url", server.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode != 0
        assert "not valid JSON" in bad.stderr
    finally:
        server.terminate()


def test_contract_mistake_exits_1_with_the_fix() -> None:
    done = subprocess.run(
        [*TRUSSD, "serve", str(FIXTURES / "server-bad-contract"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "no predict method" in done.stderr
    assert "rename `predic` to `predict`" in done.stderr


def test_init_then_serve_answers_predict_with_json_logs(tmp_path: Path) -> None:
    target = tmp_path / "x"
    subprocess.run([*TRUSSD, "init", str(target)], check=True, capture_output=True, timeout=60)
    server = LiveServer(target, "--json-logs", "--access-log").wait_ready()
    try:
        response = httpx.post(server.url + "/predict", json={"text": "hi"})
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        _until(lambda: request_id in server.output)
    finally:
        server.terminate()
    records = [json.loads(line) for line in server.lines if line.startswith("{")]
    assert any(r["request_id"] == request_id and r["logger"] == "trussd.access" for r in records)


def test_many_concurrent_requests_on_a_real_server_all_complete_within_the_limit() -> None:
    import asyncio

    server = LiveServer(FIXTURES / "server-concurrency").wait_ready()  # predict_concurrency 3

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *[client.post("/predict", json={"i": i, "sleep": 0.01}) for i in range(80)]
            )

    try:
        responses = asyncio.run(burst())
    finally:
        server.terminate()
    assert [r.status_code for r in responses] == [200] * 80
    assert sorted(r.json()["i"] for r in responses) == list(range(80))
    assert max(r.json()["peak"] for r in responses) <= 3
