"""``build:``, ``base_image:`` and ``docker_server:``: how the serving image is made."""

from __future__ import annotations

import enum
import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from trussd.config.base import ConfigModel

# The port trussd's own front (and Truss's proxy) listens on inside the image.
RESERVED_SERVER_PORT = 8080
# Truss's default non-root user id; a docker_server may not claim it.
DEFAULT_NON_ROOT_USER_ID = 60000
_SECRET_NAME = re.compile(r"^[-._a-zA-Z0-9]+$")


def check_secret_name(name: str) -> str:
    """Secret names follow Kubernetes object naming, as Truss requires."""
    if not isinstance(name, str) or not name or name in {".", ".."} or len(name) > 253:
        raise ValueError(f"invalid secret name `{name}`")
    if not _SECRET_NAME.match(name):
        raise ValueError(
            f"invalid secret name `{name}`; use letters, digits, `-`, `_` and `.` only"
        )
    return name


class ModelServer(str, enum.Enum):
    TrussServer = "TrussServer"
    TRT_LLM = "TRT_LLM"


class Build(ConfigModel):
    model_server: ModelServer = Field(default=ModelServer.TrussServer, description="Server kind.")
    arguments: dict[str, Any] = Field(default_factory=dict, description="Arguments for the model server.")
    secret_to_path_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Secrets mounted at build time (never stored in a layer): secret name → path.",
    )
    no_cache: bool = Field(default=False, description="Not allowed in config.yaml; use `--no-cache`.")

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
            raise ValueError("`no_cache` cannot be set in config.yaml; pass `--no-cache` to the build")
        return value


class DockerAuthType(str, enum.Enum):
    GCP_SERVICE_ACCOUNT_JSON = "GCP_SERVICE_ACCOUNT_JSON"
    AWS_IAM = "AWS_IAM"
    AWS_OIDC = "AWS_OIDC"
    GCP_OIDC = "GCP_OIDC"
    REGISTRY_SECRET = "REGISTRY_SECRET"
    AWS_ASSUME_ROLE = "AWS_ASSUME_ROLE"


class DockerAuthSettings(ConfigModel):
    auth_method: DockerAuthType = Field(description="How to authenticate to the registry.")
    registry: str | None = Field(default="", description="Registry host.")
    secret_name: str | None = Field(default=None, description="Secret holding the credentials.")
    aws_access_key_id_secret_name: str = "aws_access_key_id"
    aws_secret_access_key_secret_name: str = "aws_secret_access_key"
    aws_oidc_role_arn: str | None = None
    aws_oidc_region: str | None = None
    gcp_oidc_service_account: str | None = None
    gcp_oidc_workload_id_provider: str | None = None
    aws_assume_role_arn: str | None = None
    aws_assume_role_region: str | None = None

    @field_validator("auth_method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class BaseImage(ConfigModel):
    image: str = Field(default="", description="Base image reference, e.g. `vllm/vllm-openai:v0.11.0`.")
    python_executable_path: str = Field(default="", description="Absolute path of python in the image.")
    docker_auth: DockerAuthSettings | None = Field(default=None, description="Registry credentials.")

    @field_validator("python_executable_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if value and not value.startswith("/"):
            raise ValueError(f"`{value}` must be an absolute path, e.g. `/usr/bin/python3`")
        return value


class DockerServer(ConfigModel):
    """A custom HTTP server in the image (e.g. an engine's own), fronted by trussd."""

    start_command: str | None = Field(default=None, description="Shell command that starts the server.")
    server_port: int = Field(ge=1, le=65535, description="Port the server listens on (not 8080).")
    predict_endpoint: str = Field(description="Route that /predict is forwarded to, e.g. `/v1/chat/completions`.")
    readiness_endpoint: str = Field(description="Route that answers 200 when ready, e.g. `/health`.")
    liveness_endpoint: str = Field(description="Route that answers 200 while alive, e.g. `/health`.")
    run_as_user_id: int | None = Field(default=None, description="UID to run the server as.")
    no_build: bool | None = Field(default=None, description="Deploy the base image as is.")

    @field_validator("run_as_user_id")
    @classmethod
    def _uid(cls, value: int | None) -> int | None:
        if value in (0, DEFAULT_NON_ROOT_USER_ID):
            raise ValueError(f"run_as_user_id cannot be {value}; use another user id")
        return value

    @field_validator("server_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if value == RESERVED_SERVER_PORT:
            raise ValueError(
                f"port {RESERVED_SERVER_PORT} is reserved for trussd's front server; "
                "run your server on another port, e.g. 8000"
            )
        return value

    @model_validator(mode="after")
    def _start_command(self) -> DockerServer:
        if not self.no_build and self.start_command is None:
            raise ValueError("`start_command` is required unless `no_build: true`")
        return self
