"""Plain Starlette routes for trussd's own endpoints.

Our endpoints take a ``Request`` and return a ``Response``; FastAPI's dependency solving
would cost every request time for nothing, so they are Starlette routes. Each route puts
itself in the scope as ``scope["route"]`` (as FastAPI's do) so that metrics can label
requests by route template.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

__all__ = ["TrussdRoute", "add_route"]

Endpoint = Callable[[Request], Awaitable[Response]]


class TrussdRoute(Route):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


def add_route(app: FastAPI, path: str, endpoint: Endpoint, methods: list[str]) -> None:
    app.router.routes.append(TrussdRoute(path, endpoint, methods=methods, include_in_schema=False))
