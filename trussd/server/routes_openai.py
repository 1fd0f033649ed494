"""OpenAI-compatible routes for a Model class that defines ``chat_completions``,
``completions`` or ``embeddings``; inside the same concurrency gate as predict.

A generator result streams as SSE ending with ``data: [DONE]``; a value is returned as JSON.
A Model without the method answers 404 in OpenAI's error envelope.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from trussd.model_wrapper.streams import is_stream
from trussd.model_wrapper.wrapper import ModelWrapper
from trussd.server.body import read_json
from trussd.server.context import ServerContext
from trussd.server.disconnect import run_until_disconnect
from trussd.server.encoding import dumps
from trussd.server.gate import Slot
from trussd.server.responses import openai_stream_response, value_response
from trussd.server.routing import add_route

__all__ = ["attach_openai"]

_ROUTES = {
    "/v1/chat/completions": "chat_completions",
    "/v1/completions": "completions",
    "/v1/embeddings": "embeddings",
}


def attach_openai(app: FastAPI, ctx: ServerContext, wrapper: ModelWrapper) -> None:
    gate = ctx.gate

    def route(method: str) -> Any:
        async def endpoint(request: Request) -> Response:
            body = await read_json(request, require_object=True)
            wrapper.ensure_ready()
            wrapper.require_method(method)

            async def work() -> tuple[Slot, Any]:
                slot = await gate.acquire()
                try:
                    return slot, await wrapper.call_method(method, body, request)
                except BaseException:
                    slot.release()
                    raise

            slot, result = await run_until_disconnect(request.receive, work())
            if is_stream(result):
                return openai_stream_response(result, ctx, slot)
            slot.release()
            return value_response(result)

        endpoint.__name__ = method
        return endpoint

    async def list_models(request: Request) -> Response:
        created = int(ctx.spec.root.stat().st_mtime) if ctx.spec.root.exists() else int(time.time())
        model = {
            "id": ctx.spec.served_model_name,
            "object": "model",
            "created": created,
            "owned_by": "trussd",
        }
        return Response(dumps({"object": "list", "data": [model]}), media_type="application/json")

    for path, method in _ROUTES.items():
        add_route(app, path, route(method), ["POST"])
    add_route(app, "/v1/models", list_models, ["GET"])
