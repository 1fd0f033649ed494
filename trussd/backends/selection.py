"""``backend: auto`` → one engine, by a fixed rule, with the reason in words.

The rule, first match wins (the same inputs always give the same answer):

1. a ``docker_server:`` section → ``docker_server`` (the user's own server);
2. ``engine.backend`` other than ``auto`` → that backend ("set in config");
3. a ``trt_llm:`` section → ``trtllm`` (Truss's TensorRT-LLM config names its engine);
4. no accelerator (CPU only) → ``vllm`` when a CPU build of vLLM (the ``vllm-cpu``
   distribution) is installed, else ``transformers`` (the CPU engine that runs everywhere);
5. a quantization only TensorRT-LLM implements (``weights_int8``, ``smooth_quant``,
   ``fp8_kv``, ``fp4`` …) → ``trtllm``;
6. GPUs → the first installed of ``vllm``, ``sglang``, ``trtllm``; with none installed here
   (validating on a laptop for a GPU deployment) → ``vllm``, the image installs it.

"Installed" follows ``environments``: ``TRUSSD_<NAME>_PYTHON`` names an engine's own
environment (e.g. ``TRUSSD_VLLM_PYTHON=.venvs/vllm/bin/python``), else the engine must import
in trussd's environment. A GPU build of vLLM counts for GPUs only, a CPU build for CPUs only.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from trussd.backends.environments import find_engine_environment
from trussd.config.spec import TrussKind, TrussSpec

__all__ = [
    "TRTLLM_ONLY_QUANTIZATION",
    "Installed",
    "Selection",
    "detect_installed",
    "select_backend",
]

TRTLLM_ONLY_QUANTIZATION = frozenset(
    {
        "weights_int8",
        "weights_kv_int8",
        "weights_int4",
        "weights_int4_kv_int8",
        "smooth_quant",
        "fp8_kv",
        "fp8_mlp_only",
        "fp4",
        "fp4_kv",
        "fp4_mlp_only",
    }
)


@dataclass(frozen=True)
class Selection:
    """The chosen backend and why. ``reason`` starts with ``auto:`` when the rule chose it
    (``auto: A100:2, no trt_llm section``), else it says where the choice came from."""

    backend: str
    reason: str

    @property
    def auto(self) -> bool:
        return self.reason.startswith("auto: ")

    @property
    def summary(self) -> str:
        """``vllm (auto: A100:2, no trt_llm section)`` — what ``trussd validate`` prints."""
        return f"{self.backend} ({self.reason})"


def _auto(backend: str, reason: str) -> Selection:
    return Selection(backend, f"auto: {reason}")


@dataclass(frozen=True)
class Installed:
    """Which engines this machine can run (a seam: tests pass their own)."""

    vllm_gpu: bool = False
    vllm_cpu: bool = False
    sglang: bool = False
    trtllm: bool = False


def detect_installed() -> Installed:
    vllm = find_engine_environment("vllm", "vllm", ("vllm", "vllm-cpu"))
    cpu_build = vllm is not None and vllm.has("vllm-cpu")
    trtllm = find_engine_environment("trtllm", "tensorrt_llm")
    return Installed(
        vllm_gpu=vllm is not None and not cpu_build,
        vllm_cpu=cpu_build,
        sglang=find_engine_environment("sglang", "sglang") is not None,
        trtllm=trtllm is not None or importlib.util.find_spec("tensorrt_llm") is not None,
    )


def _accelerator(spec: TrussSpec) -> str | None:
    acc = spec.config.resources.accelerator
    if acc.accelerator is None or acc.gpu_count == 0:
        return None
    return (
        acc.accelerator.value if acc.gpu_count == 1 else f"{acc.accelerator.value}:{acc.gpu_count}"
    )


def _gpu_choice(accel: str, quantization: str | None, installed: Installed) -> Selection:
    if quantization and quantization.lower() in TRTLLM_ONLY_QUANTIZATION:
        return _auto("trtllm", f"{accel}, quantization {quantization} is TensorRT-LLM's")
    base = f"{accel}, no trt_llm section"
    for name, present in (
        ("vllm", installed.vllm_gpu),
        ("sglang", installed.sglang),
        ("trtllm", installed.trtllm),
    ):
        if present:
            return _auto(name, f"{base}, {name} installed")
    return _auto("vllm", base)


def select_backend(spec: TrussSpec, installed: Installed | None = None) -> Selection:
    """The engine that serves ``spec`` (see the module docstring for the rule)."""
    if spec.kind is TrussKind.DOCKER_SERVER:
        return Selection("docker_server", "docker_server section")
    engine = spec.engine
    if engine is None:
        raise ValueError(f"{spec.root} is not an engine truss (kind {spec.kind.value})")
    if engine.backend.value != "auto":
        return Selection(engine.backend.value, "set in config")
    if spec.config.trt_llm is not None:
        return _auto("trtllm", "trt_llm section")
    installed = installed if installed is not None else detect_installed()
    accel = _accelerator(spec)
    if accel is None:
        if installed.vllm_cpu:
            return _auto("vllm", "no accelerator, CPU build of vLLM installed")
        return _auto("transformers", "no accelerator, no CPU build of vLLM")
    return _gpu_choice(accel, engine.quantization, installed)
