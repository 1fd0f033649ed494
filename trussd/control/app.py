"""The control plane's ASGI app (``trussd up``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from trussd.control.api_deployments import router as deployments_router
from trussd.control.api_errors import error_response
from trussd.control.api_invoke import InvokeMiddleware
from trussd.control.api_manage import metrics_router
from trussd.control.api_manage import router as manage_router
from trussd.control.controlplane import ControlPlane
from trussd.errors import TrussdError

__all__ = ["create_app"]


def create_app(plane: ControlPlane) -> FastAPI:
    """An app serving ``plane``; the runtime starts and stops with the app's lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await plane.start()
        try:
            yield
        finally:
            await plane.close()

    app = FastAPI(title="trussd control plane", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.plane = plane
    app.add_exception_handler(TrussdError, error_response)
    app.include_router(manage_router)
    app.include_router(deployments_router)
    app.include_router(metrics_router)
    app.add_middleware(InvokeMiddleware, plane=plane)
    return app
