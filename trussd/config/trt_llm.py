"""``trt_llm:`` building blocks: checkpoint, build and runtime settings of TensorRT-LLM.

The two inference stacks (v1, v2) that assemble these live in ``trt_llm_stack``.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from trussd.config.base import ConfigModel
from trussd.config.problems import FieldProblem

__all__ = [
    "CheckpointRepository",
    "CheckpointSource",
    "InferenceStack",
    "TrtLlmBaseModel",
    "TrtLlmQuantization",
    "TrtLlmRuntime",
    "TrtLlmRuntimeV2",
]

StrictPositive = Annotated[int, Field(strict=True, ge=1)]
MaxSeqLen = Annotated[int, Field(strict=True, ge=1, le=1048576)]
BatchSize = Annotated[int, Field(strict=True, ge=1, le=2048)]
_HF_REPO_ID = re.compile(r"^(\b[\w\-.]{1,96}\b/)?\b[\w\-.]{1,96}\b$")
# Tokens per step an encoder build needs, which Truss sets when the user does not.
ENCODER_MAX_NUM_TOKENS = 16384


class TrtLlmBaseModel(enum.StrEnum):
    ENCODER = "encoder"
    ENCODER_BERT = "encoder_bert"
    DECODER = "decoder"
    # Renamed or removed in Truss; still parsed so the error can say what to write instead.
    PALMYRA = "palmyra"
    QWEN = "qwen"
    LLAMA = "llama"
    MISTRAL = "mistral"
    DEEPSEEK = "deepseek"
    WHISPER = "whisper"


class InferenceStack(enum.StrEnum):
    v1 = "v1"
    v2 = "v2"


class TrtLlmQuantization(enum.StrEnum):
    NO_QUANT = "no_quant"
    WEIGHTS_ONLY_INT8 = "weights_int8"
    WEIGHTS_KV_INT8 = "weights_kv_int8"
    WEIGHTS_ONLY_INT4 = "weights_int4"
    WEIGHTS_INT4_KV_INT8 = "weights_int4_kv_int8"
    SMOOTH_QUANT = "smooth_quant"
    FP8 = "fp8"
    FP8_KV = "fp8_kv"
    FP8_MLP_ONLY = "fp8_mlp_only"
    FP4 = "fp4"
    FP4_KV = "fp4_kv"
    FP4_MLP_ONLY = "fp4_mlp_only"


class CheckpointSource(enum.StrEnum):
    HF = "HF"
    GCS = "GCS"
    S3 = "S3"
    AZURE = "AZURE"
    LOCAL = "LOCAL"
    REMOTE_URL = "REMOTE_URL"
    BASETEN_TRAINING = "BASETEN_TRAINING"


class BatchSchedulerPolicy(enum.StrEnum):
    MAX_UTILIZATION = "max_utilization"
    GUARANTEED_NO_EVICT = "guaranteed_no_evict"


class SpecDecMode(enum.StrEnum):
    DRAFT_EXTERNAL = "DRAFT_TOKENS_EXTERNAL"
    LOOKAHEAD_DECODING = "LOOKAHEAD_DECODING"


def check_hf_repo_id(repo: str) -> str:
    """The Hugging Face Hub's own repo-id rules (``name`` or ``namespace/name``)."""
    if repo.count("/") > 1:
        raise ValueError(f"Hugging Face repo id `{repo}` must be `name` or `namespace/name`")
    if not _HF_REPO_ID.fullmatch(repo):
        raise ValueError(
            f"Hugging Face repo id `{repo}` may use letters, digits, `-`, `_` and `.` only, "
            "cannot start or end with `-` or `.`, and is at most 96 characters"
        )
    if "--" in repo or ".." in repo:
        raise ValueError(f"Hugging Face repo id `{repo}` cannot contain `--` or `..`")
    if repo.endswith(".git"):
        raise ValueError(f"Hugging Face repo id `{repo}` cannot end with `.git`")
    return repo


class CheckpointRepository(ConfigModel):
    """Where the checkpoint the engine is built from lives."""

    source: CheckpointSource = Field(
        description="`HF`, `GCS`, `S3`, `AZURE`, `REMOTE_URL`, `BASETEN_TRAINING` or `LOCAL`."
    )
    repo: str = Field(description="Hub id, bucket path or URL, depending on `source`.")
    revision: str | None = Field(default=None, description="Revision of the repository.")
    runtime_secret_name: str = Field(
        default="hf_access_token", description="Secret with the access credentials."
    )

    @model_validator(mode="after")
    def _hf_repo(self) -> CheckpointRepository:
        if self.source is CheckpointSource.HF:
            try:
                check_hf_repo_id(self.repo)
            except ValueError as exc:
                raise FieldProblem(str(exc), field=("repo",)) from exc
        return self


