"""Authentication of every control-plane route.

``Authorization: Api-Key <key>`` (Baseten's form) or ``Bearer <key>`` (OpenAI clients').
"""

from __future__ import annotations

from fastapi import Request

from trussd.control.controlplane import ControlPlane
from trussd.control.keys import Principal, parse_authorization
from trussd.errors import Unauthorized

__all__ = ["plane", "principal", "require_admin"]


def plane(request: Request) -> ControlPlane:
    cp = request.app.state.plane
    assert isinstance(cp, ControlPlane)
    return cp


def principal(request: Request) -> Principal:
    key = parse_authorization(request.headers.get("authorization"))
    return plane(request).authenticate(key)


def require_admin(request: Request) -> Principal:
    who = principal(request)
    if not who.is_admin:
        # Not a 403: a tenant key learns nothing about what admin routes exist or hold.
        raise Unauthorized("this route needs an admin key")
    return who
