"""`trussd serve` on a docker_server truss (the fake engine as the user's server), as real
processes: predict forwarding, streaming, a crash mid-stream, and no orphans on shutdown."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.backends.helpers import (
    FAKE_ENGINE,
    descendants,
    free_port,
    read_pids,
    start_trussd,
    stop_trussd,
    wait_dead,
    wait_status,
)

pytestmark = pytest.mark.e2e
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "docker-server-fake"


@dataclass
class Served:
    url: str
    pid_file: Path
    proc: object


def _truss(tmp_path: Path) -> tuple[Path, Path, int]:
    root = tmp_path / "server"
    root.mkdir()
    port, pid_file = free_port(), tmp_path / "pids"
    template = (FIXTURE / "config.yaml.template").read_text()
    (root / "config.yaml").write_text(
        template.format(
            python=sys.executable, fake_engine=FAKE_ENGINE, port=port, pid_file=pid_file
        )
    )
    return root, pid_file, port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    root, pid_file, _ = _truss(tmp_path)
    port = free_port()
    proc = start_trussd(root, port, tmp_path / "trussd.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_status(f"{url}/v1/models/model", 200, timeout=60)
        yield Served(url, pid_file, proc)
    finally:
        stop_trussd(proc)
        print((tmp_path / "trussd.log").read_text()[-3000:])


def test_predict_goes_to_predict_endpoint_untouched(served: Served) -> None:
    body = {"anything": [1, 2], "model": "whatever"}
    response = httpx.post(f"{served.url}/predict", json=body)
    assert response.status_code == 200
    assert response.json() == {"echo": body, "path": "/echo"}


def test_crash_mid_stream_gives_a_clean_error_then_recovers(served: Served) -> None:
    engine, _worker = read_pids(served.pid_file, 2)
    chat = {"model": "fake-server", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 400, "stream": True}  # fmt: skip
    events: list[str] = []
    with httpx.stream("POST", f"{served.url}/v1/chat/completions", json=chat, timeout=30) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
                if len(events) == 3:
                    os.kill(engine, signal.SIGKILL)
    error = json.loads(events[-1])["error"]
    assert error["code"] == "engine_crashed"
    assert len(events) < 400
    wait_status(f"{served.url}/v1/models/model", 503, timeout=30)
    wait_status(f"{served.url}/v1/models/model", 200, timeout=60)
    again = httpx.post(
        f"{served.url}/v1/chat/completions", json={**chat, "stream": False, "max_tokens": 2}
    )
    assert again.status_code == 200
    assert again.json()["usage"]["completion_tokens"] == 2


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_no_orphans_when_trussd_stops(tmp_path: Path, sig: signal.Signals) -> None:
    root, pid_file, _ = _truss(tmp_path)
    port = free_port()
    proc = start_trussd(root, port, tmp_path / "trussd.log")
    try:
        wait_status(f"http://127.0.0.1:{port}/v1/models/model", 200, timeout=60)
        below = descendants(proc.pid)
        engine_pids = read_pids(pid_file, 2)
        assert set(engine_pids) <= set(below)
        proc.send_signal(sig)
        proc.wait(60)
        assert wait_dead(below) == []
    finally:
        stop_trussd(proc)


def test_crash_during_a_plain_request_is_a_502(served: Served) -> None:
    import threading

    engine, _worker = read_pids(served.pid_file, 2)
    chat = {"model": "fake-server", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 400}  # fmt: skip
    result: dict[str, httpx.Response] = {}
    thread = threading.Thread(
        target=lambda: result.update(
            r=httpx.post(f"{served.url}/v1/chat/completions", json=chat, timeout=60)
        )
    )
    thread.start()
    wait_metric(served.url, "trussd_engine_requests_running 1.0")
    os.kill(engine, signal.SIGKILL)
    thread.join(60)
    response = result["r"]
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "engine_crashed"


def wait_metric(url: str, line: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if line in httpx.get(f"{url}/metrics").text:
            return
        time.sleep(0.05)
    raise TimeoutError(f"/metrics never showed {line!r}")


def test_client_leaving_mid_stream_frees_its_slot(served: Served) -> None:
    chat = {"model": "fake-server", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 400, "stream": True}  # fmt: skip
    with httpx.stream("POST", f"{served.url}/v1/chat/completions", json=chat, timeout=30) as r:
        for i, _line in enumerate(r.iter_lines()):
            if i == 4:
                break  # leaving the block closes the connection mid-stream
    wait_metric(served.url, "trussd_engine_requests_running 0.0")
    wait_metric(served.url, "trussd_requests_in_flight 0.0")
    body = {"model": "fake-server", "prompt": "x", "max_tokens": 2}
    again = httpx.post(f"{served.url}/v1/completions", json=body)
    assert again.status_code == 200
