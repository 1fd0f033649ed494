"""`trussd serve` on the tiny LLM with the real transformers CPU engine, driven by the real
`openai` client: chat, completion, streaming with usage, and a crash in the middle of a stream.

Random weights produce gibberish: the assertions are on structure, usage and finish_reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.backends.helpers import (
    descendants,
    free_port,
    start_trussd,
    stop_trussd,
    wait_dead,
    wait_status,
)

pytestmark = [pytest.mark.engine, pytest.mark.e2e, pytest.mark.slow]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny-llm"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def server(tiny_llm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("tiny-llm")
    shutil.copy(EXAMPLE / "config.yaml", root / "config.yaml")
    (root / "weights").symlink_to(tiny_llm_dir, target_is_directory=True)
    port = free_port()
    log = root.parent / "trussd.log"
    proc = start_trussd(root, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_status(f"{url}/v1/models/model", 200, timeout=180)
        yield Server(url, proc, log)
    finally:
        below = descendants(proc.pid)
        assert stop_trussd(proc) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
        assert wait_dead(below) == [], "the engine outlived trussd"


def test_models_and_validate_choice(server: Server) -> None:
    models = server.client().models.list()
    assert [m.id for m in models.data] == ["tiny-llm"]
    assert "engine: transformers" in server.log.read_text()


def test_chat_completion(server: Server) -> None:
    chat = server.client().chat.completions.create(
        model="tiny-llm", messages=[{"role": "user", "content": "Say hi"}], max_tokens=8
    )
    assert chat.model == "tiny-llm"
    assert chat.choices[0].message.role == "assistant"
    assert isinstance(chat.choices[0].message.content, str)
    assert chat.choices[0].finish_reason in ("length", "stop")
    assert chat.usage is not None
    assert chat.usage.prompt_tokens > 0
    assert 0 < chat.usage.completion_tokens <= 8


def test_completion(server: Server) -> None:
    done = server.client().completions.create(model="tiny-llm", prompt="def main(", max_tokens=6)
    assert done.choices[0].finish_reason in ("length", "stop")
    assert done.usage is not None
    assert 0 < done.usage.completion_tokens <= 6


def test_streaming_with_usage(server: Server) -> None:
    stream = server.client().chat.completions.create(
        model="tiny-llm",
        messages=[{"role": "user", "content": "Count"}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert 0 < len(pieces) <= 12
    finals = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finals[-1] in ("length", "stop")
    usage = [c.usage for c in chunks if c.usage is not None]
    assert usage
    assert usage[-1].completion_tokens == len(pieces) or usage[-1].completion_tokens <= 12
    metrics = httpx.get(f"{server.url}/metrics").text
    assert "trussd_engine_time_to_first_token_seconds_count" in metrics
    assert "trussd_engine_generation_tokens_total" in metrics


def test_engine_crash_mid_stream(server: Server) -> None:
    """Kill the engine during a stream: a clean error, readiness 503, then it serves again."""
    client = server.client()
    stream = client.chat.completions.create(
        model="tiny-llm",
        messages=[{"role": "user", "content": "Go"}],
        max_tokens=1800,
        stream=True,
    )
    received = 0

    def consume() -> None:
        nonlocal received
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received += 1
                if received == 2:
                    engine = descendants(server.proc.pid)[-1]
                    os.kill(engine, signal.SIGKILL)

    with pytest.raises(openai.APIError) as raised:
        consume()
    assert "engine" in str(raised.value)
    assert received < 1800
    wait_status(f"{server.url}/v1/models/model", 503, timeout=30)
    wait_status(f"{server.url}/v1/models/model", 200, timeout=180)
    chat = client.chat.completions.create(
        model="tiny-llm", messages=[{"role": "user", "content": "again"}], max_tokens=4
    )
    assert chat.usage is not None
    assert chat.usage.completion_tokens > 0
