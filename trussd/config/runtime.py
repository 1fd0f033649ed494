"""``runtime:``: concurrency, streaming timeouts, health checks and transport of the server."""

from __future__ import annotations

import enum
import ipaddress
import re
from typing import Annotated, Any, ClassVar, Literal

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trussd.config.base import ConfigModel
from trussd.config.problems import FieldProblem

__all__ = [
    "OIDC",
    "EgressRestrictions",
    "GRPCOptions",
    "HTTPOptions",
    "HealthChecks",
    "RemoteSSH",
    "Runtime",
    "Transport",
    "TransportKind",
    "WebsocketOptions",
]

_FQDN = re.compile(
    r"^(?:[a-zA-Z0-9*](?:[a-zA-Z0-9*-]{0,61}[a-zA-Z0-9*])?)"
    r"(?:\.(?:[a-zA-Z0-9*](?:[a-zA-Z0-9*-]{0,61}[a-zA-Z0-9*])?))*$"
)


class HealthChecks(ConfigModel):
    """Thresholds of the health checks (negative values are rejected)."""

    restart_check_delay_seconds: int | None = Field(
        default=None,
        ge=0,
        description="Seconds after start before failing health checks restart a replica.",
    )
    restart_threshold_seconds: int | None = Field(
        default=None,
        ge=0,
        description="Seconds of failing health checks before a replica is restarted.",
    )
    stop_traffic_threshold_seconds: int | None = Field(
        default=None, ge=0, description="Seconds of failing health checks before traffic stops."
    )
    startup_threshold_seconds: int | None = Field(
        default=None, ge=0, description="Seconds a replica may take to become ready the first time."
    )


class TransportKind(enum.StrEnum):
    HTTP = "http"
    WEBSOCKET = "websocket"
    GRPC = "grpc"


class HTTPOptions(BaseModel):
    kind: Literal["http"] = Field(default="http", description="Plain HTTP (the default).")


class WebsocketOptions(BaseModel):
    model_config = ConfigDict(json_schema_extra={"required": ["kind"]})

    kind: Literal["websocket"] = Field(default="websocket", description="Serve a websocket.")
    ping_interval_seconds: float | None = Field(
        default=None, description="Seconds between keep-alive pings."
    )
    ping_timeout_seconds: float | None = Field(
        default=None, description="Seconds to wait for a pong before closing."
    )


class GRPCOptions(BaseModel):
    model_config = ConfigDict(json_schema_extra={"required": ["kind"]})

    kind: Literal["grpc"] = Field(default="grpc", description="Serve gRPC.")


Transport = Annotated[HTTPOptions | WebsocketOptions | GRPCOptions, Field(discriminator="kind")]


class OIDC(ConfigModel):
    """Workload identity token mounted into the replica."""

    enabled: bool | None = Field(default=None, description="Issue workload identity tokens.")


class RemoteSSH(ConfigModel):
    """SSH access to running replicas."""

    enabled: bool = Field(default=False, description="Allow SSH into replicas for debugging.")


class EgressRestrictions(ConfigModel):
    """Outbound network allow lists; both empty blocks all egress."""

    ip_allow_list: list[str] | None = Field(
        default=None, description="IPv4 addresses or CIDRs allowed out, e.g. `10.0.0.0/8`."
    )
    fqdn_allow_list: list[str] | None = Field(
        default=None, description="Host names allowed out; `*` allowed in a label."
    )

    @field_validator("ip_allow_list")
    @classmethod
    def _ips(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or []:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"invalid IP or CIDR `{entry}`: {exc}") from exc
            if network.version != 4:
                raise ValueError(f"`{entry}`: IPv6 is not supported; use IPv4")
        return value

    @field_validator("fqdn_allow_list")
    @classmethod
    def _fqdns(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or []:
            if not entry or not _FQDN.match(entry):
                raise ValueError(f"invalid host name `{entry}`")
        return value


class Runtime(ConfigModel):
    """How the model server runs requests."""

    legacy_keys: ClassVar[frozenset[str]] = frozenset({"num_workers"})

    predict_concurrency: int = Field(
        default=1, ge=1, description="Requests served at once; more wait in a bounded queue."
    )
    streaming_read_timeout: int = Field(
        default=60, ge=1, description="Seconds allowed between two chunks of a streamed response."
    )
    enable_tracing_data: bool = Field(default=False, description="Attach tracing data to spans.")
    enable_debug_logs: bool = Field(default=False, description="Log at DEBUG level.")
    transport: Transport = Field(
        default_factory=HTTPOptions, description="`http` (default), `websocket` or `grpc`."
    )
    is_websocket_endpoint: bool | None = Field(
        default=None, description="Legacy; use `transport: {kind: websocket}`."
    )
    health_checks: HealthChecks = Field(
        default_factory=HealthChecks, description="Health-check thresholds."
    )
    oidc: OIDC = Field(default_factory=OIDC, description="Workload identity.")
    remote_ssh: RemoteSSH = Field(default_factory=RemoteSSH, description="Debug SSH access.")
    egress_restrictions: EgressRestrictions | None = Field(
        default=None, description="Outbound network allow lists."
    )
    truss_server_version_override: str | None = Field(
        default=None, description="Truss-only: pin Truss's server version (ignored by trussd)."
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        if "num_workers" in values and values["num_workers"] != 1:
            raise FieldProblem(
                "`num_workers` other than 1 is not supported (as in Truss after 0.9.49)",
                field=("num_workers",),
                hint="remove it; use an async Model, `predict_concurrency` or more replicas",
            )
        values = {k: v for k, v in values.items() if k != "num_workers"}
        if values.get("transport") is None and values.get("is_websocket_endpoint"):
            values["transport"] = {"kind": "websocket"}
        elif values.get("transport") == {}:
            values["transport"] = {"kind": "http"}
        return values

    @field_validator("truss_server_version_override")
    @classmethod
    def _semver(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Version(value)
            except InvalidVersion as exc:
                raise ValueError(f"`{value}` is not a version; write e.g. `0.9.0`") from exc
        return value

    @model_validator(mode="after")
    def _sync_websocket(self) -> Runtime:
        # Truss keeps the legacy flag and the transport in agreement; so do we.
        transport = self.transport
        if self.is_websocket_endpoint and transport.kind != TransportKind.WEBSOCKET.value:
            transport = WebsocketOptions()
            object.__setattr__(self, "transport", transport)
        object.__setattr__(
            self, "is_websocket_endpoint", transport.kind == TransportKind.WEBSOCKET.value
        )
        return self
