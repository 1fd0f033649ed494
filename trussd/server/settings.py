"""``ServerSettings``: how one model server process runs (not part of config.yaml).

Defaults come from the environment (``TRUSSD_*``) so that an image or the control plane can
tune a server without a flag; ``runtime:`` in config.yaml still owns concurrency and the
streaming timeout, and a setting here overrides it only when given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ServerSettings"]


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_environment() -> dict[str, Any] | None:
    raw = os.environ.get("TRUSSD_ENVIRONMENT")
    if not raw:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else {"name": str(value)}


def _default_secrets_dir() -> Path | None:
    raw = os.environ.get("TRUSSD_SECRETS_DIR")
    if raw:
        return Path(raw)
    # Truss mounts secrets as files here in its images; we read the same folder.
    return Path("/secrets")


class ServerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    predict_concurrency: int | None = Field(
        default=None, ge=1, description="Overrides runtime.predict_concurrency."
    )
    streaming_read_timeout: float | None = Field(
        default=None, gt=0, description="Overrides runtime.streaming_read_timeout (seconds)."
    )
    max_queue: int = Field(
        default_factory=lambda: int(os.environ.get("TRUSSD_MAX_QUEUE", "1024")),
        ge=0,
        description="Requests that may wait for a slot; more get 503 with Retry-After.",
    )
    queue_timeout_seconds: float = Field(
        default_factory=lambda: float(os.environ.get("TRUSSD_QUEUE_TIMEOUT", "600")),
        gt=0,
        description="Longest wait for a slot before 503 with Retry-After.",
    )
    retry_after_seconds: int = Field(default=1, ge=1, description="Retry-After sent with 503s.")
    max_request_bytes: int = Field(
        default_factory=lambda: int(os.environ.get("TRUSSD_MAX_REQUEST_BYTES", str(64 << 20))),
        ge=1,
        description="Largest accepted request body; larger gets 413.",
    )
    json_logs: bool = Field(
        default_factory=lambda: _env_bool("TRUSSD_JSON_LOGS", False),
        description="One JSON object per log line.",
    )
    access_log: bool = Field(
        default_factory=lambda: _env_bool("TRUSSD_ACCESS_LOG", False),
        description="Log one line per request (off by default: it costs throughput).",
    )
    drain_timeout_seconds: float = Field(
        default_factory=lambda: float(os.environ.get("TRUSSD_DRAIN_TIMEOUT", "30")),
        gt=0,
        description="On SIGTERM, how long in-flight requests may take to finish.",
    )
    secrets_dir: Path | None = Field(
        default_factory=_default_secrets_dir,
        description="Folder of secret files (one file per secret).",
    )
    environment: dict[str, Any] | None = Field(
        default_factory=_env_environment, description="Passed to the Model as `environment`."
    )
    check_dependencies: bool = Field(
        default=True,
        description="Warn at start when the truss's requirements clash with the server's.",
    )
