"""Turn a model's return value into an HTTP response (non-streamed or streamed)."""

from __future__ import annotations

from typing import Any

import pydantic
from starlette.responses import Response

from trussd.model_wrapper.streams import ChunkStream
from trussd.server.context import ServerContext
from trussd.server.encoding import dumps, openai_sse_chunk, raw_chunk, sse_chunk, sse_event
from trussd.server.errors import openai_error_body, truss_error_body
from trussd.server.gate import Slot
from trussd.server.streaming import StreamResponse

__all__ = ["openai_stream_response", "predict_stream_response", "value_response"]


def value_response(value: Any) -> Response:
    if isinstance(value, Response):
        return value
    if isinstance(value, pydantic.BaseModel):
        return Response(value.model_dump_json(), media_type="application/json")
    return Response(dumps(value), media_type="application/json")


def predict_stream_response(
    stream: ChunkStream, ctx: ServerContext, slot: Slot, *, sse: bool
) -> StreamResponse:
    if sse:
        return StreamResponse(
            stream,
            encode=sse_chunk,
            encode_error=lambda exc: sse_event(
                dumps(truss_error_body(exc)).decode(), event="error"
            ),
            media_type="text/event-stream; charset=utf-8",
            timeout=ctx.streaming_read_timeout,
            slot=slot,
            metrics=ctx.metrics,
        )
    return StreamResponse(
        stream,
        encode=raw_chunk,
        encode_error=lambda exc: b"\n" + dumps(truss_error_body(exc)) + b"\n",
        media_type="application/octet-stream",
        timeout=ctx.streaming_read_timeout,
        slot=slot,
        metrics=ctx.metrics,
    )


def openai_stream_response(stream: ChunkStream, ctx: ServerContext, slot: Slot) -> StreamResponse:
    return StreamResponse(
        stream,
        encode=openai_sse_chunk,
        encode_error=lambda exc: b"data: " + dumps(openai_error_body(exc)) + b"\n\n",
        media_type="text/event-stream; charset=utf-8",
        timeout=ctx.streaming_read_timeout,
        slot=slot,
        done=b"data: [DONE]\n\n",
        metrics=ctx.metrics,
    )
