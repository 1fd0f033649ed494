"""trussd's own optional sections: ``engine:`` (serve an LLM with an engine) and ``deployment:``."""

from __future__ import annotations

import enum
import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from trussd.config.base import ConfigModel
from trussd.config.problems import FieldProblem

__all__ = ["DeploymentConfig", "EngineBackend", "EngineConfig", "Isolation", "is_dns_label"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def is_dns_label(name: str) -> bool:
    """A Kubernetes DNS label (a tenant's name is one): lower-case letters, digits and `-`,
    at most 63 characters, starting and ending with a letter or digit."""
    return _DNS_LABEL.fullmatch(name) is not None


class EngineBackend(enum.StrEnum):
    AUTO = "auto"
    VLLM = "vllm"
    SGLANG = "sglang"
    TRTLLM = "trtllm"
    TRANSFORMERS = "transformers"


class EngineConfig(ConfigModel):
    """Serve an LLM through an engine backend behind trussd's OpenAI-compatible front."""

    backend: EngineBackend = Field(
        default=EngineBackend.AUTO,
        description="`auto` (chosen from accelerator, quantization, trt_llm and what is "
        "installed), "
        "`vllm`, `sglang`, `trtllm` or `transformers` (the CPU engine).",
    )
    model: str = Field(
        min_length=1,
        description="Weights: a folder relative to the truss, an absolute path, or a hub id where "
        "the deployment can download.",
    )
    served_model_name: str | None = Field(
        default=None, description="Name clients pass as `model`; defaults to `model_name`."
    )
    max_model_len: int | None = Field(default=None, ge=1, description="Longest context in tokens.")
    tensor_parallel_size: int = Field(default=1, ge=1, description="GPUs one model is split over.")
    quantization: str | None = Field(default=None, description="e.g. `fp8`, `awq`, `gptq`.")
    dtype: str = Field(
        default="auto", description="Weight dtype: `auto`, `bfloat16`, `float16`, `float32`."
    )
    gpu_memory_utilization: float | None = Field(
        default=None, gt=0, le=1, description="Fraction of GPU memory the engine may take."
    )
    enable_prefix_caching: bool | None = Field(
        default=None, description="Reuse KV cache across prompts."
    )
    startup_timeout_seconds: int = Field(
        default=900, ge=1, description="Seconds the engine may take to become healthy."
    )
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra engine flags (`{enforce-eager: true}`), checked against the engine's "
        "own parser where it imports.",
    )

    @field_validator("args")
    @classmethod
    def _arg_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", str(key)):
                raise ValueError(
                    f"engine arg `{key}` is not a flag name; write it without leading dashes, "
                    "e.g. `enforce-eager`"
                )
        return value


class Isolation(enum.StrEnum):
    STANDARD = "standard"
    SANDBOXED = "sandboxed"


class DeploymentConfig(ConfigModel):
    """How `trussd push` and `trussd manifests` run the model."""

    min_replicas: int = Field(default=0, ge=0, description="0 scales to zero when idle.")
    max_replicas: int = Field(default=1, ge=1, description="Upper bound of replicas.")
    concurrency_target: int = Field(
        default=8, ge=1, description="In-flight requests per replica before another is started."
    )
    scale_down_delay_seconds: int = Field(
        default=900, ge=0, description="Idle seconds before a replica is stopped."
    )
    tenant: str = Field(
        default="default", description="Owner; one namespace per tenant (a DNS label)."
    )
    isolation: Isolation = Field(
        default=Isolation.STANDARD,
        description="`standard`, or `sandboxed` (gVisor/Kata runtime class on Kubernetes).",
    )
    runtime_class_name: str = Field(
        default="gvisor", description="Kubernetes RuntimeClass used when isolation is `sandboxed`."
    )
    cold_start_timeout_seconds: int = Field(
        default=900, ge=1, description="Seconds a request may wait for a replica to start."
    )
    max_queue: int = Field(default=256, ge=1, description="Requests held while replicas start.")
    model_store_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts the replica may reach to fetch weights (egress allow).",
    )
    gateway_namespaces: list[str] = Field(
        default_factory=list,
        description="Kubernetes namespaces allowed to reach the serving port (gateway, activator); "
        "empty = the default of the scale-to-zero mode.",
    )
    egress_proxy: str | None = Field(
        default=None,
        description="Kubernetes: URL of the egress proxy that enforces `model_store_hosts` "
        "given as host names, e.g. `http://egress-proxy.egress-proxy.svc.cluster.local:3128`.",
    )

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not is_dns_label(value):
            raise ValueError(
                f"tenant `{value}` must be a DNS label: lower-case letters, digits and `-`, "
                "at most 63 characters, e.g. `acme-ml`"
            )
        return value

    @model_validator(mode="after")
    def _bounds(self) -> DeploymentConfig:
        if self.min_replicas > self.max_replicas:
            raise FieldProblem(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas})",
                field=("min_replicas",),
                hint=f"raise max_replicas to at least {self.min_replicas}",
            )
        return self
