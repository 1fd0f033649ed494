"""The hot path of an engine truss: one request in, the same request to the engine, its answer out.

Pure ASGI endpoints (no FastAPI request parsing, no response buffering) over one shared
keep-alive ``UpstreamClient`` (``upstream``):

- the body is parsed once to map ``model`` (public name → the engine's) and adapt it for
  the engine; names in the answer are mapped back with a byte replace per chunk;
- each request holds a slot of the server's concurrency gate until its last byte is sent;
- a streamed answer goes out chunk by chunk as the engine writes it;
- errors are translated once: engine down before the request → ``EngineUnavailable`` (503),
  connection lost during it → ``EngineCrashed`` (502, or an OpenAI ``error`` event when the
  stream had started), no chunk within ``streaming_read_timeout`` → ``RequestTimeout``; an
  engine's own 4xx/5xx passes through, in OpenAI's error envelope if it used another shape.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.types import Receive, Scope, Send

from trussd.backends.base import Backend, LaunchPlan
from trussd.backends.engine_metrics import RUNNING, WAITING, EngineMetrics, StreamObserver
from trussd.backends.state import EngineState
from trussd.backends.supervisor import EngineSupervisor
from trussd.errors import (
    EngineUnavailable,
    InputError,
    NotFound,
    TrussdError,
)
from trussd.server.context import ServerContext
from trussd.server.disconnect import (
    ClientDisconnected,
    run_until_disconnect,
    wait_for_disconnect,
)
from trussd.server.errors import log_exception, openai_error_body
from trussd.server.gate import Slot
from trussd.server.upstream import UpstreamClient, UpstreamResponse

__all__ = ["EngineProxy", "PredictEndpoint", "ProxyEndpoint"]

logger = logging.getLogger("trussd.server")
_SSE_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_FORWARD = (b"content-type", b"accept", b"x-request-id", b"authorization")


def _quoted(name: str) -> bytes:
    return json.dumps(name).encode()


class EngineProxy:
    """Everything the endpoints share: the engine's plan, client, supervisor and names."""

    def __init__(
        self,
        ctx: ServerContext,
        backend: Backend,
        plan: LaunchPlan,
        supervisor: EngineSupervisor,
        metrics: EngineMetrics,
        *,
        map_names: bool = True,
    ) -> None:
        self.ctx = ctx
        self.backend = backend
        self.plan = plan
        self.supervisor = supervisor
        self.metrics = metrics
        self.public_name = ctx.spec.served_model_name
        self.map_names = map_names
        engine_name = plan.served_model_name
        self._rename: tuple[bytes, bytes] | None = None
        if map_names and engine_name and engine_name != self.public_name:
            self._rename = (_quoted(engine_name), _quoted(self.public_name))
        self._count_running = metrics.measures(RUNNING)
        self._count_waiting = metrics.measures(WAITING)
        self.client: UpstreamClient | None = None

    # ------------------------------------------------------------ lifecycle
    async def open_client(self) -> None:
        self.client = UpstreamClient(self.plan.host, self.plan.port, name="the engine")
        if self._count_waiting:
            self.ctx.gate.observe(lambda _running, queued: self.metrics.front.waiting.set(queued))

    async def close_client(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    # --------------------------------------------------------------- request
    def check_ready(self) -> None:
        state = self.supervisor.state
        if state is not EngineState.READY or self.client is None:
            detail = f": {self.supervisor.last_error}" if self.supervisor.last_error else ""
            raise EngineUnavailable(f"the engine is {state.value.lower()}{detail}")

    def prepare(self, raw: bytes) -> tuple[bytes, bool]:
        """The body for the engine (model mapped, adapted) and whether it asks to stream."""
        try:
            body = json.loads(raw) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"the request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise InputError("the request body must be a JSON object")
        if self.map_names and self.plan.served_model_name:
            model = body.get("model")
            if model is None:
                body["model"] = self.public_name
            elif model not in (self.public_name, self.plan.served_model_name):
                raise NotFound(
                    f"the model `{model}` does not exist; this server serves `{self.public_name}`"
                )
        body = self.backend.adapt_request(body, self.plan)
        return json.dumps(body, separators=(",", ":")).encode(), bool(body.get("stream"))

    def rename(self, data: bytes) -> bytes:
        if self._rename is None:
            return data
        return data.replace(*self._rename)

    async def send_upstream(
        self, method: str, path: str, content: bytes | None, headers: list[tuple[bytes, bytes]]
    ) -> UpstreamResponse:
        if self.client is None:
            raise EngineUnavailable("the engine front is not started")
        return await self.client.request(method, path, headers, content)

    def running(self, delta: int) -> None:
        if self._count_running:
            self.metrics.front.running.inc(delta)


def _headers_for_engine(scope: Scope, content: bytes | None) -> list[tuple[bytes, bytes]]:
    out = [(k, v) for k, v in scope["headers"] if k in _FORWARD]
    if content is not None and not any(k == b"content-type" for k, _ in out):
        out.append((b"content-type", b"application/json"))
    return out


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected("client disconnected")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _openai_envelope(status: int, body: bytes) -> bytes:
    """An engine's error body in OpenAI's envelope (SDKs read ``error.message``)."""
    try:
        value: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = body.decode("utf-8", "replace")
    if isinstance(value, dict) and isinstance(value.get("error"), dict):
        return body
    message = value.get("detail", value) if isinstance(value, dict) else value
    kind = "invalid_request_error" if status < 500 else "server_error"
    return json.dumps(
        {"error": {"message": str(message), "type": kind, "param": None, "code": str(status)}}
    ).encode()


class ProxyEndpoint:
    """An ASGI endpoint that forwards to ``upstream`` on the engine.

    ``upstream_path(body)`` picks the path per request (``PredictEndpoint`` chooses chat or
    completions); ``openai`` selects the error envelope; ``json_body`` False forwards the
    body untouched (a docker_server's predict).
    """

    def __init__(
        self,
        proxy: EngineProxy,
        upstream: str,
        *,
        method: str = "POST",
        openai: bool = True,
        json_body: bool = True,
    ) -> None:
        self.proxy = proxy
        self.upstream = upstream
        self.method = method
        self.openai = openai
        self.json_body = json_body

    def upstream_path(self, content: bytes) -> str:
        return self.upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        proxy = self.proxy
        proxy.check_ready()
        content: bytes | None = None
        stream = False
        if self.method == "POST":
            raw = await _read_body(receive)
            content, stream = proxy.prepare(raw) if self.json_body else (raw, False)
        path = self.upstream_path(content or b"")
        headers = _headers_for_engine(scope, content)
        gate = proxy.ctx.gate

        sent = 0.0

        async def start() -> tuple[Slot, UpstreamResponse]:
            nonlocal sent
            slot = await gate.acquire()
            proxy.running(1)  # from here the engine has the request
            sent = time.perf_counter()
            try:
                return slot, await proxy.send_upstream(self.method, path, content, headers)
            except BaseException:
                proxy.running(-1)
                slot.release()
                raise

        def abandoned(outcome: tuple[Slot, UpstreamResponse]) -> None:
            proxy.running(-1)
            outcome[0].release()
            outcome[1].close()

        slot, upstream = await run_until_disconnect(receive, start(), abandoned)
        try:
            if upstream.streaming:
                await self._stream(upstream, send, receive, stream, sent)
            else:
                await self._whole(upstream, send, receive)
        finally:
            upstream.close()
            proxy.running(-1)
            slot.release()

    async def _whole(self, upstream: UpstreamResponse, send: Send, receive: Receive) -> None:
        body = await run_until_disconnect(receive, upstream.read())
        status = upstream.status
        if status >= 400 and self.openai:
            body = _openai_envelope(status, body)
        elif status < 400:
            body = self.proxy.rename(body)
            StreamObserver(self.proxy.metrics).body(body)
        content_type = upstream.header(b"content-type", b"application/json")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _stream(
        self, upstream: UpstreamResponse, send: Send, receive: Receive, stream: bool, sent: float
    ) -> None:
        proxy = self.proxy
        content_type = upstream.header(b"content-type", b"text/event-stream")
        sse = content_type.startswith(b"text/event-stream")
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status,
                "headers": [(b"content-type", content_type), *(_SSE_HEADERS if sse else ())],
            }
        )
        task = asyncio.current_task()
        assert task is not None
        gone = False

        def on_disconnect(done: asyncio.Future[None]) -> None:
            nonlocal gone
            if not done.cancelled():
                gone = True
                task.cancel()

        watcher = asyncio.ensure_future(wait_for_disconnect(receive))
        watcher.add_done_callback(on_disconnect)
        # Asked-for streams get the streaming timeout between chunks; other bodies of unknown
        # length are bounded by the engine's health checks instead.
        timeout = proxy.ctx.streaming_read_timeout if stream else None
        try:
            error = await self._pump(upstream, send, timeout, sent)
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()
            logger.info("client disconnected during an engine stream; closed it upstream")
            return
        finally:
            watcher.remove_done_callback(on_disconnect)
            watcher.cancel()
            upstream.close()
        if error is not None:
            log_exception(error, "engine stream")
            event = self._error_event(error) if sse else b""
            await send({"type": "http.response.body", "body": event, "more_body": True})
            if not sse:
                return  # no final chunk: the connection closes, clients see an incomplete body
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(
        self, upstream: UpstreamResponse, send: Send, timeout: float | None, sent: float
    ) -> TrussdError | None:
        """Send each chunk as it arrives; the error that ended the stream early, if any."""
        observer = StreamObserver(self.proxy.metrics, sent)
        rename = self.proxy.rename
        try:
            async for chunk in upstream.stream(timeout):
                chunk = rename(chunk)
                observer.chunk(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except TrussdError as exc:  # EngineCrashed, RequestTimeout
            return exc
        return None

    def _error_event(self, error: TrussdError) -> bytes:
        if self.openai:
            return b"data: " + json.dumps(openai_error_body(error)).encode() + b"\n\n"
        return b"event: error\ndata: " + json.dumps({"error": str(error)}).encode() + b"\n\n"


class PredictEndpoint(ProxyEndpoint):
    """``/predict`` on an engine truss: a chat body goes to chat completions, a prompt to
    completions (Truss's engine trusses take OpenAI-shaped bodies on predict)."""

    def upstream_path(self, content: bytes) -> str:
        return "/v1/chat/completions" if b'"messages"' in content else "/v1/completions"
