"""A tiny real OpenAI-speaking HTTP server: the test seam for engine crashes and restarts.

    python fake_engine.py PORT [--model NAME] [--start-delay S] [--exit-at-start CODE]
                              [--token-delay S] [--worker] [--metrics vllm|none]

It streams ``content`` deltas one per token (with usage at the end), answers /health and
/v1/models, and with ``--worker`` starts a sleeping child process (like an engine's worker)
so tests can check that the whole process group is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = argparse.Namespace()
STARTED = time.time()
REQUESTS = {"running": 0, "done": 0}

METRICS = """# HELP vllm:num_requests_running Running.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="{model}"}} {running}
# HELP vllm:num_requests_waiting Waiting.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{model_name="{model}"}} 0.0
# HELP vllm:generation_tokens_total Generated.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{{model_name="{model}"}} {done}
# HELP vllm:time_to_first_token_seconds TTFT.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{{le="0.01",model_name="{model}"}} {done}
vllm:time_to_first_token_seconds_bucket{{le="+Inf",model_name="{model}"}} {done}
vllm:time_to_first_token_seconds_count{{model_name="{model}"}} {done}
vllm:time_to_first_token_seconds_sum{{model_name="{model}"}} 0.001
"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        print("fake-engine:", format % args, flush=True)

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": ARGS.model, "object": "model"}]})
        elif self.path == "/metrics" and ARGS.metrics == "vllm":
            text = METRICS.format(
                model=ARGS.model, running=float(REQUESTS["running"]), done=float(REQUESTS["done"])
            )
            data = text.encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self._json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        if self.path == "/echo":
            self._json(200, {"echo": body, "path": self.path})
            return
        if self.path not in ("/v1/chat/completions", "/v1/completions"):
            self._json(404, {"detail": "Not Found"})
            return
        if body.get("model") != ARGS.model:
            self._json(
                400,
                {"detail": f"Server is pinned to {ARGS.model!r}; requested {body.get('model')!r}."},
            )
            return
        REQUESTS["running"] += 1
        try:
            self._complete(body)
        finally:
            REQUESTS["running"] -= 1
            REQUESTS["done"] += 1

    def _complete(self, body: dict) -> None:
        n = int(body.get("max_tokens") or 4)
        chat = self.path == "/v1/chat/completions"
        usage = {"prompt_tokens": 3, "completion_tokens": n, "total_tokens": 3 + n}
        if not body.get("stream"):
            if chat:
                choice = {
                    "index": 0,
                    "finish_reason": "length",
                    "message": {"role": "assistant", "content": "tok " * n},
                }
            else:
                choice = {"index": 0, "finish_reason": "length", "text": "tok " * n}
            time.sleep(ARGS.token_delay * n)
            self._json(
                200,
                {
                    "id": "x",
                    "object": "chat.completion" if chat else "text_completion",
                    "model": ARGS.model,
                    "choices": [choice],
                    "usage": usage,
                },
            )
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        kind = "chat.completion.chunk" if chat else "text_completion"
        if chat:
            self._event(
                {
                    "id": "x",
                    "object": kind,
                    "model": ARGS.model,
                    "choices": [{"index": 0, "delta": {"role": "assistant"}}],
                }
            )
        for i in range(n):
            time.sleep(ARGS.token_delay)
            piece = {"delta": {"content": f"t{i} "}} if chat else {"text": f"t{i} "}
            self._event(
                {"id": "x", "object": kind, "model": ARGS.model, "choices": [{"index": 0, **piece}]}
            )
        last = {"delta": {}} if chat else {"text": ""}
        self._event(
            {
                "id": "x",
                "object": kind,
                "model": ARGS.model,
                "choices": [{"index": 0, "finish_reason": "length", **last}],
                "usage": usage,
            }
        )
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _event(self, obj: object) -> None:
        self._chunk(b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def main() -> int:
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--start-delay", type=float, default=0.0)
    parser.add_argument("--exit-at-start", type=int, default=None)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--metrics", default="none")
    parser.add_argument("--pid-file", default=None)
    ARGS = parser.parse_args()
    print(f"fake-engine: starting pid {os.getpid()}", flush=True)
    if ARGS.pid_file:
        with open(ARGS.pid_file, "a") as f:
            f.write(f"{os.getpid()}\n")
    if ARGS.worker:
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        print(f"fake-engine: worker pid {worker.pid}", flush=True)
        if ARGS.pid_file:
            with open(ARGS.pid_file, "a") as f:
                f.write(f"{worker.pid}\n")
    if ARGS.exit_at_start is not None:
        print("fake-engine: failing at start", flush=True)
        return ARGS.exit_at_start
    time.sleep(ARGS.start_delay)
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    print("fake-engine: ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
