"""Validate a request body against the pydantic model a method is annotated with, and
describe input/output as JSON Schema for ``GET /v1/models/model/schema``."""

from __future__ import annotations

import collections.abc as cabc
import typing
from typing import Any

import pydantic

from trussd.errors import InputError
from trussd.model_wrapper.contract import MethodInfo

__all__ = ["output_schema", "validate_input"]


def _loc(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(body)"


def validate_input(info: MethodInfo, body: Any) -> Any:
    """The body as the annotated pydantic model, or InputError with each failing field's path."""
    model = info.input_model
    if model is None or isinstance(body, model):
        return body
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        errors: list[dict[str, object]] = [
            {"loc": _loc(tuple(e["loc"])), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
        ]
        summary = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5])
        raise InputError(f"invalid input for {model.__name__}: {summary}", errors=errors) from None


_STREAM_ORIGINS = (cabc.Generator, cabc.AsyncGenerator, cabc.Iterator, cabc.AsyncIterator)


def output_schema(annotation: Any) -> tuple[dict[str, Any] | None, bool]:
    """(JSON Schema of the output model, whether it streams)."""
    if typing.get_origin(annotation) in _STREAM_ORIGINS:
        return None, True
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation.model_json_schema(), False
    return None, False
