"""vLLM's own argument parser, in vLLM's environment, judges the flags trussd renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.engine_helpers import make_truss, require_engine_python
from tests.backends.test_vllm_plan import CPU_TRUSS, GPU_TRUSS
from trussd.backends.vllm import VllmBackend

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture
def vllm_python(monkeypatch: pytest.MonkeyPatch) -> Path:
    python = require_engine_python("vllm")
    monkeypatch.setenv("TRUSSD_VLLM_PYTHON", str(python))
    return python


def test_cpu_truss_flags_parse_into_the_intended_options(vllm_python: Path, tmp_path: Path) -> None:
    check = VllmBackend().check_args(make_truss(tmp_path / "t", CPU_TRUSS))
    assert check.ok, check.message
    parsed = check.parsed
    assert parsed["served_model_name"] == ["tiny-llm"]
    assert parsed["max_model_len"] == 2048
    assert parsed["dtype"] == "float32"
    assert parsed["enforce_eager"] is True
    assert parsed["max_num_seqs"] == 16


def test_gpu_truss_flags_parse_into_the_intended_options(vllm_python: Path, tmp_path: Path) -> None:
    check = VllmBackend().check_args(make_truss(tmp_path / "t", GPU_TRUSS))
    assert check.ok, check.message
    parsed = check.parsed
    assert parsed["tensor_parallel_size"] == 2
    assert parsed["quantization"] == "fp8"
    assert parsed["gpu_memory_utilization"] == 0.85
    assert parsed["enable_prefix_caching"] is True
    assert parsed["enable_chunked_prefill"] is False
    assert parsed["ignore_patterns"] == ["*.pt", "original/*"]
    assert "1000000" in str(parsed["hf_overrides"])


def test_a_misspelt_flag_is_rejected_with_vllms_message(vllm_python: Path, tmp_path: Path) -> None:
    spec = make_truss(
        tmp_path / "t",
        "engine: {backend: vllm, model: ./weights, args: {enforce-eagre: true}}\n",
    )
    check = VllmBackend().check_args(spec)
    assert not check.ok
    assert check.returncode == 2
    assert "enforce-eagre" in check.message
