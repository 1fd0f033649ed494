"""In-process helpers: build the app for a fixture truss, run its lifespan, talk to it over
httpx's ASGI transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from trussd.config import load_truss
from trussd.server.app import create_app
from trussd.server.context import ServerContext
from trussd.server.settings import ServerSettings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def settings(**overrides: object) -> ServerSettings:
    base: dict[str, object] = {"secrets_dir": None, "check_dependencies": False}
    base.update(overrides)
    return ServerSettings.model_validate(base)


def ctx_of(app: FastAPI) -> ServerContext:
    ctx = app.state.ctx
    assert isinstance(ctx, ServerContext)
    return ctx


async def wait_loaded(app: FastAPI) -> None:
    """Wait for the background load task(s) started by the lifespan."""
    tasks = [t for t in ctx_of(app).tasks if t.get_name() == "trussd-model-load"]
    if tasks:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)


@asynccontextmanager
async def served(
    name: str, *, wait: bool = True, **overrides: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(load_truss(FIXTURES / name), settings(**overrides))
    async with app.router.lifespan_context(app):
        if wait:
            await wait_loaded(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://trussd.test") as client:
            yield app, client


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
