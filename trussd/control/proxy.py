"""Relaying one request to a replica and its answer back, chunk by chunk as it arrives.

The control plane's own ``Authorization`` header never reaches the replica. Transport errors
are translated once: a refused connection means nothing was sent (``ReplicaRefused``: the caller
may try another replica); a connection that ends before the response head means the replica
died with the request in flight (``EngineCrashed``, a clean 502). After the head was sent, a
failure ends an SSE stream with an error event (what OpenAI clients understand) and aborts any
other body, so the client sees an incomplete response rather than a silently truncated one.
When the client goes away mid-stream the replica's connection is closed, so the replica stops
generating for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.types import Receive, Send

from trussd.control.replica import Replica
from trussd.errors import EngineCrashed, EngineUnavailable
from trussd.server.upstream import UpstreamResponse

__all__ = ["DROP_REQUEST_HEADERS", "ReplicaRefused", "relay", "send_request"]

DROP_REQUEST_HEADERS = frozenset(
    {
        b"host",
        b"authorization",
        b"connection",
        b"keep-alive",
        b"content-length",
        b"transfer-encoding",
        b"te",
        b"upgrade",
        b"proxy-authorization",
        b"expect",
    }
)
_DROP_RESPONSE = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"te",
        b"upgrade",
        b"trailer",
        b"date",
        b"server",
    }
)


class ReplicaRefused(EngineUnavailable):
    """The replica did not accept the connection; the request was not sent."""


async def send_request(
    replica: Replica, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> UpstreamResponse:
    assert replica.upstream is not None
    try:
        return await replica.upstream.request(method, target, headers, body)
    except EngineCrashed as exc:
        raise EngineCrashed(
            f"replica {replica.id} failed while serving the request",
            hint="the replica is being replaced; retry the request",
        ) from exc
    except EngineUnavailable as exc:
        raise ReplicaRefused(f"replica {replica.id} refused the connection") from exc


async def relay(
    response: UpstreamResponse,
    replica: Replica,
    receive: Receive,
    send: Send,
    body: bytes | None = None,
) -> None:
    """Send the answer on: ``body`` when the caller already read it whole, else streamed."""
    headers = [(k, v) for k, v in response.headers if k not in _DROP_RESPONSE]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if body is None and not response.streaming:
        try:
            body = await response.read()
        finally:
            response.close()
    if body is not None:
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    sse = any(k == b"content-type" and v.startswith(b"text/event-stream") for k, v in headers)
    gone = asyncio.Event()
    watcher = asyncio.create_task(_watch_disconnect(receive, gone, response))
    try:
        async for chunk in response.stream():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except EngineCrashed as exc:
        if gone.is_set():
            return
        if not sse:
            raise EngineCrashed(f"replica {replica.id} failed mid-response") from exc
        await send({"type": "http.response.body", "body": _sse_error(replica), "more_body": True})
    finally:
        watcher.cancel()
        response.close()
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch_disconnect(
    receive: Receive, gone: asyncio.Event, response: UpstreamResponse
) -> None:
    while True:
        message: dict[str, Any] = dict(await receive())
        if message["type"] == "http.disconnect":
            gone.set()
            with contextlib.suppress(Exception):
                response.abort()
            return


def _sse_error(replica: Replica) -> bytes:
    error = {
        "error": {
            "message": f"replica {replica.id} failed mid-stream; retry the request",
            "type": "server_error",
            "code": "replica_crashed",
        }
    }
    return f"data: {json.dumps(error)}\n\n".encode()
