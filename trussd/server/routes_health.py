"""Routes every app has, whatever it serves: liveness, readiness, metrics."""

from __future__ import annotations

import json

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from trussd.server.context import ServerContext
from trussd.server.metrics import CONTENT_TYPE_LATEST
from trussd.server.routing import add_route

__all__ = ["add_health_routes"]


def _json(value: object, status: int = 200) -> Response:
    return Response(json.dumps(value), status_code=status, media_type="application/json")


def add_health_routes(app: FastAPI, ctx: ServerContext) -> None:
    async def liveness(request: Request) -> Response:
        return _json({"alive": True})

    async def readiness(request: Request) -> Response:
        overall, answers = await ctx.readiness()
        body: dict[str, object] = {
            "name": ctx.spec.model_name,
            "ready": overall.ready,
            "state": overall.state,
            "checks": {
                name: {"ready": a.ready, "state": a.state, "error": a.error}
                for name, a in answers.items()
            },
        }
        if overall.ready:
            return _json(body)
        body["error"] = overall.error or f"not ready (state {overall.state})"
        return _json(body, 503)

    async def metrics(request: Request) -> Response:
        return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    add_route(app, "/", liveness, ["GET"])
    add_route(app, "/v1/models/model", readiness, ["GET"])
    add_route(app, "/metrics", metrics, ["GET"])
