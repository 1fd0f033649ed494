"""``create_app(spec, settings)``: the FastAPI app that serves one truss.

CUSTOM trusses get the Model's routes (Truss predict/schema and OpenAI routes); ENGINE and
DOCKER_SERVER trusses are attached by ``trussd.server.engine_front.attach_engine``, which
registers its routes and hooks through the same ``ServerContext``. Liveness, readiness,
metrics, the error table and the request middleware are the same for every kind.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from trussd.config.spec import TrussKind, TrussSpec
from trussd.errors import TrussdError
from trussd.model_wrapper.dependency_check import find_clashes
from trussd.model_wrapper.wrapper import ModelWrapper
from trussd.server.context import ServerContext
from trussd.server.disconnect import ClientDisconnected
from trussd.server.encoding import dumps
from trussd.server.errors import handle_exception, is_openai_path
from trussd.server.middleware import TrussdMiddleware
from trussd.server.routes_health import add_health_routes
from trussd.server.routes_model import attach_model
from trussd.server.routes_openai import attach_openai
from trussd.server.settings import ServerSettings

__all__ = ["create_app"]

logger = logging.getLogger("trussd.server")


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if is_openai_path(request.url.path):
        body: dict[str, object] = {
            "error": {
                "message": detail,
                "type": "invalid_request_error",
                "param": None,
                "code": str(exc.status_code),
            }
        }
    else:
        body = {"error": detail}
    return Response(
        dumps(body), status_code=exc.status_code, headers=exc.headers, media_type="application/json"
    )


async def _client_gone(request: Request, exc: Exception) -> Response:
    return Response(status_code=499)


def _install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TrussdError, handle_exception)
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(ClientDisconnected, _client_gone)
    app.add_exception_handler(Exception, handle_exception)


def _warn_conflicts(spec: TrussSpec) -> None:
    for clash in find_clashes(spec.requirements):
        logger.warning("dependency clash: %s", clash.render())


def create_app(spec: TrussSpec, settings: ServerSettings | None = None) -> FastAPI:
    """Build the app. Raises ModelContractError when a Model class breaks the contract."""
    settings = settings or ServerSettings()
    ctx = ServerContext(spec, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ctx.run_startup()
        try:
            yield
        finally:
            await ctx.run_shutdown()

    app = FastAPI(
        title=f"trussd: {spec.model_name}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    _install_error_handlers(app)
    app.add_middleware(TrussdMiddleware, ctx=ctx)
    if settings.check_dependencies:
        _warn_conflicts(spec)
    transport = spec.config.runtime.transport.kind
    if transport != "http":
        logger.warning(
            "runtime.transport is %s; trussd serves HTTP only, so it is ignored", transport
        )

    if spec.kind in (TrussKind.ENGINE, TrussKind.DOCKER_SERVER):
        from trussd.server.engine_front import attach_engine

        add_health_routes(app, ctx)
        attach_engine(app, ctx, spec)
        return app

    wrapper = ModelWrapper.from_spec(
        spec,
        secrets_dir=settings.secrets_dir,
        environment=settings.environment,
        workers=ctx.predict_concurrency,
    )
    attach_model(app, ctx, wrapper)  # first: predict is the hot path, routes match in order
    attach_openai(app, ctx, wrapper)
    add_health_routes(app, ctx)
    return app
