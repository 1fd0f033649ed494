"""``trt_llm:``: Truss's TensorRT-LLM section (build + runtime, inference stack v1 or v2)."""

from __future__ import annotations

import enum
from typing import Any

from pydantic import Field, model_validator

from trussd.config.base import ConfigModel


class TrtLlmBaseModel(str, enum.Enum):
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


_RENAMED_TO_DECODER = {"palmyra", "qwen", "llama", "mistral", "deepseek"}


class InferenceStack(str, enum.Enum):
    v1 = "v1"
    v2 = "v2"


class TrtLlmQuantization(str, enum.Enum):
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


class CheckpointSource(str, enum.Enum):
    HF = "HF"
    GCS = "GCS"
    S3 = "S3"
    AZURE = "AZURE"
    LOCAL = "LOCAL"
    REMOTE_URL = "REMOTE_URL"
    BASETEN_TRAINING = "BASETEN_TRAINING"


class CheckpointRepository(ConfigModel):
    source: CheckpointSource = Field(description="Where the checkpoint lives.")
    repo: str = Field(description="Repository id, bucket path or URL.")
    revision: str | None = Field(default=None, description="Revision.")
    runtime_secret_name: str = Field(default="hf_access_token", description="Secret with credentials.")


class TrtLlmBuild(ConfigModel):
    base_model: TrtLlmBaseModel = Field(default=TrtLlmBaseModel.DECODER, description="Model family.")
    max_seq_len: int | None = Field(default=None, ge=1, le=1048576, description="Longest sequence.")
    max_batch_size: int = Field(default=256, ge=1, le=2048, description="Largest batch.")
    max_num_tokens: int = Field(default=8192, gt=64, le=1048576, description="Tokens per engine step.")
    max_beam_width: int = Field(default=1, ge=1, le=1, description="Beam width (1 only).")
    max_prompt_embedding_table_size: int = 0
    checkpoint_repository: CheckpointRepository | None = Field(default=None, description="Weights.")
    gather_all_token_logits: bool = False
    strongly_typed: bool = False
    quantization_type: TrtLlmQuantization = Field(
        default=TrtLlmQuantization.NO_QUANT, description="Weight/KV quantization."
    )
    quantization_config: dict[str, Any] = Field(default_factory=dict, description="Calibration settings.")
    tensor_parallel_count: int = Field(default=1, ge=1, description="GPUs per model (tensor parallel).")
    pipeline_parallel_count: int = 1
    moe_expert_parallel_option: int = -1
    sequence_parallel_count: int = 1
    plugin_configuration: dict[str, Any] = Field(default_factory=dict)
    num_builder_gpus: int | None = Field(default=None, ge=1)
    speculator: dict[str, Any] | None = None
    lora_adapters: dict[str, Any] | None = None
    lora_configuration: dict[str, Any] | None = None
    skip_build_result: bool = False

    @model_validator(mode="after")
    def _renamed(self) -> TrtLlmBuild:
        if self.base_model.value in _RENAMED_TO_DECODER:
            raise ValueError(
                f"base_model `{self.base_model.value}` was renamed to `decoder` "
                "(the architecture is read from the checkpoint)"
            )
        if self.base_model is TrtLlmBaseModel.WHISPER:
            raise ValueError("base_model `whisper` is no longer supported by trt_llm")
        return self


class TrtLlmRuntime(ConfigModel):
    """Runtime settings; v1 and v2 stacks share this shape, each reading its own keys."""

    kv_cache_free_gpu_mem_fraction: float = Field(default=0.9, gt=0, le=1)
    enable_chunked_context: bool = True
    batch_scheduler_policy: str = "guaranteed_no_evict"
    request_default_max_tokens: int | None = Field(default=None, ge=1)
    served_model_name: str | None = None
    total_token_limit: int = 500000
    webserver_default_route: str | None = None
    # v2 stack
    max_seq_len: int | None = Field(default=None, ge=1, le=1048576)
    max_batch_size: int = Field(default=256, ge=1, le=2048)
    max_num_tokens: int = Field(default=8192, gt=64, le=131072)
    tensor_parallel_size: int = Field(default=1, ge=1)
    enable_chunked_prefill: bool = True
    patch_kwargs: dict[str, Any] = Field(default_factory=dict)


class TrtLlm(ConfigModel):
    build: TrtLlmBuild = Field(description="Engine build settings.")
    runtime: TrtLlmRuntime = Field(default_factory=TrtLlmRuntime, description="Runtime settings.")
    inference_stack: InferenceStack = Field(default=InferenceStack.v1, description="`v1` or `v2`.")
    version_overrides: dict[str, Any] = Field(default_factory=dict)
