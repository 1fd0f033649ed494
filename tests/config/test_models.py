"""The config models: Truss's defaults and value rewrites, and resolution into TrussSpec."""

from __future__ import annotations

from pathlib import Path

import pytest

from trussd.config import TrussConfig, TrussKind, load_truss
from trussd.config.sections import EngineBackend
from trussd.config.trt_llm_stack import TrtLlmV1, TrtLlmV2
from trussd.errors import ConfigError

CHECKPOINT = {"source": "HF", "repo": "org/model"}


def test_truss_defaults() -> None:
    config = TrussConfig.model_validate({})
    assert config.python_version == "py313"
    assert config.canonical_python_version == "3.13"
    assert (config.resources.cpu, config.resources.memory) == ("1", "2Gi")
    assert config.resources.accelerator.accelerator is None
    assert config.runtime.predict_concurrency == 1
    assert config.runtime.streaming_read_timeout == 60
    assert config.runtime.transport.kind == "http"
    assert config.model_class_name == "Model"
    assert config.model_module_dir == "model"
    assert config.data_dir == "data"
    assert config.trt_llm is None
    assert config.weights.sources == []


def test_environment_variables_become_strings() -> None:
    config = TrussConfig.model_validate(
        {"environment_variables": {"A": True, "B": 2, "C": 1.5, "D": None, "E": "x"}}
    )
    assert config.environment_variables == {"A": "true", "B": "2", "C": "1.5", "D": "", "E": "x"}


@pytest.mark.parametrize(
    ("spec", "gpu", "count", "dumped"),
    [
        ("H100:8", "H100", 8, "H100:8"),
        ("A10G", "A10G", 1, "A10G"),
        ({"accelerator": "L4", "count": 2}, "L4", 2, "L4:2"),
        (None, None, 1, None),
    ],
)
def test_accelerator_forms(spec: object, gpu: str | None, count: int, dumped: str | None) -> None:
    resources = TrussConfig.model_validate({"resources": {"accelerator": spec}}).resources
    assert resources.accelerator.accelerator == gpu
    assert resources.accelerator.count == count
    assert resources.model_dump()["accelerator"] == dumped


def test_memory_and_cpu_quantities() -> None:
    resources = TrussConfig.model_validate(
        {"resources": {"cpu": "500m", "memory": "1.5Gi"}}
    ).resources
    assert resources.cpu_millicores == 500
    assert resources.memory_bytes == int(1.5 * 1024**3)


def test_legacy_hf_cache_and_websocket_flag() -> None:
    config = TrussConfig.model_validate(
        {
            "hf_cache": [{"repo_id": "a/b", "use_volume": False}],
            "runtime": {"is_websocket_endpoint": True},
            "cache_internal": None,
        }
    )
    assert [m.repo_id for m in config.model_cache.models] == ["a/b"]
    assert config.runtime.transport.kind == "websocket"
    assert config.cache_internal.models == []


def test_transport_keeps_the_legacy_flag_in_sync() -> None:
    runtime = TrussConfig.model_validate({"runtime": {"transport": {"kind": "grpc"}}}).runtime
    assert runtime.is_websocket_endpoint is False


def test_trt_llm_v1_defaults_to_v1_and_derives_an_engine(tmp_path: Path) -> None:
    config = TrussConfig.model_validate(
        {
            "resources": {"accelerator": "H100:2"},
            "trt_llm": {
                "build": {
                    "checkpoint_repository": CHECKPOINT,
                    "tensor_parallel_count": 2,
                    "max_seq_len": 4096,
                    "quantization_type": "fp8",
                },
                "runtime": {"served_model_name": "chat"},
            },
        }
    )
    assert config.trt_llm is not None
    assert isinstance(config.trt_llm.root, TrtLlmV1)
    assert config.trt_llm.tensor_parallel == 2
    (tmp_path / "config.yaml").write_text(
        "resources: {accelerator: 'H100:2'}\ntrt_llm:\n  build:\n"
        "    checkpoint_repository: {source: HF, repo: org/model}\n"
        "    tensor_parallel_count: 2\n    max_seq_len: 4096\n    quantization_type: fp8\n"
        "  runtime: {served_model_name: chat}\n"
    )
    spec = load_truss(tmp_path)
    assert spec.kind is TrussKind.ENGINE
    assert spec.engine is not None
    assert spec.engine.backend is EngineBackend.TRTLLM
    assert (spec.engine.model, spec.engine.max_model_len) == ("org/model", 4096)
    assert (spec.engine.tensor_parallel_size, spec.engine.quantization) == (2, "fp8")
    assert spec.served_model_name == "chat"


