"""The TensorRT-LLM adapter: golden commands from ``trt_llm:`` and ``engine:``, the import guard.

TensorRT-LLM cannot be installed here (NVIDIA's index only, CUDA only): the rendered command
and options file are compared with golden files, and the guard is tested both ways — the real
absence on this machine, and presence through a stand-in ``tensorrt_llm`` package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.backends.engine_helpers import check_golden, fake_engine_env, make_truss, render
from trussd.backends.engine_metrics import NORMALISED
from trussd.backends.registry import get_backend
from trussd.backends.trtllm import TrtllmBackend
from trussd.errors import ConfigError, EngineNotInstalled

V1_TRUSS = """
    model_name: llama-trt
    resources: {accelerator: "H100:2"}
    trt_llm:
      build:
        base_model: decoder
        checkpoint_repository: {source: HF, repo: meta-llama/Llama-3.1-8B-Instruct}
        max_seq_len: 8192
        max_batch_size: 64
        max_num_tokens: 16384
        tensor_parallel_count: 2
        quantization_type: fp8_kv
        quantization_config: {calib_size: 512}
      runtime:
        kv_cache_free_gpu_mem_fraction: 0.85
        enable_chunked_context: true
        served_model_name: llama
"""

V2_TRUSS = """
    model_name: qwen-moe
    resources: {accelerator: "H200:4"}
    trt_llm:
      inference_stack: v2
      build:
        checkpoint_repository: {source: HF, repo: Qwen/Qwen3-30B-A3B}
      runtime:
        max_seq_len: 32768
        max_batch_size: 128
        max_num_tokens: 8192
        tensor_parallel_size: 4
        enable_chunked_prefill: false
        patch_kwargs: {moe_config: {backend: CUTLASS}}
"""

ENGINE_TRUSS = """
    model_name: mistral
    resources: {accelerator: A100}
    engine:
      backend: trtllm
      model: ./weights
      served_model_name: mistral-7b
      max_model_len: 4096
      gpu_memory_utilization: 0.7
      enable_prefix_caching: true
      dtype: bfloat16
      args:
        trust_remote_code: true
        num-postprocess-workers: 2
        fail_fast_on_attention_window_too_large: false
        cuda_graph_config: {enable_padding: true}
        config: {print_iter_log: true}
"""


@pytest.fixture
def trtllm_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    python = fake_engine_env(tmp_path / "venv", ["tensorrt_llm"], {"tensorrt_llm": "1.2.0"})
    monkeypatch.setenv("TRUSSD_TRTLLM_PYTHON", str(python))
    return python


@pytest.mark.parametrize(
    ("config", "golden"),
    [(V1_TRUSS, "trtllm_v1.txt"), (V2_TRUSS, "trtllm_v2.txt"), (ENGINE_TRUSS, "trtllm_engine.txt")],
)
def test_plan_matches_golden(trtllm_env: Path, tmp_path: Path, config: str, golden: str) -> None:
    backend = TrtllmBackend(config_dir=tmp_path / "options")
    spec = make_truss(tmp_path / "truss", config)
    plan = backend.plan(spec, 8123)
    options_file = Path(plan.argv[plan.argv.index("--config") + 1])
    options = json.loads(options_file.read_text())
    subs = {
        str(trtllm_env): "{python}",
        str(spec.root): "{truss}",
        str(options_file): "{options}",
    }
    check_golden(golden, render(plan, subs, options))
    assert plan.argv[1:3] == ("-m", "tensorrt_llm.commands.serve")  # what trtllm-serve runs
    assert plan.metrics_path == "/prometheus/metrics"
    assert options["return_perf_metrics"] is True


def test_options_file_is_written_once_per_config(trtllm_env: Path, tmp_path: Path) -> None:
    backend = TrtllmBackend(config_dir=tmp_path / "options")
    spec = make_truss(tmp_path / "truss", V1_TRUSS)
    first = backend.plan(spec, 8123)
    written = Path(first.argv[-1]).stat().st_mtime_ns
    second = backend.plan(spec, 9123)
    assert first.argv[-1] == second.argv[-1]
    assert Path(second.argv[-1]).stat().st_mtime_ns == written


@pytest.mark.parametrize("quantization", ["weights_int8", "smooth_quant", "fp8_mlp_only"])
def test_quantization_the_pytorch_backend_cannot_apply_is_refused(
    trtllm_env: Path, tmp_path: Path, quantization: str
) -> None:
    config = f"engine: {{backend: trtllm, model: ./weights, quantization: {quantization}}}\n"
    with pytest.raises(ConfigError, match=quantization):
        TrtllmBackend(config_dir=tmp_path / "o").plan(make_truss(tmp_path / "t", config), 8123)


def test_the_guard_says_how_to_install_when_tensorrt_llm_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRUSSD_TRTLLM_PYTHON", raising=False)
    backend = TrtllmBackend(config_dir=tmp_path / "o")
    assert not backend.is_installed()  # the real state of this machine
    with pytest.raises(EngineNotInstalled, match="trtllm") as caught:
        backend.check_installed()
    assert "pypi.nvidia.com" in str(caught.value.hint)
    with pytest.raises(EngineNotInstalled):
        backend.plan(make_truss(tmp_path / "t", ENGINE_TRUSS), 8123)


def test_the_guard_finds_tensorrt_llm_in_trussds_own_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRUSSD_TRTLLM_PYTHON", raising=False)
    stand_in = tmp_path / "site"
    (stand_in / "tensorrt_llm").mkdir(parents=True)
    (stand_in / "tensorrt_llm" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(stand_in))
    backend = TrtllmBackend(config_dir=tmp_path / "o")
    backend.check_installed()
    plan = backend.plan(make_truss(tmp_path / "t", ENGINE_TRUSS), 8123)
    assert plan.argv[0] == sys.executable
    assert "tensorrt_llm" not in sys.modules  # found, never imported


def test_metric_names_cover_the_normalised_set() -> None:
    names = TrtllmBackend().metric_names()
    assert all(k.startswith("trtllm_") and not k.endswith("_total") for k in names)
    assert set(NORMALISED) <= set(names.values())


def test_registry_builds_the_trtllm_backend() -> None:
    assert isinstance(get_backend("trtllm"), TrtllmBackend)
