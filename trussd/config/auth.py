"""Credentials for pulling weights and base images: one ``auth_method`` picks which fields apply."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from pydantic import Field, field_validator, model_validator

from trussd.config.base import ConfigModel, any_case
from trussd.config.problems import FieldProblem

__all__ = [
    "DockerAuthSettings",
    "DockerAuthType",
    "WeightsAuth",
    "WeightsAuthMethod",
]

_AWS_OIDC = ("aws_oidc_role_arn", "aws_oidc_region")
_GCP_OIDC = ("gcp_oidc_service_account", "gcp_oidc_workload_id_provider")
_AWS_ASSUME = ("aws_assume_role_arn", "aws_assume_role_region")
_ALL_CLOUD = _AWS_OIDC + _GCP_OIDC + _AWS_ASSUME


class AuthFields(ConfigModel):
    """Fields shared by every credential section; which are required depends on the method."""

    aws_oidc_role_arn: str | None = Field(
        default=None, description="AWS IAM role ARN assumed through OIDC (`AWS_OIDC`)."
    )
    aws_oidc_region: str | None = Field(default=None, description="AWS region for `AWS_OIDC`.")
    gcp_oidc_service_account: str | None = Field(
        default=None, description="GCP service account used through OIDC (`GCP_OIDC`)."
    )
    gcp_oidc_workload_id_provider: str | None = Field(
        default=None, description="GCP workload identity provider for `GCP_OIDC`."
    )
    aws_assume_role_arn: str | None = Field(
        default=None, description="AWS IAM role ARN assumed directly (`AWS_ASSUME_ROLE`)."
    )
    aws_assume_role_region: str | None = Field(
        default=None, description="AWS region for `AWS_ASSUME_ROLE`."
    )

    def _check_fields(
        self, method: str, required: tuple[str, ...], forbidden: tuple[str, ...]
    ) -> None:
        missing = [name for name in required if getattr(self, name) in (None, "")]
        if missing:
            raise FieldProblem(
                f"{', '.join(missing)} must be set when auth_method is {method}",
                field=(missing[0],),
                hint=f"add `{missing[0]}: ...`",
            )
        present = [name for name in forbidden if getattr(self, name) not in (None, "")]
        if present:
            raise FieldProblem(
                f"{', '.join(present)} cannot be set when auth_method is {method}",
                field=(present[0],),
                hint=f"remove `{present[0]}`, or change auth_method",
            )

    def _apply_rules(
        self, method: str, secret_field: str, rules: Mapping[str, tuple[str, ...]]
    ) -> None:
        required = rules.get(method)
        if required is None:
            return
        forbidden = tuple(name for name in (secret_field, *_ALL_CLOUD) if name not in required)
        self._check_fields(method, required, forbidden)


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class WeightsAuthMethod(enum.StrEnum):
    CUSTOM_SECRET = "CUSTOM_SECRET"
    AWS_OIDC = "AWS_OIDC"
    GCP_OIDC = "GCP_OIDC"
    AWS_ASSUME_ROLE = "AWS_ASSUME_ROLE"


class WeightsAuth(AuthFields):
    """How to authenticate to a weights source."""

    auth_method: WeightsAuthMethod = Field(
        json_schema_extra=any_case(m.value for m in WeightsAuthMethod),
        description="`CUSTOM_SECRET`, `AWS_OIDC`, `GCP_OIDC` or `AWS_ASSUME_ROLE` (any case).",
    )
    auth_secret_name: str | None = Field(
        default=None, description="Secret holding the credentials (`CUSTOM_SECRET`)."
    )

    @field_validator("auth_method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return _upper(value)

    @model_validator(mode="after")
    def _fields_for_method(self) -> WeightsAuth:
        self._apply_rules(
            self.auth_method.value,
            "auth_secret_name",
            {
                "CUSTOM_SECRET": ("auth_secret_name",),
                "AWS_OIDC": _AWS_OIDC,
                "GCP_OIDC": _GCP_OIDC,
                "AWS_ASSUME_ROLE": _AWS_ASSUME,
            },
        )
        return self


class DockerAuthType(enum.StrEnum):
    GCP_SERVICE_ACCOUNT_JSON = "GCP_SERVICE_ACCOUNT_JSON"
    AWS_IAM = "AWS_IAM"
    AWS_OIDC = "AWS_OIDC"
    GCP_OIDC = "GCP_OIDC"
    REGISTRY_SECRET = "REGISTRY_SECRET"
    AWS_ASSUME_ROLE = "AWS_ASSUME_ROLE"


class DockerAuthSettings(AuthFields):
    """Credentials for a private registry that holds the base image."""

    auth_method: DockerAuthType = Field(
        json_schema_extra=any_case(m.value for m in DockerAuthType),
        description="`GCP_SERVICE_ACCOUNT_JSON`, `AWS_IAM`, `AWS_OIDC`, `GCP_OIDC`, "
        "`REGISTRY_SECRET` or `AWS_ASSUME_ROLE` (any case).",
    )
    registry: str | None = Field(default="", description="Registry host, e.g. `us-docker.pkg.dev`.")
    secret_name: str | None = Field(
        default=None,
        description="Secret with the credentials (required for `GCP_SERVICE_ACCOUNT_JSON`).",
    )
    aws_access_key_id_secret_name: str = Field(
        default="aws_access_key_id", description="Secret with the AWS access key id (`AWS_IAM`)."
    )
    aws_secret_access_key_secret_name: str = Field(
        default="aws_secret_access_key",
        description="Secret with the AWS secret access key (`AWS_IAM`).",
    )

    @field_validator("auth_method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return _upper(value)

    @model_validator(mode="after")
    def _fields_for_method(self) -> DockerAuthSettings:
        self._apply_rules(
            self.auth_method.value,
            "secret_name",
            {
                "GCP_SERVICE_ACCOUNT_JSON": ("secret_name",),
                "AWS_OIDC": _AWS_OIDC,
                "GCP_OIDC": _GCP_OIDC,
                "AWS_ASSUME_ROLE": _AWS_ASSUME,
            },
        )
        return self
