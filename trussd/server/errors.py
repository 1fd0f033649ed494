"""One table from trussd's exceptions to HTTP, and the two body shapes that carry them.

Handlers raise; this module decides how an error looks. Truss routes answer
``{"error": "..."}`` (as Truss does), ``/v1/*`` OpenAI routes answer OpenAI's envelope
``{"error": {"message", "type", "code"}}`` so that SDKs raise the matching exception.
An exception that is not a ``TrussdError`` is a bug in user code (or ours): it is logged
with its traceback and answered with a clean 500 that leaks nothing.

    exception            status  OpenAI type             code
    InputError           400     invalid_request_error   invalid_input
    MethodNotFound       404     invalid_request_error   method_not_found
    NotFound             404     invalid_request_error   not_found
    RequestTooLarge      413     invalid_request_error   request_too_large
    ModelContractError   412     server_error            model_contract
    SecretNotFound       412     server_error            secret_not_found
    UserCodeError        500     server_error            model_error
    ModelNotReady        503     server_error            model_not_ready
    ModelLoadError       503     server_error            model_load_failed
    Overloaded           503     server_error            overloaded   (+ Retry-After)
    EngineUnavailable    503     server_error            engine_unavailable
    EngineCrashed        502     server_error            engine_crashed
    RequestTimeout       504     server_error            timeout
    other TrussdError    500     server_error            internal_error
    other Exception      500     server_error            internal_error
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from trussd.errors import (
    EngineCrashed,
    EngineUnavailable,
    InputError,
    MethodNotFound,
    ModelContractError,
    ModelLoadError,
    ModelNotReady,
    NotFound,
    Overloaded,
    RequestTimeout,
    RequestTooLarge,
    SecretNotFound,
    TrussdError,
    UserCodeError,
)

__all__ = [
    "ERROR_TABLE",
    "ErrorInfo",
    "describe",
    "error_body",
    "error_response",
    "is_openai_path",
    "openai_error_body",
    "truss_error_body",
]

logger = logging.getLogger("trussd.server")

MODEL_ERROR_MESSAGE = "Internal Server Error: the model raised an exception (see the server log)"


@dataclass(frozen=True)
class ErrorInfo:
    status: int
    openai_type: str
    code: str


_SERVER = "server_error"
_CLIENT = "invalid_request_error"

#: Most specific class first; the first isinstance match wins.
ERROR_TABLE: tuple[tuple[type[BaseException], ErrorInfo], ...] = (
    (InputError, ErrorInfo(400, _CLIENT, "invalid_input")),
    (MethodNotFound, ErrorInfo(404, _CLIENT, "method_not_found")),
    (NotFound, ErrorInfo(404, _CLIENT, "not_found")),
    (RequestTooLarge, ErrorInfo(413, _CLIENT, "request_too_large")),
    (ModelContractError, ErrorInfo(412, _SERVER, "model_contract")),
    (SecretNotFound, ErrorInfo(412, _SERVER, "secret_not_found")),
    (UserCodeError, ErrorInfo(500, _SERVER, "model_error")),
    (ModelNotReady, ErrorInfo(503, _SERVER, "model_not_ready")),
    (ModelLoadError, ErrorInfo(503, _SERVER, "model_load_failed")),
    (Overloaded, ErrorInfo(503, _SERVER, "overloaded")),
    (EngineUnavailable, ErrorInfo(503, _SERVER, "engine_unavailable")),
    (EngineCrashed, ErrorInfo(502, _SERVER, "engine_crashed")),
    (RequestTimeout, ErrorInfo(504, _SERVER, "timeout")),
    (TrussdError, ErrorInfo(500, _SERVER, "internal_error")),
)
_FALLBACK = ErrorInfo(500, _SERVER, "internal_error")


def describe(exc: BaseException) -> ErrorInfo:
    for cls, info in ERROR_TABLE:
        if isinstance(exc, cls):
            return info
    return _FALLBACK


def _public_message(exc: BaseException) -> str:
    """What the client may see: our own messages, never a user exception's internals."""
    if isinstance(exc, UserCodeError):
        return MODEL_ERROR_MESSAGE
    if isinstance(exc, TrussdError):
        return str(exc)
    return "Internal Server Error"


def truss_error_body(exc: BaseException) -> dict[str, object]:
    body: dict[str, object] = {"error": _public_message(exc)}
    if isinstance(exc, InputError) and exc.errors:
        body["errors"] = exc.errors
    if isinstance(exc, ModelNotReady):
        body["state"] = exc.state
    return body


def openai_error_body(exc: BaseException) -> dict[str, object]:
    info = describe(exc)
    param = None
    if isinstance(exc, InputError) and exc.errors:
        param = exc.errors[0].get("loc")
    return {
        "error": {
            "message": _public_message(exc),
            "type": info.openai_type,
            "param": param,
            "code": info.code,
        }
    }


def is_openai_path(path: str) -> bool:
    """``/v1/models/model`` (readiness) and its ``:predict`` are Truss routes, not OpenAI ones."""
    return path.startswith("/v1/") and not path.startswith("/v1/models/")


def error_body(exc: BaseException, *, openai: bool) -> dict[str, object]:
    return openai_error_body(exc) if openai else truss_error_body(exc)


def log_exception(exc: BaseException, request_path: str) -> None:
    """Log once: user and unknown exceptions with their traceback, ours as one line."""
    info = describe(exc)
    if isinstance(exc, UserCodeError) or not isinstance(exc, TrussdError):
        cause = exc.__cause__ if isinstance(exc, UserCodeError) and exc.__cause__ else exc
        logger.error(
            "%s failed: %s", request_path, exc, exc_info=(type(cause), cause, cause.__traceback__)
        )
    elif info.status >= 500:
        logger.warning("%s: %s", request_path, exc)
    else:
        logger.info("%s: %s", request_path, exc)


def error_response(exc: BaseException, *, openai: bool) -> Response:
    info = describe(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, Overloaded):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    content = json.dumps(error_body(exc, openai=openai)).encode()
    return Response(
        content, status_code=info.status, headers=headers, media_type="application/json"
    )


async def handle_exception(request: Request, exc: Exception) -> Response:
    """The app's exception handler for every exception (installed by ``create_app``)."""
    log_exception(exc, request.url.path)
    return error_response(exc, openai=is_openai_path(request.url.path))
