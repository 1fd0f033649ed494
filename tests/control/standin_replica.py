"""A stand-in for `trussd serve` that keeps the replica contract in ~100 lines of stdlib.

Used as the runtime's replica command in in-process tests, so they do not depend on the
model server's start-up time. It loads the truss's own ``model/model.py`` (so the fixture's
behaviour — echo, crash, failing load — is the same one the real server runs) and answers:
``GET /`` liveness, ``GET /v1/models/model`` readiness (503 ``LOADING``/``LOAD_FAILED``),
``POST /predict``, ``POST /v1/chat/completions`` (SSE when ``stream``), ``GET /v1/models``.

    python standin_replica.py TRUSS_DIR PORT
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATE = {"state": "LOADING", "error": None}


def load_model(truss_dir: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        "model", os.path.join(truss_dir, "model", "model.py")
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    secrets = {
        k.removeprefix("TRUSSD_SECRET_"): v
        for k, v in os.environ.items()
        if k.startswith("TRUSSD_SECRET_")
    }
    try:
        model = module.Model(secrets=secrets)
    except TypeError:  # a Model whose __init__ takes no arguments, as Truss allows
        model = module.Model()
    delay = float(os.environ.get("STANDIN_LOAD_SECONDS", "0"))

    def run() -> None:
        try:
            if delay:
                threading.Event().wait(delay)
            if hasattr(model, "load"):
                model.load()
            STATE["state"] = "READY"
        except Exception as exc:
            STATE.update(state="LOAD_FAILED", error=repr(exc))
            print(f"load failed: {exc!r}", flush=True)

    threading.Thread(target=run, daemon=True).start()
    return model


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    model: Any = None

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/":
            self._send(200, {"alive": True})
        elif self.path == "/v1/models/model":
            self._send(200 if STATE["state"] == "READY" else 503, STATE)
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "echo", "object": "model"}]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        if STATE["state"] != "READY":
            self._send(503, {"error": "model not ready"})
        elif self.path in ("/predict", "/v1/models/model:predict"):
            self._send(200, self.model.predict(body))
        elif self.path == "/v1/chat/completions":
            result = self.model.chat_completions(body)
            if isinstance(result, dict):
                self._send(200, result)
            else:
                self._stream(result)
        else:
            self._send(404, {"error": "not found"})

    def _stream(self, chunks: Any) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in [*(f"data: {json.dumps(c)}\n\n" for c in chunks), "data: [DONE]\n\n"]:
            data = chunk.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def main() -> None:
    truss_dir, port = sys.argv[1], int(sys.argv[2])
    Handler.model = load_model(truss_dir)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"stand-in replica on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
