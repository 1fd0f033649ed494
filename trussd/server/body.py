"""Reading a request body as JSON, with errors that say what is wrong."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from trussd.errors import InputError

__all__ = ["read_json"]


async def read_json(request: Request, *, require_object: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if require_object:
            raise InputError("the request body is empty; send a JSON object")
        return None
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"the request body is not valid JSON: {exc}",
            hint="send a JSON document with `Content-Type: application/json`",
        ) from None
    if require_object and not isinstance(value, dict):
        raise InputError(f"the request body must be a JSON object, not {type(value).__name__}")
    return value