def test_trt_llm_v2_reads_parallelism_from_the_runtime() -> None:
    config = TrussConfig.model_validate(
        {
            "resources": {"accelerator": "H100:4"},
            "trt_llm": {
                "inference_stack": "v2",
                "build": {"checkpoint_repository": CHECKPOINT},
                "runtime": {
                    "tensor_parallel_size": 4,
                    "max_seq_len": 65536,
                    "gated_features": {"x": 1},
                },
            },
        }
    )
    assert config.trt_llm is not None
    assert isinstance(config.trt_llm.root, TrtLlmV2)
    assert (config.trt_llm.tensor_parallel, config.trt_llm.max_seq_len) == (4, 65536)
    assert config.trt_llm.root.runtime.patch_kwargs == {"x": 1}


def test_encoder_builds_are_single_gpu() -> None:
    config = TrussConfig.model_validate(
        {
            "trt_llm": {
                "build": {
                    "base_model": "encoder",
                    "checkpoint_repository": CHECKPOINT,
                    "tensor_parallel_count": 4,
                }
            }
        }
    )
    assert config.trt_llm is not None
    build = config.trt_llm.build
    assert (build.tensor_parallel_count, build.max_num_tokens) == (1, 16384)
    assert build.plugin_configuration.paged_kv_cache is False


def test_lookahead_derives_draft_tokens() -> None:
    config = TrussConfig.model_validate(
        {
            "resources": {"accelerator": "H100"},
            "trt_llm": {
                "build": {
                    "checkpoint_repository": CHECKPOINT,
                    "speculator": {
                        "speculative_decoding_mode": "LOOKAHEAD_DECODING",
                        "lookahead_windows_size": 7,
                        "lookahead_ngram_size": 5,
                        "lookahead_verification_set_size": 3,
                    },
                }
            },
        }
    )
    assert config.trt_llm is not None
    speculator = config.trt_llm.build.speculator
    assert speculator is not None
    assert speculator.num_draft_tokens == 3 + (7 - 1 + 3) * 4


def test_load_truss_raises_config_error_with_every_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("resources:\n  memory: 2GB\n  cpu: x\n")
    with pytest.raises(ConfigError) as caught:
        load_truss(tmp_path)
    assert len(caught.value.diagnostics) == 2
    assert "resources.memory" in str(caught.value)


def test_spec_resolves_paths_and_requirements_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "model_name: m\nrequirements_file: reqs.txt\nsecrets: {hf_access_token: null}\n"
    )
    (tmp_path / "reqs.txt").write_text("# pinned\nnumpy==2.1.0  # why\n\ntorch\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.py").write_text("class Model:\n    pass\n")
    spec = load_truss(tmp_path)
    assert spec.kind is TrussKind.CUSTOM
    assert spec.requirements == ("numpy==2.1.0", "torch")
    assert spec.secret_names == ("hf_access_token",)
    assert spec.model_file == tmp_path.resolve() / "model" / "model.py"
    assert spec.data_dir == tmp_path.resolve() / "data"


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("hf_access_token", True),
        ("my-secret.v2", True),
        ("DOCKER_REGISTRY_us-docker.pkg.dev/my-project", True),
        ("DOCKER_REGISTRY_localhost:5000", True),
        ("DOCKER_REGISTRY_gcr.io\nEVIL=1", False),
        ("DOCKER_REGISTRY_gcr.io\x00", False),
        ("DOCKER_REGISTRY_a=b", False),
        ("DOCKER_REGISTRY_my host", False),
        ("hf_token\n", False),
        ("my secret", False),
    ],
)
def test_build_secret_names(name: str, ok: bool) -> None:
    """Registry secrets are named after the registry, but still cannot smuggle a newline."""
    data = {"build": {"secret_to_path_mapping": {name: "/run/secrets/x"}}}
    if ok:
        assert name in TrussConfig.model_validate(data).build.secret_to_path_mapping
    else:
        with pytest.raises(ValueError, match="secret name"):
            TrussConfig.model_validate(data)


@pytest.mark.parametrize("where", ["../outside.txt", "sub/../../outside.txt", "ABSOLUTE", "LINK"])
def test_requirements_file_must_lie_inside_the_truss(tmp_path: Path, where: str) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret-package==1\n")
    truss = tmp_path / "truss"
    (truss / "model").mkdir(parents=True)
    (truss / "sub").mkdir()
    (truss / "model" / "model.py").write_text("class Model:\n    pass\n")
    if where == "LINK":
        (truss / "reqs.txt").symlink_to(outside)
        where = "reqs.txt"
    elif where == "ABSOLUTE":
        where = str(outside)
    (truss / "config.yaml").write_text(f"model_name: m\nrequirements_file: {where}\n")
    with pytest.raises(ConfigError, match="outside the truss folder"):
        load_truss(truss)
