"""``build:``, ``base_image:`` and ``docker_server:``: how the serving image is made."""

from __future__ import annotations

import enum
import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import Field, field_validator, model_validator

from trussd.config.auth import DockerAuthSettings
from trussd.config.base import ConfigModel
from trussd.config.problems import FieldProblem

__all__ = [
    "DEFAULT_NON_ROOT_USER_ID",
    "RESERVED_SERVER_PORT",
    "BaseImage",
    "Build",
    "DockerServer",
    "ModelServer",
    "check_secret_name",
]

# The port trussd's own front (and Truss's proxy) listens on inside the image.
RESERVED_SERVER_PORT = 8080
# Truss's default non-root user id; a docker_server may not claim it.
DEFAULT_NON_ROOT_USER_ID = 60000
_SECRET_NAME = re.compile(r"[-._a-zA-Z0-9]+")
# Truss lets names with this prefix through the pattern check (registry credentials, named
# after the registry); trussd still confines the rest to what a registry host/path holds.
_REGISTRY_SECRET_PREFIX = "DOCKER_REGISTRY_"
_REGISTRY_SECRET_REST = re.compile(r"[-._:/a-zA-Z0-9]+")


def check_secret_name(name: object) -> str:
    """Build secret names follow Kubernetes object naming, as Truss requires."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"invalid secret name `{name}`")
    if len(name) > 253:
        raise ValueError(f"secret name `{name}` is longer than 253 characters")
    if name in {".", ".."}:
        raise ValueError(f"secret name cannot be `{name}`")
    if _SECRET_NAME.fullmatch(name):
        return name
    if name.startswith(_REGISTRY_SECRET_PREFIX):
        if not _REGISTRY_SECRET_REST.fullmatch(name.removeprefix(_REGISTRY_SECRET_PREFIX)):
            raise ValueError(
                f"invalid registry secret name {name!r}; after `{_REGISTRY_SECRET_PREFIX}` use"
                " a registry host and path: letters, digits, `.`, `-`, `_`, `:` and `/` only"
            )
        return name
    raise ValueError(f"invalid secret name {name!r}; use letters, digits, `-`, `_` and `.` only")


class ModelServer(enum.StrEnum):
    TrussServer = "TrussServer"
    TRT_LLM = "TRT_LLM"


class Build(ConfigModel):
    """Build-time settings of the image."""

    model_server: ModelServer = Field(
        default=ModelServer.TrussServer,
        description="Server the image is built for: `TrussServer` or `TRT_LLM`.",
    )
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="Free-form arguments for the model server build."
    )
    secret_to_path_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Secrets readable during the build (never stored in a layer): name → path.",
    )
    no_cache: bool = Field(
        default=False,
        description="Not allowed in config.yaml (`true` is rejected); pass `--no-cache` instead.",
    )

    @field_validator("secret_to_path_mapping")
    @classmethod
    def _secret_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            check_secret_name(name)
        return value

    @field_validator("no_cache")
    @classmethod
    def _no_cache(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "`no_cache` cannot be set in config.yaml; pass `--no-cache` to the build"
            )
        return value


class BaseImage(ConfigModel):
    """A custom base image instead of the default one."""

    image: str = Field(default="", description="Image reference, e.g. `vllm/vllm-openai:v0.11.0`.")
    python_executable_path: str = Field(
        default="",
        description="Absolute path of python in the image; empty means `python3` on PATH.",
    )
    docker_auth: DockerAuthSettings | None = Field(
        default=None, description="Credentials for a private registry."
    )

    @field_validator("python_executable_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if value and not PurePosixPath(value).is_absolute():
            raise ValueError(f"`{value}` must be an absolute path, e.g. `/usr/bin/python3`")
        return value


class DockerServer(ConfigModel):
    """Your own HTTP server in the image (e.g. an engine's), fronted by the model server."""

    start_command: str | None = Field(
        default=None,
        description="Shell command that starts the server (required unless `no_build`).",
    )
    server_port: int = Field(description="Port the server listens on; 8080 is reserved.")
    predict_endpoint: str = Field(
        description="Route that `/predict` is forwarded to, e.g. `/v1/chat/completions`."
    )
    readiness_endpoint: str = Field(
        description="Route that answers 200 when ready, e.g. `/health`."
    )
    liveness_endpoint: str = Field(
        description="Route that answers 200 while alive, e.g. `/health`."
    )
    run_as_user_id: int | None = Field(
        default=None, description="Linux UID the server runs as (not 0, not 60000)."
    )
    no_build: bool | None = Field(
        default=None, description="Deploy the base image as is, without building on top of it."
    )

    @field_validator("run_as_user_id")
    @classmethod
    def _uid(cls, value: int | None) -> int | None:
        if value in (0, DEFAULT_NON_ROOT_USER_ID):
            raise ValueError(f"run_as_user_id cannot be {value}; use another user id")
        return value

    @field_validator("server_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"port {value} is not between 1 and 65535")
        if value == RESERVED_SERVER_PORT:
            raise ValueError(
                f"port {RESERVED_SERVER_PORT} is reserved for the front server; "
                "run your server on another port, e.g. 8000"
            )
        return value

    @model_validator(mode="after")
    def _start_command(self) -> DockerServer:
        if not self.no_build and self.start_command is None:
            raise FieldProblem(
                "`start_command` is required unless `no_build: true`",
                field=("start_command",),
                hint="add e.g. `start_command: vllm serve /models/llm --port 8000`",
            )
        return self
