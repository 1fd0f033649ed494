"""The one exception tree of trussd.

Every error trussd raises on purpose is a ``TrussdError``. Code at a boundary (the HTTP
server, the CLI) maps these to a status or an exit code in one table each; nothing else
decides how an error looks to a user. Foreign errors (OS, engine, HTTP client) are
translated into one of these once, where they are caught, and chained with ``from``.

    TrussdError
    ├── ConfigError                 config.yaml or the truss folder is invalid (carries diagnostics)
    ├── ModelError
    │   ├── ModelContractError      model.py breaks the Model contract (found at start)
    │   ├── ModelLoadError          load() raised
    │   ├── ModelNotReady           the model is loading, failed or unhealthy
    │   ├── MethodNotFound          the Model has no such method (e.g. no chat_completions)
    │   ├── SecretNotFound          a secret the model asked for is not provided
    │   └── UserCodeError           predict/preprocess/postprocess raised
    ├── InputError                  the request body is invalid (bad JSON, failed validation)
    ├── RequestTooLarge             the body is over the server's size limit
    ├── Overloaded                  the concurrency queue is full
    ├── RequestTimeout              no chunk within streaming_read_timeout, or queue wait expired
    ├── EngineError
    │   ├── EngineNotInstalled      the engine's package/command is absent (with an install hint)
    │   ├── EngineUnavailable       the engine is starting, restarting or down
    │   └── EngineCrashed           the engine died during a request
    ├── BuildError                  an image build failed (names the step)
    ├── ManifestError               Kubernetes manifests failed a check
    └── ControlError
        ├── Unauthorized            missing or wrong API key
        ├── NotFound                no such model/deployment (also for another tenant's)
        ├── Conflict                the request conflicts with current state
        └── UploadRejected          a pushed archive is unsafe or too large
"""

from __future__ import annotations

__all__ = [
    "BuildError",
    "ConfigError",
    "Conflict",
    "ControlError",
    "EngineCrashed",
    "EngineError",
    "EngineNotInstalled",
    "EngineUnavailable",
    "InputError",
    "ManifestError",
    "MethodNotFound",
    "ModelContractError",
    "ModelError",
    "ModelLoadError",
    "ModelNotReady",
    "NotFound",
    "Overloaded",
    "RequestTimeout",
    "RequestTooLarge",
    "SecretNotFound",
    "TrussdError",
    "Unauthorized",
    "UploadRejected",
    "UserCodeError",
]


class TrussdError(Exception):
    """Base of every error trussd raises on purpose.

    ``hint`` is one sentence that tells the user how to fix the problem, when we know.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(TrussdError):
    """The truss is invalid. ``diagnostics`` holds every problem found in one pass."""

    def __init__(self, message: str, diagnostics: list[object] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics or [])


class ModelError(TrussdError):
    pass


class ModelContractError(ModelError):
    pass


class ModelLoadError(ModelError):
    pass


class ModelNotReady(ModelError):
    def __init__(self, message: str, *, state: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.state = state


class MethodNotFound(ModelError):
    pass


class SecretNotFound(ModelError):
    pass


class UserCodeError(ModelError):
    pass


class InputError(TrussdError):
    def __init__(
        self,
        message: str,
        *,
        errors: list[dict[str, object]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.errors = errors or []


class RequestTooLarge(TrussdError):
    pass


class Overloaded(TrussdError):
    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class RequestTimeout(TrussdError):
    pass


class EngineError(TrussdError):
    pass


class EngineNotInstalled(EngineError):
    pass


class EngineUnavailable(EngineError):
    pass


class EngineCrashed(EngineError):
    pass


class BuildError(TrussdError):
    def __init__(
        self, message: str, *, step: str | None = None, log_tail: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.step = step
        self.log_tail = log_tail


class ManifestError(TrussdError):
    pass


class ControlError(TrussdError):
    pass


class Unauthorized(ControlError):
    pass


class NotFound(ControlError):
    pass


class Conflict(ControlError):
    pass


class UploadRejected(ControlError):
    pass
