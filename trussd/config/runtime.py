"""``runtime:``: concurrency, streaming timeouts, health checks and transport of the model server."""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from trussd.config.base import ConfigModel


class HealthChecks(ConfigModel):
    restart_check_delay_seconds: int | None = Field(
        default=None, ge=0, description="Seconds after start before failing health checks restart a replica."
    )
    restart_threshold_seconds: int | None = Field(
        default=None, ge=0, description="Seconds of failing health checks before a replica is restarted."
    )
    stop_traffic_threshold_seconds: int | None = Field(
        default=None, ge=0, description="Seconds of failing health checks before traffic stops."
    )
    startup_threshold_seconds: int | None = Field(
        default=None, ge=0, description="Seconds a replica may take to become ready the first time."
    )


class TransportKind(str, enum.Enum):
    HTTP = "http"
    WEBSOCKET = "websocket"
    GRPC = "grpc"


class HTTPOptions(ConfigModel):
    kind: Literal["http"] = "http"


class WebsocketOptions(ConfigModel):
    kind: Literal["websocket"] = "websocket"
    ping_interval_seconds: float | None = None
    ping_timeout_seconds: float | None = None


class GRPCOptions(ConfigModel):
    kind: Literal["grpc"] = "grpc"


Transport = Annotated[HTTPOptions | WebsocketOptions | GRPCOptions, Field(discriminator="kind")]


class OIDC(ConfigModel):
    enabled: bool | None = Field(default=None, description="Issue workload identity tokens.")


class RemoteSSH(ConfigModel):
    enabled: bool = Field(default=False, description="Allow SSH into replicas for debugging.")


class EgressRestrictions(ConfigModel):
    ip_allow_list: list[str] | None = Field(default=None, description="IPv4 addresses or CIDRs allowed out.")
    fqdn_allow_list: list[str] | None = Field(default=None, description="Host names allowed out.")


class Runtime(ConfigModel):
    """How the model server runs requests."""

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
    health_checks: HealthChecks = Field(default_factory=HealthChecks, description="Health-check thresholds.")
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
            raise ValueError(
                "`num_workers` other than 1 is not supported (as in Truss after 0.9.49); "
                "use an async Model, `predict_concurrency` or more replicas"
            )
        if values.get("transport") is None and values.get("is_websocket_endpoint"):
            values = {**values, "transport": {"kind": "websocket"}}
        elif isinstance(values.get("transport"), dict) and "kind" not in values["transport"]:
            values = {**values, "transport": {**values["transport"], "kind": "http"}}
        return values
