"""``trt_llm:`` as a whole: the v1 or v2 inference stack, and its checks against ``resources``."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, RootModel, Tag, model_validator

from trussd.config.base import ConfigModel
from trussd.config.problems import FieldProblem
from trussd.config.resources import Accelerator
from trussd.config.trt_llm import (
    InferenceStack,
    TrtLlmBaseModel,
    TrtLlmQuantization,
    TrtLlmRuntime,
    TrtLlmRuntimeV2,
)
from trussd.config.trt_llm_build import TrtLlmBuild, VersionOverrides

if TYPE_CHECKING:
    from trussd.config.resources import Resources

__all__ = ["TrtLlm", "TrtLlmV1", "TrtLlmV2", "check_trt_llm_resources"]

_RENAMED_TO_DECODER = {
    TrtLlmBaseModel.PALMYRA,
    TrtLlmBaseModel.QWEN,
    TrtLlmBaseModel.LLAMA,
    TrtLlmBaseModel.MISTRAL,
    TrtLlmBaseModel.DEEPSEEK,
}
_FP8_FP4 = {
    TrtLlmQuantization.FP8,
    TrtLlmQuantization.FP8_KV,
    TrtLlmQuantization.FP8_MLP_ONLY,
    TrtLlmQuantization.FP4,
    TrtLlmQuantization.FP4_KV,
    TrtLlmQuantization.FP4_MLP_ONLY,
}
_FP4 = {TrtLlmQuantization.FP4, TrtLlmQuantization.FP4_KV, TrtLlmQuantization.FP4_MLP_ONLY}
_PRE_ADA = {
    Accelerator.A10G,
    Accelerator.A100,
    Accelerator.A100_40GB,
    Accelerator.T4,
    Accelerator.V100,
}
_PRE_BLACKWELL = {
    Accelerator.H100,
    Accelerator.H100_40GB,
    Accelerator.H200,
    Accelerator.L4,
    Accelerator.L40S,
    Accelerator.A100_40GB,
}
# Build fields the v2 stack lets you change; the rest are taken from the runtime section.
_V2_BUILD_FIELDS = {
    "checkpoint_repository",
    "quantization_type",
    "quantization_config",
    "skip_build_result",
    "num_builder_gpus",
}


class TrtLlmV1(ConfigModel):
    """The v1 stack: dense models, embeddings, lookahead speculation."""

    build: TrtLlmBuild = Field(description="Engine build settings.")
    inference_stack: Literal[InferenceStack.v1] = Field(
        default=InferenceStack.v1, description="`v1` (default) or `v2`."
    )
    runtime: TrtLlmRuntime = Field(default_factory=TrtLlmRuntime, description="Runtime settings.")
    version_overrides: VersionOverrides = Field(
        default_factory=VersionOverrides, description="Pinned stack versions."
    )

    @model_validator(mode="after")
    def _v1(self) -> TrtLlmV1:
        if self.build.checkpoint_repository is None:
            raise FieldProblem(
                "trt_llm.build.checkpoint_repository is required for the v1 inference stack",
                field=("build", "checkpoint_repository"),
                hint="add `checkpoint_repository: {source: HF, repo: org/model}`",
            )
        plugins = self.build.plugin_configuration
        if (
            self.runtime.enable_chunked_context
            and self.build.base_model not in (TrtLlmBaseModel.ENCODER, TrtLlmBaseModel.ENCODER_BERT)
            and not (plugins.use_paged_context_fmha and plugins.paged_kv_cache)
        ):
            raise FieldProblem(
                "runtime.enable_chunked_context needs build.plugin_configuration."
                "use_paged_context_fmha and paged_kv_cache",
                field=("runtime", "enable_chunked_context"),
            )
        return self


class TrtLlmV2(ConfigModel):
    """The v2 stack: MoE and multi-node models; most build settings move to the runtime."""

    # `inference_stack: v2` is what selects this stack, so the schema requires it.
    model_config = ConfigDict(
        json_schema_extra=lambda schema: schema.setdefault("required", []).append("inference_stack")
    )

    inference_stack: Literal[InferenceStack.v2] = Field(
        default=InferenceStack.v2, description="`v2`."
    )
    build: TrtLlmBuild = Field(description="Checkpoint and quantization.")
    runtime: TrtLlmRuntimeV2 = Field(description="Runtime settings (required for v2).")
    version_overrides: VersionOverrides = Field(
        default_factory=VersionOverrides, description="Pinned stack versions."
    )

    @model_validator(mode="after")
    def _v2(self) -> TrtLlmV2:
        build = self.build
        if build.checkpoint_repository is None and not build.skip_build_result:
            raise FieldProblem(
                "trt_llm.build.checkpoint_repository is required for the v2 stack unless "
                "skip_build_result is true",
                field=("build", "checkpoint_repository"),
            )
        defaults = _build_defaults()
        current = build.model_dump(mode="json")
        for name in sorted(build.model_fields_set):
            if name in _V2_BUILD_FIELDS or name not in TrtLlmBuild.model_fields:
                continue
            if current[name] != defaults[name]:
                raise FieldProblem(
                    f"trt_llm.build.{name} cannot be set with the v2 inference stack",
                    field=("build", name),
                    hint="set the matching field under trt_llm.runtime, or remove it",
                )
        return self


@cache
def _build_defaults() -> dict[str, Any]:
    return TrtLlmBuild().model_dump(mode="json")


def _stack_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        stack = value.get("inference_stack")
        if not stack:
            return InferenceStack.v1.value
        return stack.value if isinstance(stack, InferenceStack) else str(stack)
    if isinstance(value, TrtLlmV1 | TrtLlmV2):
        return value.inference_stack.value
    return None


class TrtLlm(
    RootModel[
        Annotated[
            Annotated[TrtLlmV1, Tag("v1")] | Annotated[TrtLlmV2, Tag("v2")],
            Discriminator(_stack_tag),
        ]
    ]
):
    """TensorRT-LLM engine: ``inference_stack`` picks v1 (default) or v2."""

    @property
    def inference_stack(self) -> InferenceStack:
        return self.root.inference_stack

    @property
    def build(self) -> TrtLlmBuild:
        return self.root.build

    @property
    def runtime(self) -> TrtLlmRuntime | TrtLlmRuntimeV2:
        return self.root.runtime

    @property
    def version_overrides(self) -> VersionOverrides:
        return self.root.version_overrides

    @property
    def tensor_parallel(self) -> int:
        runtime = self.root.runtime
        if isinstance(runtime, TrtLlmRuntimeV2):
            return runtime.tensor_parallel_size
        return self.root.build.tensor_parallel_count

    @property
    def max_seq_len(self) -> int | None:
        runtime = self.root.runtime
        if isinstance(runtime, TrtLlmRuntimeV2):
            return runtime.max_seq_len
        return self.root.build.max_seq_len


def check_trt_llm_resources(trt_llm: TrtLlm, resources: Resources) -> None:
    """Truss's checks of ``trt_llm`` against the GPUs in ``resources`` (raises FieldProblem)."""
    build, gpu = trt_llm.build, resources.accelerator.accelerator
    base = build.base_model
    if base in _RENAMED_TO_DECODER:
        raise FieldProblem(
            f"base_model `{base.value}` was renamed to `decoder`; the architecture is read "
            "from the checkpoint",
            field=("trt_llm", "build", "base_model"),
            hint="write `base_model: decoder`",
        )
    if base is TrtLlmBaseModel.WHISPER:
        raise FieldProblem(
            "base_model `whisper` is no longer supported by trt_llm",
            field=("trt_llm", "build", "base_model"),
        )
    where = ("resources", "accelerator")
    quant = build.quantization_type
    if gpu in (Accelerator.T4, Accelerator.V100):
        if base is not TrtLlmBaseModel.ENCODER_BERT:
            raise FieldProblem(
                f"TensorRT-LLM does not run on {gpu.value} GPUs",
                field=where,
                hint="use A10G, A100, L4, H100 or newer",
            )
    elif quant in _FP8_FP4 and gpu in _PRE_ADA:
        raise FieldProblem(
            f"`{quant.value}` quantization needs L4, H100, H200, B200 or newer, "
            f"not {gpu.value if gpu else gpu}",
            field=where,
        )
    elif quant in _FP4 and gpu in _PRE_BLACKWELL:
        raise FieldProblem(
            f"`{quant.value}` quantization needs B200 (Blackwell) or newer, "
            f"not {gpu.value if gpu else gpu}",
            field=where,
        )
    if isinstance(trt_llm.root, TrtLlmV1):
        _check_world_size(trt_llm.root, resources)


def _check_world_size(v1: TrtLlmV1, resources: Resources) -> None:
    build = v1.build
    world = (
        build.tensor_parallel_count * build.pipeline_parallel_count * build.sequence_parallel_count
    )
    count = resources.accelerator.count
    if build.base_model is TrtLlmBaseModel.DECODER and world != count:
        raise FieldProblem(
            f"tensor_parallel_count x pipeline x sequence parallelism is {world} but the "
            f"accelerator count is {count}; they must match",
            field=("trt_llm", "build", "tensor_parallel_count"),
            hint=f"set `accelerator: <GPU>:{world}` or tensor_parallel_count: {count}",
        )
