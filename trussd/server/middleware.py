"""One pure-ASGI middleware for every request: request id, body size limit, metrics, access log.

Pure ASGI (not ``BaseHTTPMiddleware``) because it sits on the hot path of every request and
must not buffer streamed responses.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trussd.errors import RequestTooLarge
from trussd.server.context import ServerContext
from trussd.server.errors import error_response, is_openai_path
from trussd.server.logs import request_id_var

__all__ = ["REQUEST_ID_HEADER", "TrussdMiddleware"]

REQUEST_ID_HEADER = "x-request-id"
_access = logging.getLogger("trussd.access")


def _scan_headers(scope: Scope) -> tuple[str | None, int | None]:
    """(the client's X-Request-Id if usable, Content-Length) in one pass over the headers."""
    request_id: str | None = None
    length: int | None = None
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            text: str = value.decode("latin-1")
            if 0 < len(text) <= 128 and text.isprintable():
                request_id = text
        elif key == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
    return request_id, length


# Request ids: a random per-process prefix and a counter (unique across replicas, no syscall
# per request). Reseeded after fork: the control plane forks replicas from a preloaded zygote.
_ID_PREFIX = os.urandom(5).hex()
_ids = itertools.count(1)


def _reseed() -> None:
    global _ID_PREFIX, _ids
    _ID_PREFIX = os.urandom(5).hex()
    _ids = itertools.count(1)


os.register_at_fork(after_in_child=_reseed)


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ids):06x}"


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class TrussdMiddleware:
    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx
        self.limit = ctx.settings.max_request_bytes
        self.access_log = ctx.settings.access_log
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming, length = _scan_headers(scope)
        request_id = incoming or _new_request_id()
        token = request_id_var.set(request_id)
        rid_header = (b"x-request-id", request_id.encode("latin-1"))
        status = 500
        try:
            if length is not None and length > self.limit:
                status = 413
                await self._too_large(scope, receive, send, rid_header)
                return

            async def send_wrapper(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    message["headers"] = [*message.get("headers", ()), rid_header]
                await send(message)

            await self.app(scope, self._limited(receive), send_wrapper)
        finally:
            self._record(scope, status, time.perf_counter() - start)
            request_id_var.reset(token)

    def _limited(self, receive: Receive) -> Receive:
        limit = self.limit
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise RequestTooLarge(f"request body is over the {limit} byte limit")
            return message

        return limited_receive

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, rid: Any) -> None:
        exc = RequestTooLarge(f"request body is over the {self.limit} byte limit")
        response = error_response(exc, openai=is_openai_path(scope["path"]))
        response.raw_headers.append(rid)
        await response(scope, receive, send)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        key = (_route_label(scope), status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a key; do it once per pair
            metrics = self.ctx.metrics
            code = str(status)
            children = (metrics.requests.labels(key[0], code), metrics.latency.labels(key[0], code))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        if self.access_log:
            _access.info("%s %s %s %.1fms", scope["method"], scope["path"], status, seconds * 1000)
