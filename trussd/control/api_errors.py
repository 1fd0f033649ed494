"""The one table from trussd's exceptions to HTTP answers of the control plane.

Invocations under ``/models/{model}/v1/`` (and a deployment's ``/v1/``) answer in OpenAI's error
envelope so SDKs raise the right exception; every other route answers ``{"error", "hint"}``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from trussd import errors as e

__all__ = ["STATUS", "error_body", "error_response", "status_of"]

STATUS: list[tuple[type[e.TrussdError], int]] = [
    (e.Unauthorized, 401),
    (e.NotFound, 404),
    (e.Conflict, 409),
    (e.UploadRejected, 422),
    (e.ConfigError, 422),
    (e.InputError, 400),
    (e.RequestTooLarge, 413),
    (e.Overloaded, 429),
    (e.RequestTimeout, 504),
    (e.EngineCrashed, 502),
    (e.EngineUnavailable, 503),
    (e.ControlError, 400),
    (e.TrussdError, 500),
]

_OPENAI_TYPE = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error"}


def status_of(exc: e.TrussdError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def _is_openai(path: str) -> bool:
    return path.startswith("/models/") and "/v1/" in path


def error_body(path: str, exc: e.TrussdError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, raw headers and JSON body of the answer to ``exc`` on ``path``."""
    code = status_of(exc)
    headers = [(b"content-type", b"application/json")]
    if code == 401:
        headers.append((b"www-authenticate", b"Api-Key"))
    if isinstance(exc, e.Overloaded):
        headers.append((b"retry-after", str(exc.retry_after_seconds).encode()))
    body: dict[str, Any]
    if _is_openai(path):
        kind = _OPENAI_TYPE.get(code, "invalid_request_error" if code < 500 else "server_error")
        body = {"error": {"message": str(exc), "type": kind, "code": type(exc).__name__}}
    else:
        body = {"error": exc.message}
        if exc.hint:
            body["hint"] = exc.hint
        if isinstance(exc, e.ConfigError):
            body["diagnostics"] = [str(d) for d in exc.diagnostics]
    return code, headers, json.dumps(body).encode()


def error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.TrussdError)
    code, headers, body = error_body(request.url.path, exc)
    return Response(body, status_code=code, headers={k.decode(): v.decode() for k, v in headers})
