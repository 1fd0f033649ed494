"""SGLang's own ServerArgs parser, in SGLang's environment, accepts the exact command trussd runs.

SGLang cannot serve on a CPU machine; its argument parser imports (``make setup-sglang``), so
the command line of each plan — everything after ``-m sglang.launch_server`` — is parsed by
``ServerArgs.add_cli_args`` and the parsed options are compared with the config.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends.engine_helpers import make_truss, require_engine_python
from tests.backends.test_sglang_plan import BASIC_TRUSS, TUNED_TRUSS
from trussd.backends.sglang import SglangBackend

pytestmark = [pytest.mark.sglang, pytest.mark.slow]

AWQ_TP2_TRUSS = """
    resources: {accelerator: "A100:2"}
    engine:
      backend: sglang
      model: org/llama-awq
      served_model_name: llama
      tensor_parallel_size: 2
      quantization: awq
      args: {max-running-requests: 64, trust-remote-code: true}
"""


@pytest.fixture
def sglang_python(monkeypatch: pytest.MonkeyPatch) -> Path:
    python = require_engine_python("sglang")
    monkeypatch.setenv("TRUSSD_SGLANG_PYTHON", str(python))
    return python


def _plan_flags(spec_yaml: str, root: Path) -> tuple[SglangBackend, list[str]]:
    backend = SglangBackend()
    spec = make_truss(root, spec_yaml)
    argv = list(backend.plan(spec, 30123).argv)
    assert argv[1:3] == ["-m", "sglang.launch_server"]
    return backend, argv[3:]


def test_basic_command_parses(sglang_python: Path, tmp_path: Path) -> None:
    backend, flags = _plan_flags(BASIC_TRUSS, tmp_path / "t")
    check = backend.check_args(make_truss(tmp_path / "t", BASIC_TRUSS), port=30123)
    assert check.ok, check.message
    assert list(check.argv) == flags  # the check parsed exactly the launched flags
    p = check.parsed
    assert p["model_path"] == str(tmp_path / "t" / "weights")
    assert p["served_model_name"] == "tiny-llm"
    assert (p["host"], p["port"]) == ("127.0.0.1", 30123)
    assert p["context_length"] == 4096
    assert p["enable_metrics"] is True


def test_tuned_command_parses(sglang_python: Path, tmp_path: Path) -> None:
    check = SglangBackend().check_args(make_truss(tmp_path / "t", TUNED_TRUSS))
    assert check.ok, check.message
    p = check.parsed
    assert p["tp_size"] == 4
    assert p["quantization"] == "fp8"
    assert p["mem_fraction_static"] == 0.8
    assert p["disable_radix_cache"] is True
    assert p["dtype"] == "bfloat16"
    assert p["kv_cache_dtype"] == "fp8_e5m2"
    assert p["chunked_prefill_size"] == 4096
    assert p["enable_torch_compile"] is True
    assert p["disable_cuda_graph"] is False
    assert "yarn" in str(p["json_model_override_args"])


def test_hub_model_with_awq_and_tp2_parses(sglang_python: Path, tmp_path: Path) -> None:
    check = SglangBackend().check_args(make_truss(tmp_path / "t", AWQ_TP2_TRUSS))
    assert check.ok, check.message
    p = check.parsed
    assert (p["model_path"], p["tp_size"], p["quantization"]) == ("org/llama-awq", 2, "awq")
    assert p["max_running_requests"] == 64
    assert p["trust_remote_code"] is True


def test_an_unknown_quantization_is_rejected_by_sglang(sglang_python: Path, tmp_path: Path) -> None:
    config = "engine: {backend: sglang, model: ./weights, quantization: fp3}\n"
    check = SglangBackend().check_args(make_truss(tmp_path / "t", config))
    assert not check.ok
    assert check.returncode == 2
    assert "--quantization" in check.message
    assert "fp3" in check.message


def test_mapped_metric_families_exist_in_sglangs_collector(sglang_python: Path) -> None:
    # SGLang's metrics need a GPU server to produce; its collector declares every family.
    site = next(sglang_python.parent.parent.glob("lib/python3*/site-packages"))
    source = (site / "sglang" / "srt" / "observability" / "metrics_collector.py").read_text()
    for family in SglangBackend().metric_names():
        # prometheus_client appends `_total` to counters; the text parser strips it again.
        assert f'name="{family}"' in source or f'name="{family}_total"' in source, family
