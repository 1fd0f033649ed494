"""The SGLang adapter's launch plan: exact commands (golden), flags, metrics, install guard."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.engine_helpers import check_golden, fake_engine_env, make_truss, render
from trussd.backends.engine_metrics import NORMALISED
from trussd.backends.registry import get_backend
from trussd.backends.sglang import SglangBackend
from trussd.errors import ConfigError, EngineNotInstalled

BASIC_TRUSS = """
    model_name: tiny
    resources: {accelerator: L4}
    engine:
      backend: sglang
      model: ./weights
      served_model_name: tiny-llm
      max_model_len: 4096
"""

TUNED_TRUSS = """
    model_name: big
    resources: {accelerator: "H100:4"}
    engine:
      backend: sglang
      model: ./weights
      tensor_parallel_size: 4
      quantization: fp8
      gpu_memory_utilization: 0.8
      enable_prefix_caching: false
      dtype: bfloat16
      args:
        kv-cache-dtype: fp8_e5m2
        chunked_prefill_size: 4096
        enable-torch-compile: true
        disable-cuda-graph: false
        json-model-override-args: {rope_scaling: {type: yarn, factor: 4}}
"""


@pytest.fixture
def sglang_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    python = fake_engine_env(tmp_path / "venv", ["sglang"], {"sglang": "0.5.23"})
    monkeypatch.setenv("TRUSSD_SGLANG_PYTHON", str(python))
    return python


@pytest.mark.parametrize(
    ("config", "golden"), [(BASIC_TRUSS, "sglang_basic.txt"), (TUNED_TRUSS, "sglang_tuned.txt")]
)
def test_plan_matches_golden(sglang_env: Path, tmp_path: Path, config: str, golden: str) -> None:
    spec = make_truss(tmp_path / "truss", config)
    plan = SglangBackend().plan(spec, 30123)
    check_golden(golden, render(plan, {str(sglang_env): "{python}", str(spec.root): "{truss}"}))
    assert plan.argv[1:3] == ("-m", "sglang.launch_server")
    assert "--enable-metrics" in plan.argv  # the front reads sglang:* from /metrics


def test_false_is_omitted_for_store_true_flags(sglang_env: Path, tmp_path: Path) -> None:
    argv = SglangBackend().plan(make_truss(tmp_path / "truss", TUNED_TRUSS), 30123).argv
    assert not any("cuda-graph" in arg for arg in argv)
    assert "--disable-radix-cache" in argv  # enable_prefix_caching: false


@pytest.mark.parametrize("key", ["port", "model-path", "served_model_name", "enable-metrics"])
def test_args_cannot_take_over_what_trussd_controls(
    sglang_env: Path, tmp_path: Path, key: str
) -> None:
    config = f"engine: {{backend: sglang, model: ./weights, args: {{{key}: x}}}}\n"
    with pytest.raises(ConfigError, match="may not set"):
        SglangBackend().plan(make_truss(tmp_path / "truss", config), 30123)


def test_not_installed_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSSD_SGLANG_PYTHON", str(fake_engine_env(tmp_path / "venv", [], {})))
    backend = SglangBackend()
    assert not backend.is_installed()
    with pytest.raises(EngineNotInstalled) as caught:
        backend.plan(make_truss(tmp_path / "truss", BASIC_TRUSS), 30123)
    assert "TRUSSD_SGLANG_PYTHON" in str(caught.value.hint)


def test_metric_names_cover_the_normalised_set() -> None:
    names = SglangBackend().metric_names()
    assert all(k.startswith("sglang:") and not k.endswith("_total") for k in names)
    assert set(NORMALISED) <= set(names.values())


def test_registry_builds_the_sglang_backend() -> None:
    assert isinstance(get_backend("sglang"), SglangBackend)
