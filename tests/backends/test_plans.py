"""What the transformers and docker_server adapters would launch (golden argv), and the
helpers they share."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.backends.test_selection import spec_of
from trussd.backends.base import LaunchPlan
from trussd.backends.custom_server import DockerServerBackend
from trussd.backends.supervisor import engine_environment
from trussd.backends.transformers import TransformersBackend
from trussd.errors import ConfigError

ENGINE = "model_name: tiny\nengine:\n  model: ./weights\n  served_model_name: tiny-llm\n"


def test_transformers_plan(tmp_path: Path) -> None:
    spec = spec_of(tmp_path, ENGINE)
    (spec.root / "weights").mkdir()
    plan = TransformersBackend().plan(spec, 4321)
    weights = str(spec.root / "weights")
    assert plan.argv == (
        sys.executable, "-m", "transformers.cli.transformers", "serve", weights,
        "--host", "127.0.0.1", "--port", "4321",
        "--continuous-batching", "--cb-num-blocks", "512", "--cb-block-size", "32",
        "--device", "cpu", "--dtype", "auto",
    )  # fmt: skip
    assert plan.served_model_name == weights  # the engine's id is the path it was given
    assert plan.env["HF_HUB_OFFLINE"] == "1"
    assert plan.metrics_path is None
    assert plan.base_url == "http://127.0.0.1:4321"


def test_transformers_args_override_and_reserved_flags(tmp_path: Path) -> None:
    yaml = ENGINE + "  dtype: float32\n  args:\n    cb_num_blocks: 64\n    compile: false\n"
    plan = TransformersBackend().plan(spec_of(tmp_path, yaml), 1)
    argv = list(plan.argv)
    assert argv[argv.index("--cb-num-blocks") + 1] == "64"
    assert argv.count("--cb-num-blocks") == 1
    assert "--no-compile" in argv
    assert argv[argv.index("--dtype") + 1] == "float32"
    with pytest.raises(ConfigError, match="may not set `port`"):
        TransformersBackend().plan(spec_of(tmp_path, ENGINE + "  args: {port: 1}\n"), 1)


def test_transformers_quantization_and_gpu(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not support quantization `awq`"):
        TransformersBackend().plan(spec_of(tmp_path, ENGINE + "  quantization: awq\n"), 1)
    yaml = ENGINE + "  quantization: bnb-4bit\nresources:\n  accelerator: L4\n"
    argv = list(TransformersBackend().plan(spec_of(tmp_path, yaml), 1).argv)
    assert argv[argv.index("--quantization") + 1] == "bnb-4bit"
    assert argv[argv.index("--device") + 1] == "cuda"


def test_transformers_drops_ignore_eos(tmp_path: Path) -> None:
    plan = LaunchPlan(argv=("x",), port=1, served_model_name="/w")
    body = TransformersBackend().adapt_request({"model": "tiny", "ignore_eos": True}, plan)
    assert body == {"model": "/w"}


def test_docker_server_plan(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "docker_server:\n  start_command: python -m http.server 8001 && echo\n"
        "  server_port: 8001\n  predict_endpoint: v1/generate\n"
        "  readiness_endpoint: /ready\n  liveness_endpoint: /live\n"
        "environment_variables:\n  MY_VAR: x\n",
    )
    plan = DockerServerBackend().plan(spec, 0)
    assert plan.argv == ("/bin/sh", "-c", "python -m http.server 8001 && echo")
    assert (plan.port, plan.health_path, plan.predict_path) == (8001, "/ready", "/v1/generate")
    assert plan.cwd == spec.root
    assert DockerServerBackend().adapt_request({"model": "x"}, plan) == {"model": "x"}
    env = engine_environment(spec, plan)
    assert env["MY_VAR"] == "x"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_docker_server_without_start_command(tmp_path: Path) -> None:
    spec = spec_of(
        tmp_path,
        "docker_server:\n  no_build: true\n  server_port: 8001\n  predict_endpoint: /p\n"
        "  readiness_endpoint: /r\n  liveness_endpoint: /l\n",
    )
    with pytest.raises(ConfigError, match="start_command"):
        DockerServerBackend().plan(spec, 0)
