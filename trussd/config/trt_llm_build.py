"""``trt_llm.build``: how the TensorRT-LLM engine is built, including speculative decoding."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from trussd.config.base import ConfigModel
from trussd.config.problems import FieldProblem
from trussd.config.trt_llm import (
    ENCODER_MAX_NUM_TOKENS,
    BatchSize,
    CheckpointRepository,
    LoraConfiguration,
    MaxSeqLen,
    PluginConfiguration,
    QuantizationConfiguration,
    SpecDecMode,
    StrictPositive,
    TrtLlmBaseModel,
    TrtLlmQuantization,
    TrtLlmRuntime,
)

__all__ = ["Speculator", "TrtLlmBuild", "VersionOverrides"]

_LORA_NAME = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_\-\.:]+$")]
_RUNTIME_ONLY = (
    "lora_cache_max_adapter_size",
    "lora_cache_optimal_adapter_size",
    "lora_cache_gpu_memory_fraction",
    "lora_cache_host_memory_bytes",
)
_ENCODERS = (TrtLlmBaseModel.ENCODER, TrtLlmBaseModel.ENCODER_BERT)


def lookahead_draft_len(window: int, ngram: int, verification: int) -> int:
    """Draft tokens a lookahead configuration produces per step at most."""
    return (0 if ngram == 1 else ngram - 2) + (window - 1 + verification) * (ngram - 1)


class Speculator(ConfigModel):
    """Speculative decoding; only `LOOKAHEAD_DECODING` is still built."""

    speculative_decoding_mode: SpecDecMode = Field(
        default=SpecDecMode.DRAFT_EXTERNAL,
        description="`LOOKAHEAD_DECODING` (`DRAFT_TOKENS_EXTERNAL` is discontinued).",
    )
    num_draft_tokens: StrictPositive | None = Field(
        default=None, description="Draft tokens per step (derived for lookahead)."
    )
    checkpoint_repository: CheckpointRepository | None = Field(
        default=None, description="Draft model checkpoint (draft mode)."
    )
    runtime: TrtLlmRuntime = Field(default_factory=TrtLlmRuntime, description="Draft runtime.")
    build: TrtLlmBuild | None = Field(default=None, description="Draft model build (draft mode).")
    lookahead_windows_size: StrictPositive | None = Field(default=None, description="Window size.")
    lookahead_ngram_size: StrictPositive | None = Field(default=None, description="N-gram size.")
    lookahead_verification_set_size: StrictPositive | None = Field(
        default=None, description="Verification set size."
    )
    enable_b10_lookahead: bool | None = Field(default=False, description="Dynamic lookahead.")

    @model_validator(mode="after")
    def _mode_settings(self) -> Speculator:
        draft = self.speculative_decoding_mode is SpecDecMode.DRAFT_EXTERNAL
        if draft and bool(self.checkpoint_repository) == bool(self.build):
            raise FieldProblem(
                "speculative decoding needs exactly one of `checkpoint_repository` or `build`",
                field=("checkpoint_repository",),
            )
        if draft and not self.num_draft_tokens:
            raise FieldProblem("draft mode needs `num_draft_tokens`", field=("num_draft_tokens",))
        if not draft:
            self._lookahead()
        if self.num_draft_tokens is not None and self.num_draft_tokens > 2048:
            raise FieldProblem(
                f"num_draft_tokens is {self.num_draft_tokens}; at most 2048 are allowed",
                field=("num_draft_tokens",),
                hint="lower num_draft_tokens or the lookahead sizes",
            )
        return self

    def _lookahead(self) -> None:
        window, ngram = self.lookahead_windows_size, self.lookahead_ngram_size
        verification = self.lookahead_verification_set_size
        if not (window and ngram and verification):
            raise FieldProblem(
                "LOOKAHEAD_DECODING needs lookahead_windows_size, lookahead_ngram_size and "
                "lookahead_verification_set_size",
                hint="e.g. 7, 5 and 3",
            )
        needed = lookahead_draft_len(window, ngram, verification)
        if self.num_draft_tokens is None:
            object.__setattr__(self, "num_draft_tokens", needed)
        elif self.num_draft_tokens < needed:
            raise FieldProblem(
                f"num_draft_tokens ({self.num_draft_tokens}) is below the {needed} the "
                "lookahead sizes need",
                field=("num_draft_tokens",),
            )


class TrtLlmBuild(ConfigModel):
    """How the engine is built."""

    base_model: TrtLlmBaseModel = Field(
        default=TrtLlmBaseModel.DECODER,
        description="`decoder` (text generation), `encoder` or `encoder_bert` (embeddings, "
        "classification).",
    )
    max_seq_len: MaxSeqLen | None = Field(default=None, description="Longest sequence in tokens.")
    max_batch_size: BatchSize = Field(default=256, description="Requests batched per step.")
    max_num_tokens: Annotated[int, Field(strict=True, gt=64, le=1048576)] = Field(
        default=8192, description="Tokens batched per step."
    )
    max_beam_width: Annotated[int, Field(strict=True, ge=1, le=1)] = Field(
        default=1, description="Beam width; only 1 is supported."
    )
    max_prompt_embedding_table_size: int = Field(default=0, description="Prompt-tuning table size.")
    checkpoint_repository: CheckpointRepository | None = Field(
        default=None, description="Checkpoint to build from (required unless skip_build_result)."
    )
    gather_all_token_logits: bool = Field(default=False, description="Keep logits of all tokens.")
    strongly_typed: bool = Field(default=False, description="Ignore the checkpoint's dtype.")
    quantization_type: TrtLlmQuantization = Field(
        default=TrtLlmQuantization.NO_QUANT,
        description="`no_quant`, `fp8`, `fp8_kv`, `fp8_mlp_only`, `fp4`, `fp4_kv`, "
        "`fp4_mlp_only` (older int8/int4 types are rejected by Truss on push).",
    )
    quantization_config: QuantizationConfiguration = Field(
        default_factory=QuantizationConfiguration, description="Calibration settings."
    )
    tensor_parallel_count: StrictPositive = Field(default=1, description="GPUs per model (v1).")
    pipeline_parallel_count: int = Field(default=1, description="Pipeline stages (keep 1).")
    moe_expert_parallel_option: int = Field(
        default=-1, description="MoE expert parallelism; -1 auto."
    )
    sequence_parallel_count: int = Field(default=1, description="Sequence parallelism (keep 1).")
    plugin_configuration: PluginConfiguration = Field(
        default_factory=PluginConfiguration, description="TensorRT-LLM plugins."
    )
    num_builder_gpus: StrictPositive | None = Field(
        default=None, description="GPUs used for the build, if more than for serving."
    )
    speculator: Speculator | None = Field(default=None, description="Speculative decoding.")
    lora_adapters: dict[_LORA_NAME, CheckpointRepository] | None = Field(
        default=None, description="LoRA adapters known ahead of time: name → checkpoint."
    )
    lora_configuration: LoraConfiguration | None = Field(default=None, description="LoRA limits.")
    skip_build_result: bool = Field(default=False, description="v2: use a prebuilt engine.")

    @model_validator(mode="before")
    @classmethod
    def _runtime_fields_here(cls, data: Any) -> Any:
        if isinstance(data, dict):
            misplaced = sorted(set(_RUNTIME_ONLY) & data.keys())
            if misplaced:
                raise FieldProblem(
                    f"{', '.join(misplaced)} belong under trt_llm.runtime, not trt_llm.build",
                    field=(misplaced[0],),
                    hint="move it to `trt_llm.runtime`",
                )
        return data

    @model_validator(mode="after")
    def _checks(self) -> TrtLlmBuild:
        self._encoder_defaults()
        plugins = self.plugin_configuration
        if not plugins.paged_kv_cache and plugins.use_paged_context_fmha:
            raise FieldProblem(
                "use_paged_context_fmha needs paged_kv_cache",
                field=("plugin_configuration", "paged_kv_cache"),
            )
        if self.speculator is not None:
            if not (plugins.use_paged_context_fmha and plugins.paged_kv_cache):
                raise FieldProblem(
                    "speculative decoding needs paged_kv_cache and use_paged_context_fmha",
                    field=("plugin_configuration",),
                )
            if self.speculator.speculative_decoding_mode is SpecDecMode.DRAFT_EXTERNAL:
                raise FieldProblem(
                    "DRAFT_TOKENS_EXTERNAL speculation is discontinued",
                    field=("speculator", "speculative_decoding_mode"),
                    hint="use `LOOKAHEAD_DECODING`, or `inference_stack: v2`",
                )
        self._moe()
        return self

    def _encoder_defaults(self) -> None:
        # Truss rewrites encoder builds to single-GPU, cache-free engines; the same values here.
        if self.base_model not in _ENCODERS:
            return
        for name in ("tensor_parallel_count", "pipeline_parallel_count", "sequence_parallel_count"):
            object.__setattr__(self, name, 1)
        if self.base_model is TrtLlmBaseModel.ENCODER:
            if "max_num_tokens" not in self.model_fields_set:
                object.__setattr__(self, "max_num_tokens", ENCODER_MAX_NUM_TOKENS)
            plugins = self.plugin_configuration.model_copy(
                update={"paged_kv_cache": False, "use_paged_context_fmha": False}
            )
            object.__setattr__(self, "plugin_configuration", plugins)

    def _moe(self) -> None:
        option = self.moe_expert_parallel_option
        if self.base_model is not TrtLlmBaseModel.DECODER or option == -1:
            return
        if option > self.tensor_parallel_count:
            raise FieldProblem(
                f"moe_expert_parallel_option {option} cannot exceed tensor_parallel_count "
                f"{self.tensor_parallel_count}",
                field=("moe_expert_parallel_option",),
            )
        if option <= 0:
            raise FieldProblem(
                f"moe_expert_parallel_option {option} must be positive or -1",
                field=("moe_expert_parallel_option",),
            )


Speculator.model_rebuild()


class VersionOverrides(ConfigModel):
    """Pinned image versions of the TensorRT-LLM stack (Baseten only)."""

    engine_builder_version: str | None = Field(default=None, description="Engine builder version.")
    briton_version: str | None = Field(default=None, description="Briton server version.")
    bei_version: str | None = Field(default=None, description="BEI version.")
    bei_bert_version: str | None = Field(default=None, description="BEI-Bert version.")
    v2_llm_version: str | None = Field(default=None, description="v2 stack version.")

    @model_validator(mode="before")
    @classmethod
    def _numeric_start(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in ("engine_builder_version", "briton_version", "bei_version", "bei_bert_version"):
            value = data.get(name)
            if isinstance(value, str) and (not value or not value[0].isdigit()):
                raise FieldProblem(
                    f"{name} `{value}` must start with a number",
                    field=(name,),
                    hint="e.g. `0.20.0`",
                )
        return data