class PluginConfiguration(ConfigModel):
    """TensorRT-LLM plugins; leave both paged flags on."""

    paged_kv_cache: bool = Field(default=True, description="Paged KV cache.")
    use_paged_context_fmha: bool = Field(default=True, description="Paged context attention.")
    use_fp8_context_fmha: bool = Field(default=False, description="FP8 context attention.")


class QuantizationConfiguration(ConfigModel):
    """Calibration for quantized builds."""

    calib_size: int = Field(default=1024, description="Calibration samples (64-16384, x64).")
    calib_dataset: str = Field(default="abisee/cnn_dailymail", description="Hub dataset id.")
    calib_max_seq_length: int = Field(
        default=1536, description="Longest calibration sample (64-16384, x64)."
    )

    @field_validator("calib_size", "calib_max_seq_length")
    @classmethod
    def _cuda_friendly(cls, value: int) -> int:
        if not 64 <= value <= 16384:
            raise ValueError(f"must be between 64 and 16384, got {value}")
        if value % 64:
            raise ValueError(f"must be a multiple of 64, got {value}")
        return value


class LoraConfiguration(ConfigModel):
    max_lora_rank: int = Field(default=64, description="Largest LoRA rank served.")
    lora_target_modules: list[str] = Field(
        default_factory=list, description="Modules LoRA targets."
    )


class TrtLlmRuntime(ConfigModel):
    """Runtime of the v1 inference stack."""

    kv_cache_free_gpu_mem_fraction: float = Field(
        default=0.9, description="Share of free GPU memory given to the KV cache."
    )
    kv_cache_host_memory_bytes: StrictPositive | None = Field(
        default=None, description="Host memory for KV-cache offload, in bytes."
    )
    lora_cache_max_adapter_size: StrictPositive | None = Field(
        default=None, description="Largest LoRA rank the cache holds."
    )
    lora_cache_optimal_adapter_size: StrictPositive | None = Field(
        default=None, description="LoRA rank used to size cache pages."
    )
    lora_cache_gpu_memory_fraction: Annotated[float, Field(strict=True, gt=0, le=1)] | None = Field(
        default=None, description="Share of free GPU memory for the LoRA cache."
    )
    lora_cache_host_memory_bytes: StrictPositive | None = Field(
        default=None, description="Host memory for the LoRA cache, in bytes."
    )
    enable_chunked_context: bool = Field(default=True, description="Chunked prefill.")
    batch_scheduler_policy: BatchSchedulerPolicy = Field(
        default=BatchSchedulerPolicy.GUARANTEED_NO_EVICT,
        description="`guaranteed_no_evict` or `max_utilization`.",
    )
    request_default_max_tokens: StrictPositive | None = Field(
        default=None, description="max_tokens when a request sets none."
    )
    served_model_name: str | None = Field(default=None, description="Name in OpenAI responses.")
    total_token_limit: int = Field(default=500000, description="Tokens scheduled at once.")
    webserver_default_route: (
        Literal["/v1/embeddings", "/v1/systemone", "/rerank", "/predict", "/predict_tokens"] | None
    ) = Field(default=None, description="Route `/predict` maps to for encoder models.")

    @model_validator(mode="after")
    def _lora_sizes(self) -> TrtLlmRuntime:
        top, optimal = self.lora_cache_max_adapter_size, self.lora_cache_optimal_adapter_size
        if top is not None and optimal is not None and optimal > top:
            raise FieldProblem(
                "lora_cache_optimal_adapter_size cannot be greater than "
                "lora_cache_max_adapter_size",
                field=("lora_cache_optimal_adapter_size",),
            )
        return self


class TrtLlmRuntimeV2(ConfigModel):
    """Runtime of the v2 inference stack."""

    legacy_keys: ClassVar[frozenset[str]] = frozenset({"gated_features"})

    max_seq_len: MaxSeqLen | None = Field(default=None, description="Longest sequence in tokens.")
    max_batch_size: BatchSize = Field(default=256, description="Requests batched per step.")
    max_num_tokens: Annotated[int, Field(strict=True, gt=64, le=131072)] = Field(
        default=8192, description="Tokens batched per step."
    )
    tensor_parallel_size: StrictPositive = Field(default=1, description="GPUs per model.")
    enable_chunked_prefill: bool = Field(default=True, description="Chunked prefill.")
    served_model_name: str | None = Field(default=None, description="Name in OpenAI responses.")
    patch_kwargs: dict[str, bool | str | int | float | dict[str, Any] | list[Any] | None] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": True},
        description="Preview: extra engine settings (alias `gated_features`).",
    )

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "gated_features" in data and "patch_kwargs" not in data:
            data = {**data, "patch_kwargs": data["gated_features"]}
            del data["gated_features"]
        return data
