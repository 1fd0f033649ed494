"""The README's main job, end to end: serve an LLM on the CPU engine and ask it something.

1. build the tiny random-weight Llama into examples/tiny-llm/weights (once, ~10 s);
2. start `trussd serve examples/tiny-llm` on a free port;
3. wait until it is ready (the engine is up and healthy);
4. send an OpenAI chat request with the `openai` client and print the answer;
5. stop the server (SIGTERM) and check that no engine process is left behind.

    python scripts/demo.py          (or: make demo)

The weights are random, so the answer is gibberish; everything around it is real.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "tiny-llm"
READY_TIMEOUT = 300.0


def _step(text: str) -> None:
    print(f"==> {text}", flush=True)


def _build_weights() -> None:
    spec = importlib.util.spec_from_file_location("tiny_llm", REPO / "scripts" / "tiny_llm.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.is_complete(EXAMPLE / "weights"):
        _step("tiny model already built: examples/tiny-llm/weights")
        return
    _step("building the tiny model into examples/tiny-llm/weights")
    module.build_tiny_llm(EXAMPLE / "weights")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            out += [child, *_descendants(child)]
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_ready(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"trussd exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/v1/models/model", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"not ready within {READY_TIMEOUT:g} s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    below = _descendants(server.pid)
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        raise SystemExit("trussd did not stop within 60 s") from None
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in below if _alive(p)]
    if left:
        raise SystemExit(f"processes left behind: {left}")
    _step(f"server stopped; {len(below)} engine process(es) gone, none left behind")


def _ask(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0)
    question = "Write a haiku about serving models."
    _step(f"asking: {question!r}")
    chat = client.chat.completions.create(
        model="tiny-llm", messages=[{"role": "user", "content": question}], max_tokens=32
    )
    usage = chat.usage
    print(f"answer: {chat.choices[0].message.content!r}")
    print(
        f"finish_reason={chat.choices[0].finish_reason} "
        f"prompt_tokens={usage.prompt_tokens if usage else '?'} "
        f"completion_tokens={usage.completion_tokens if usage else '?'}",
        flush=True,
    )


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _build_weights()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkstemp(prefix="trussd-demo-", suffix=".log")[1])
    _step(f"starting: trussd serve examples/tiny-llm --port {port} (log: {log})")
    command = [sys.executable, "-m", "trussd.cli.main", "serve", str(EXAMPLE), "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        started = time.monotonic()
        _wait_ready(server, url, log)
        engine = next((line for line in log.read_text().splitlines() if "engine: " in line), "")
        _step(f"ready after {time.monotonic() - started:.1f} s ({engine.split('] ')[-1]})")
        _ask(url)
    finally:
        _stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
