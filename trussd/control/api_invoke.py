"""Invocation: the production deployment of a model, or one deployment by id.

    POST /models/{model}/predict                       → replica POST /predict
    ANY  /models/{model}/v1/{path}                     → replica /v1/{path}  (OpenAI base URL)
    POST /models/{model}/deployments/{id}/predict
    ANY  /models/{model}/deployments/{id}/v1/{path}

This is the hot path, so it is a bare ASGI layer in front of the FastAPI app: no routing
table, dependency injection or response classes, and the body is forwarded untouched.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from trussd.control.api_errors import error_body
from trussd.control.controlplane import ControlPlane
from trussd.control.keys import parse_authorization
from trussd.control.pool import Pool
from trussd.control.proxy import DROP_REQUEST_HEADERS, ReplicaRefused, relay, send_request
from trussd.control.replica import Replica
from trussd.errors import NotFound, RequestTooLarge, TrussdError
from trussd.server.disconnect import ClientDisconnected, run_until_disconnect
from trussd.server.upstream import UpstreamResponse

__all__ = ["InvokeMiddleware"]

_ATTEMPTS = 3
_MAX_BODY = 256 * 1024**2


def _route(path: str) -> tuple[str, str | None, str]:
    """``/models/m/...`` → (model, deployment or None, path on the replica)."""
    model, _, tail = path[len("/models/") :].partition("/")
    deployment = None
    if tail.startswith("deployments/"):
        deployment, _, tail = tail[len("deployments/") :].partition("/")
    if model and deployment != "" and tail == "predict":
        return model, deployment, "/predict"
    if model and deployment != "" and tail.startswith("v1/") and len(tail) > 3:
        return model, deployment, "/" + tail
    raise NotFound(f"no route {path}", hint="use /models/{model}/predict or /models/{model}/v1/...")


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise RequestTooLarge(f"request body over {_MAX_BODY // 1024**2} MiB")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class InvokeMiddleware:
    def __init__(self, app: ASGIApp, plane: ControlPlane) -> None:
        self.app = app
        self.plane = plane
        self._counters: dict[tuple[str, str], Any] = {}

    def _counter(self, pool: Pool, outcome: str) -> Any:
        """The labelled counter, looked up once per (deployment, outcome): it is the hot path."""
        key = (pool.id, outcome)
        counter = self._counters.get(key)
        if counter is None:
            counter = self.plane.metrics.requests.labels(pool.record.model, pool.id, outcome)
            self._counters[key] = counter
        return counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/models/"):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._invoke(scope, receive, tracked)
        except ClientDisconnected:
            return  # nobody is left to answer; the replica's request was cancelled
        except TrussdError as exc:
            if started:
                raise  # the head is out: abort the connection rather than truncate silently
            status, headers, body = error_body(scope["path"], exc)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    def _pool(self, scope: Scope) -> tuple[Pool, str]:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        who = self.plane.authenticate(
            parse_authorization(header.decode("latin-1") if header else None)
        )
        model, deployment, _ = _route(scope["path"])
        # The replica gets the path as the client sent it (still percent-encoded): the decoded
        # one may hold spaces or CR/LF that would end the request line early (smuggling).
        raw = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0]
        _, _, path = _route(raw.decode("latin-1"))
        if deployment is None:
            return self.plane.pool_for_model(who, model), path
        return self.plane.pool_for_deployment(who, model, deployment), path

    async def _invoke(self, scope: Scope, receive: Receive, send: Send) -> None:
        pool, path = self._pool(scope)
        body = await _read_body(receive)
        headers = [(k, v) for k, v in scope["headers"] if k not in DROP_REQUEST_HEADERS]
        query = scope.get("query_string", b"")
        target = path + ("?" + query.decode("latin-1") if query else "")
        outcome = self._counter
        for attempt in range(_ATTEMPTS):
            # A client that leaves while queued, while the replica works or while a whole body
            # is read cancels all of it: the slot is freed and the replica's connection closed.
            work = self._start(pool, scope["method"], target, headers, body)
            try:
                replica, response, data = await run_until_disconnect(receive, work)
            except ReplicaRefused:
                if attempt == _ATTEMPTS - 1:
                    outcome(pool, "refused").inc()
                    raise
                await asyncio.sleep(0.05)  # the runtime notices the dead replica meanwhile
                continue
            except BaseException:
                outcome(pool, "failed").inc()
                raise
            try:
                await relay(response, replica, receive, send, data)
            except BaseException:
                outcome(pool, "failed").inc()
                raise
            finally:
                self.plane.activator.release(pool, replica)
            outcome(pool, "forwarded").inc()
            return

    async def _start(
        self, pool: Pool, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> tuple[Replica, UpstreamResponse, bytes | None]:
        """A slot, the replica's response head and, unless it streams, its whole body.

        On any failure or cancellation the slot is released and the connection dropped."""
        replica = await self.plane.activator.acquire(pool)
        try:
            response = await send_request(replica, method, target, headers, body)
            if response.streaming:
                return replica, response, None
            try:
                return replica, response, await response.read()
            finally:
                response.close()
        except BaseException:
            self.plane.activator.release(pool, replica)
            raise
