"""JSON that accepts numpy values and pydantic models, and the three ways a chunk goes out:
raw (chunked transfer), SSE for predict, SSE for OpenAI streams."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import enum
import json
from pathlib import Path
from typing import Any

import pydantic

__all__ = ["dumps", "json_default", "openai_sse_chunk", "raw_chunk", "sse_chunk", "sse_event"]


def json_default(value: Any) -> Any:
    """Called by json for values it does not know (numpy arrays and scalars, pydantic, ...)."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, torch tensors
    if callable(tolist) and type(value).__module__.split(".")[0] in {"numpy", "torch"}:
        return tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# One encoder for the process: json.dumps with non-default arguments builds a new one per call.
_ENCODER = json.JSONEncoder(default=json_default, separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


def raw_chunk(chunk: Any) -> bytes:
    """Chunked streaming: text and bytes as they are, anything else as one JSON line."""
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode()
    return dumps(chunk) + b"\n"


def sse_event(data: str, event: str | None = None) -> bytes:
    lines = [f"event: {event}"] if event else []
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def sse_chunk(chunk: Any) -> bytes:
    """``Accept: text/event-stream`` on predict: each chunk is one ``data:`` event."""
    if isinstance(chunk, bytes):
        chunk = chunk.decode(errors="replace")
    if isinstance(chunk, str):
        return sse_event(chunk)
    return sse_event(dumps(chunk).decode())


_SSE_PREFIXES = ("data:", "event:", "id:", "retry:", ":")


def openai_sse_chunk(chunk: Any) -> bytes:
    """OpenAI streams: objects become ``data: {json}``; text already in SSE form (as Truss
    models often yield it) passes through unchanged."""
    if isinstance(chunk, bytes):
        chunk = chunk.decode(errors="replace")
    if isinstance(chunk, str):
        if chunk.lstrip().startswith(_SSE_PREFIXES):
            return chunk.encode()
        return sse_event(chunk)
    return b"data: " + dumps(chunk) + b"\n\n"
