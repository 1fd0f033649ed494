"""Forwarding one request to a replica, streaming the answer back as it arrives.

The control plane's own ``Authorization`` header never reaches the replica. Transport errors
are translated once: a connection refused means nothing was sent (the caller may try another
replica); any other failure before the response head means the replica died with the request
in flight (``EngineCrashed``, a clean 502). After the head was sent, a failure ends an SSE stream
with an error event (what OpenAI clients understand) and aborts any other body, so the client
sees an incomplete response rather than a silently truncated one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
from starlette.requests import Request
from starlette.responses import StreamingResponse

from trussd.control.replica import Replica
from trussd.errors import EngineCrashed, EngineUnavailable

__all__ = ["ReplicaRefused", "forward"]

_DROP_REQUEST = {
    b"host",
    b"authorization",
    b"connection",
    b"keep-alive",
    b"content-length",
    b"transfer-encoding",
    b"te",
    b"upgrade",
    b"proxy-authorization",
}
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "trailer"}


class ReplicaRefused(EngineUnavailable):
    """The replica did not accept the connection; the request was not sent."""


async def forward(
    client: httpx.AsyncClient,
    request: Request,
    body: bytes,
    replica: Replica,
    path: str,
    on_done: Callable[[], None],
) -> StreamingResponse:
    """Send ``request`` to ``path`` on ``replica``; ``on_done`` runs once the response is over."""
    headers = [(k, v) for k, v in request.scope["headers"] if k not in _DROP_REQUEST]
    query = request.scope.get("query_string", b"")
    url = replica.base_url + path + (("?" + query.decode("latin-1")) if query else "")
    upstream_request = client.build_request(request.method, url, headers=headers, content=body)
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.ConnectError as exc:
        raise ReplicaRefused(f"replica {replica.id} refused the connection") from exc
    except httpx.TransportError as exc:
        raise EngineCrashed(
            f"replica {replica.id} failed while serving the request",
            hint="the replica is being replaced; retry the request",
        ) from exc
    response_headers = {
        k: v for k, v in upstream.headers.items() if k.lower() not in _DROP_RESPONSE
    }
    sse = upstream.headers.get("content-type", "").startswith("text/event-stream")
    return StreamingResponse(
        _relay(upstream, replica, sse, on_done),
        status_code=upstream.status_code,
        headers=response_headers,
    )


async def _relay(
    upstream: httpx.Response, replica: Replica, sse: bool, on_done: Callable[[], None]
) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.aiter_raw():
            yield chunk
    except httpx.TransportError as exc:
        if not sse:
            raise EngineCrashed(f"replica {replica.id} failed mid-response") from exc
        error = {
            "error": {
                "message": f"replica {replica.id} failed mid-stream; retry the request",
                "type": "server_error",
                "code": "replica_crashed",
            }
        }
        yield f"data: {json.dumps(error)}\n\n".encode()
    finally:
        await upstream.aclose()
        on_done()
