"""TensorRT-LLM: ``trtllm-serve`` with flags from ``engine:`` and Truss's ``trt_llm:`` section.

``trtllm-serve`` is a console script for ``tensorrt_llm.commands.serve``; trussd runs that module
with the interpreter of TensorRT-LLM's environment (``TRUSSD_TRTLLM_PYTHON``, else trussd's own
if ``tensorrt_llm`` imports there). It installs only from NVIDIA's index onto a CUDA machine,
so on ours the import guard answers EngineNotInstalled with the way to install it.

Settings, from ``trt_llm:`` (v1: ``build`` + ``runtime``; v2: ``runtime``) or else ``engine:``:

    trt_llm                           engine:                  trtllm-serve
    build.max_seq_len                 max_model_len            --max_seq_len
    build.max_batch_size              —                        --max_batch_size
    build.max_num_tokens              —                        --max_num_tokens
    build.tensor_parallel_count       tensor_parallel_size     --tp_size
    runtime.kv_cache_free_gpu_mem_fraction  gpu_memory_utilization
                                                               --kv_cache_free_gpu_memory_fraction
    runtime.served_model_name         served_model_name        --served_model_name
    runtime.enable_chunked_context    —                        enable_chunked_prefill  (config file)
    v2 runtime.patch_kwargs           —                        as written              (config file)
    build.quantization_type           quantization             quant_config / kv dtype (config file)
    build.quantization_config         —                        calib_config            (config file)
    —                                 enable_prefix_caching    kv_cache_config.enable_block_reuse
    —                                 dtype                    dtype                   (config file)
    inference_stack v1 → --backend tensorrt (builds an engine at start); v2 or engine: → pytorch

The rest goes into the LLM-API options file that ``--config`` names (JSON, which YAML reads):
``return_perf_metrics`` and ``enable_iter_perf_stats`` are always on, because only then does
trtllm-serve expose Prometheus metrics, at ``/prometheus/metrics`` (its ``/metrics`` is JSON
iteration stats). In ``engine.args``, scalars become ``--flag value`` (underscores) and mappings
become LLM-API options in that file; ``config: {...}`` merges its keys there.

Quantization. The TensorRT backend quantizes while building: Truss's ``quantization_type``
maps to ``quant_config`` (``fp8_kv`` → FP8 weights and FP8 KV cache …). The PyTorch backend
reads weight quantization from a pre-quantized checkpoint, so there only the ``*_kv`` types
act (an FP8 KV cache); integer and ``*_mlp_only`` types are refused with a ConfigError.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from trussd.backends.base import EnvironmentAdapter, LaunchPlan
from trussd.backends.flags import FalseStyle, FlagSet, FlagStyle
from trussd.config.spec import TrussSpec
from trussd.config.trt_llm_stack import TrtLlm, TrtLlmV2
from trussd.errors import ConfigError

__all__ = ["QUANTIZATION", "TrtllmBackend"]

_MODULE = "tensorrt_llm.commands.serve"

#: Truss quantization_type → (TensorRT-LLM QuantAlgo for weights, QuantAlgo for the KV cache).
QUANTIZATION: dict[str, tuple[str | None, str | None]] = {
    "no_quant": (None, None),
    "weights_int8": ("W8A16", None),
    "weights_kv_int8": ("W8A16", "INT8"),
    "weights_int4": ("W4A16", None),
    "weights_int4_kv_int8": ("W4A16", "INT8"),
    "smooth_quant": ("W8A8_SQ_PER_CHANNEL", None),
    "fp8": ("FP8", None),
    "fp8_kv": ("FP8", "FP8"),
    "fp4": ("NVFP4", None),
    "fp4_kv": ("NVFP4", "FP8"),
}
# Quantized checkpoints the PyTorch backend loads as they are (only the KV-cache part acts).
_CHECKPOINT_QUANT = {"no_quant", "fp8", "fp8_kv", "fp4", "fp4_kv"}

# trtllm-serve's Prometheus families (counters without `_total`, as the text parser reports them).
_METRICS: dict[str, str] = {
    "trtllm_num_requests_running": "trussd_engine_requests_running",
    "trtllm_num_requests_waiting": "trussd_engine_requests_waiting",
    "trtllm_time_to_first_token_seconds": "trussd_engine_time_to_first_token_seconds",
    "trtllm_time_per_output_token_seconds": "trussd_engine_inter_token_latency_seconds",
    "trtllm_e2e_request_latency_seconds": "trussd_engine_e2e_request_latency_seconds",
    "trtllm_prompt_tokens": "trussd_engine_prompt_tokens",
    "trtllm_generation_tokens": "trussd_engine_generation_tokens",
    "trtllm_kv_cache_utilization": "trussd_engine_kv_cache_usage_ratio",
}


@dataclass(frozen=True)
class TrtSettings:
    """The trtllm-serve settings of a truss, wherever in config.yaml they were written."""

    backend: str
    served_model_name: str
    max_seq_len: int | None = None
    max_batch_size: int | None = None
    max_num_tokens: int | None = None
    tp_size: int = 1
    kv_fraction: float | None = None
    chunked_prefill: bool | None = None
    quantization: str | None = None
    prefix_caching: bool | None = None
    dtype: str = "auto"
    #: LLM-API options written as they are (v2's ``runtime.patch_kwargs``)
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: TensorRT-LLM ``calib_config`` for a quantizing engine build
    calibration: Mapping[str, Any] = field(default_factory=dict)


class TrtllmBackend(EnvironmentAdapter):
    name: ClassVar[str] = "trtllm"
    module: ClassVar[str | None] = "tensorrt_llm"
    distributions: ClassVar[tuple[str, ...]] = ("tensorrt_llm", "tensorrt-llm")
    command: ClassVar[str | None] = None
    install_hint: ClassVar[str] = (
        "TensorRT-LLM needs an NVIDIA GPU and NVIDIA's package index: in its own environment, "
        "`pip install tensorrt_llm --extra-index-url https://pypi.nvidia.com` (or use the "
        "nvcr.io/nvidia/tensorrt-llm/release image), then TRUSSD_TRTLLM_PYTHON=V/bin/python"
    )

    def __init__(self, config_dir: Path | None = None) -> None:
        # Where LLM-API option files are written; one per config hash, so rewriting is a no-op.
        self.config_dir = config_dir or Path(tempfile.gettempdir()) / "trussd-trtllm"

    def plan(self, spec: TrussSpec, port: int) -> LaunchPlan:
        env = self.require_environment()
        model, flags, options = self.render(spec, port)
        config_file = self.write_options(spec, options)
        argv = (env.python, "-m", _MODULE, model, *flags, "--config", str(config_file))
        return LaunchPlan(
            argv=argv,
            port=port,
            env={"HF_HUB_OFFLINE": "1"} if Path(model).exists() else {},
            health_path="/health",
            metrics_path="/prometheus/metrics",
            served_model_name=settings(spec).served_model_name,
        )

    def render(self, spec: TrussSpec, port: int) -> tuple[str, list[str], dict[str, Any]]:
        """The model, the command-line flags, and the LLM-API options (pure: writes nothing)."""
        engine, model = spec.engine, spec.engine_model_path()
        if engine is None or model is None:
            raise ConfigError(
                f"{spec.root} has no `engine:` or `trt_llm:` section for TensorRT-LLM"
            )
        s = settings(spec)
        flags = FlagSet(FlagStyle.UNDERSCORE, FalseStyle.OMIT, reserved=_RESERVED)
        for key, value in (
            ("host", "127.0.0.1"),
            ("port", port),
            ("backend", s.backend),
            ("served_model_name", s.served_model_name),
            ("max_seq_len", s.max_seq_len),
            ("max_batch_size", s.max_batch_size),
            ("max_num_tokens", s.max_num_tokens),
            ("tp_size", s.tp_size if s.tp_size != 1 else None),
            ("kv_cache_free_gpu_memory_fraction", s.kv_fraction),
        ):
            flags.set(key, value)
        options = llm_api_options(s)
        scalars = {k: v for k, v in engine.args.items() if not isinstance(v, dict)}
        flags.update_from_args(scalars)
        for key, value in engine.args.items():
            if isinstance(value, dict):
                options.update(value if key == "config" else {key: value})
        return model, flags.argv(), options

    def write_options(self, spec: TrussSpec, options: Mapping[str, Any]) -> Path:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        path = self.config_dir / f"{spec.config_hash[:16]}.yaml"
        text = json.dumps(options, indent=2, sort_keys=True) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        return path

    def metric_names(self) -> Mapping[str, str]:
        return _METRICS


_RESERVED = ("host", "port", "served_model_name", "config", "extra_llm_api_options")


def settings(spec: TrussSpec) -> TrtSettings:
    """Read the trtllm-serve settings from ``trt_llm:`` (if present) and ``engine:``."""
    engine = spec.engine
    if engine is None:
        raise ConfigError(f"{spec.root} has no `engine:` or `trt_llm:` section for TensorRT-LLM")
    trt = spec.config.trt_llm
    if trt is None:
        return TrtSettings(
            backend="pytorch",
            served_model_name=spec.served_model_name,
            max_seq_len=engine.max_model_len,
            tp_size=engine.tensor_parallel_size,
            kv_fraction=engine.gpu_memory_utilization,
            quantization=engine.quantization,
            prefix_caching=engine.enable_prefix_caching,
            dtype=engine.dtype,
        )
    return _from_trt_llm(trt, spec.served_model_name)


def _from_trt_llm(trt: TrtLlm, served_model_name: str) -> TrtSettings:
    root, build = trt.root, trt.build
    quantization = build.quantization_type.value
    if isinstance(root, TrtLlmV2):
        runtime = root.runtime
        return TrtSettings(
            backend="pytorch",
            served_model_name=runtime.served_model_name or served_model_name,
            max_seq_len=runtime.max_seq_len,
            max_batch_size=runtime.max_batch_size,
            max_num_tokens=runtime.max_num_tokens,
            tp_size=runtime.tensor_parallel_size,
            chunked_prefill=runtime.enable_chunked_prefill,
            quantization=quantization,
            extra=dict(runtime.patch_kwargs),
        )
    return TrtSettings(
        backend="tensorrt",
        served_model_name=root.runtime.served_model_name or served_model_name,
        max_seq_len=build.max_seq_len,
        max_batch_size=build.max_batch_size,
        max_num_tokens=build.max_num_tokens,
        tp_size=build.tensor_parallel_count,
        kv_fraction=root.runtime.kv_cache_free_gpu_mem_fraction,
        chunked_prefill=root.runtime.enable_chunked_context,
        quantization=quantization,
        calibration={
            # trtllm calibrates one sample per batch: Truss's calib_size is the batch count
            "calib_batches": build.quantization_config.calib_size,
            "calib_dataset": build.quantization_config.calib_dataset,
            "calib_max_seq_length": build.quantization_config.calib_max_seq_length,
        },
    )


def llm_api_options(s: TrtSettings) -> dict[str, Any]:
    """The options file's contents for ``s`` (metrics on, quantization, KV cache, dtype)."""
    options: dict[str, Any] = {
        **s.extra,
        "return_perf_metrics": True,
        "enable_iter_perf_stats": True,
    }
    if s.chunked_prefill is not None:
        options["enable_chunked_prefill"] = s.chunked_prefill
    if s.dtype != "auto":
        options["dtype"] = s.dtype
    weights, kv = _quantization(s)
    if weights is not None and s.backend == "tensorrt":
        options["quant_config"] = {
            "quant_algo": weights,
            **({"kv_cache_quant_algo": kv} if kv else {}),
        }
        if s.calibration:
            options["calib_config"] = dict(s.calibration)
    kv_cache: dict[str, Any] = {}
    if kv is not None and s.backend != "tensorrt":
        kv_cache["dtype"] = kv.lower()
    if s.prefix_caching is not None:
        kv_cache["enable_block_reuse"] = s.prefix_caching
    if kv_cache:
        # This mapping replaces the one trtllm-serve builds from its flags: keep the fraction.
        if s.kv_fraction is not None:
            kv_cache["free_gpu_memory_fraction"] = s.kv_fraction
        options["kv_cache_config"] = kv_cache
    return options


def _quantization(s: TrtSettings) -> tuple[str | None, str | None]:
    name = (s.quantization or "no_quant").lower()
    if name not in QUANTIZATION:
        known = ", ".join(sorted(QUANTIZATION))
        raise ConfigError(
            f"TensorRT-LLM cannot apply quantization `{name}`; use one of {known}, or write "
            "`quant_config` under engine.args.config"
        )
    if s.backend != "tensorrt" and name not in _CHECKPOINT_QUANT:
        raise ConfigError(
            f"quantization `{name}` needs an engine build: TensorRT-LLM's PyTorch backend reads "
            "weight quantization from a pre-quantized checkpoint; use `inference_stack: v1` or "
            "a quantized checkpoint"
        )
    return QUANTIZATION[name]
