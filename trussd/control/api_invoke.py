"""Invocation routes: the production deployment of a model, or one deployment by id.

    POST /models/{model}/predict                       → replica POST /predict
    ANY  /models/{model}/v1/{path}                     → replica /v1/{path}  (OpenAI base URL)
    POST /models/{model}/deployments/{id}/predict
    ANY  /models/{model}/deployments/{id}/v1/{path}

These are plain Starlette routes (no dependency injection or body models): they are the hot
path, and the body is the model's business, forwarded untouched.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trussd.control.api_auth import plane, principal
from trussd.control.pool import Pool
from trussd.control.proxy import ReplicaRefused, forward

__all__ = ["invoke_routes"]

_ATTEMPTS = 3
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


async def _invoke(request: Request, pool: Pool, path: str) -> Response:
    cp = plane(request)
    body = await request.body()
    labels = (pool.record.model, pool.id)
    for attempt in range(_ATTEMPTS):
        replica = await cp.activator.acquire(pool)
        released = False

        def done(replica: object = replica) -> None:
            nonlocal released
            if not released:
                released = True
                cp.activator.release(pool, replica)  # type: ignore[arg-type]

        try:
            response = await forward(cp.proxy_client, request, body, replica, path, done)
        except ReplicaRefused:
            done()
            if attempt == _ATTEMPTS - 1:
                cp.metrics.requests.labels(*labels, "refused").inc()
                raise
            await asyncio.sleep(0.05)  # the runtime notices the dead replica meanwhile
            continue
        except BaseException:
            done()
            cp.metrics.requests.labels(*labels, "failed").inc()
            raise
        cp.metrics.requests.labels(*labels, "forwarded").inc()
        return response
    raise AssertionError("unreachable")  # pragma: no cover


async def model_predict(request: Request) -> Response:
    who = principal(request)
    pool = plane(request).pool_for_model(who, request.path_params["model"])
    return await _invoke(request, pool, "/predict")


async def model_openai(request: Request) -> Response:
    who = principal(request)
    pool = plane(request).pool_for_model(who, request.path_params["model"])
    return await _invoke(request, pool, "/v1/" + request.path_params["path"])


async def deployment_predict(request: Request) -> Response:
    who = principal(request)
    p = request.path_params
    pool = plane(request).pool_for_deployment(who, p["model"], p["deployment"])
    return await _invoke(request, pool, "/predict")


async def deployment_openai(request: Request) -> Response:
    who = principal(request)
    p = request.path_params
    pool = plane(request).pool_for_deployment(who, p["model"], p["deployment"])
    return await _invoke(request, pool, "/v1/" + p["path"])


invoke_routes = [
    Route("/models/{model}/predict", model_predict, methods=["POST"]),
    Route("/models/{model}/v1/{path:path}", model_openai, methods=_METHODS),
    Route("/models/{model}/deployments/{deployment}/predict", deployment_predict, methods=["POST"]),
    Route(
        "/models/{model}/deployments/{deployment}/v1/{path:path}",
        deployment_openai,
        methods=_METHODS,
    ),
]
