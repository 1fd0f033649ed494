"""Diagnostics: every problem in one pass, with path, value, line, column and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from trussd.config import Diagnostic, Severity, validate_truss
from trussd.config.load import validate_config_data
from trussd.config.yaml_source import YamlSource, parse_yaml


def check(text: str, strict: bool = False) -> tuple[bool, list[Diagnostic]]:
    source = parse_yaml(text)
    if not isinstance(source, YamlSource):
        return False, [source]
    config, diagnostics = validate_config_data(source.data, source.locations, strict=strict)
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    return config is not None and not errors, diagnostics


def by_path(diagnostics: list[Diagnostic]) -> dict[str, Diagnostic]:
    return {d.path: d for d in diagnostics}


def test_memory_quantity_names_field_line_value_and_fix() -> None:
    ok, found = check("model_name: m\nresources:\n  memory: 2GB\n")
    assert not ok
    memory = by_path(found)["resources.memory"]
    assert (memory.line, memory.column, memory.value) == (3, 3, "2GB")
    assert "use `2Gi`" in memory.message
    assert memory.render().startswith("config.yaml:3:3: error: resources.memory: `2GB`")


def test_unknown_keys_are_reported_even_when_other_fields_fail() -> None:
    ok, found = check("resource:\n  cpu: '1'\nresources:\n  memory: lots\n")
    assert not ok
    paths = by_path(found)
    assert paths["resource"].severity is Severity.WARNING
    assert paths["resource"].hint == "did you mean `resources`?"
    assert paths["resources.memory"].severity is Severity.ERROR


@pytest.mark.parametrize(
    ("text", "path", "hint"),
    [
        ("resources:\n  acelerator: A10G\n", "resources.acelerator", "did you mean `accelerator`?"),
        (
            "runtime:\n  Predict_Concurrency: 2\n",
            "runtime.Predict_Concurrency",
            "`predict_concurrency`",
        ),
        ("accelerator: A10G\n", "accelerator", "`resources.accelerator`"),
        (
            "weights:\n  - source: hf://a/b\n    mount_location: /m\n    mount: /x\n",
            "weights[0].mount",
            "`mount_location`",
        ),
        (
            "runtime:\n  transport:\n    kind: websocket\n    ping_interval: 3\n",
            "runtime.transport.ping_interval",
            "`ping_interval_seconds`",
        ),
        (
            "trt_llm:\n  inference_stack: v2\n  build:\n    checkpoint_repository: {source: HF, "
            "repo: a/b}\n  runtime:\n    kv_cache_free_gpu_mem_fraction: 0.9\n",
            "trt_llm.runtime.kv_cache_free_gpu_mem_fraction",
            "remove it",
        ),
    ],
)
def test_unknown_keys_everywhere(text: str, path: str, hint: str) -> None:
    _, found = check(text)
    unknown = by_path(found)[path]
    assert unknown.message.startswith("unknown key")
    assert unknown.hint is not None
    assert hint in unknown.hint


def test_free_form_sections_have_no_unknown_keys() -> None:
    ok, found = check(
        "model_metadata:\n  anything: 1\nbuild:\n  arguments:\n    foo: bar\n"
        "engine:\n  model: m\n  args:\n    enforce-eager: true\n"
    )
    assert ok
    assert found == []


def test_strict_makes_unknown_keys_errors() -> None:
    ok, found = check("modle_name: x\n", strict=True)
    assert not ok
    assert found[0].severity is Severity.ERROR


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (
            "runtime:\n  predict_concurrency: abc\n",
            "runtime.predict_concurrency",
            "expected an integer, got a string `abc`",
        ),
        ("live_reload: maybe\n", "live_reload", "expected true or false, got a string `maybe`"),
        (
            "runtime:\n  transport: {kind: ftp}\n",
            "runtime.transport.kind",
            "use one of `http`, `websocket`, `grpc`",
        ),
        (
            "build:\n  model_server: Triton\n",
            "build.model_server",
            "use one of `TrussServer`, `TRT_LLM`",
        ),
        ("resources:\n  accelerator: H900\n", "resources.accelerator", "available: B10, T4"),
        ("resources:\n  accelerator: h100\n", "resources.accelerator", "did you mean `H100`?"),
        ("resources:\n  use_gpu: true\n", "resources.use_gpu", "needs an `accelerator`"),
        (
            "docker_server:\n  server_port: 8000\n",
            "docker_server.predict_endpoint",
            "required field is missing",
        ),
        ("requirements: [a]\nrequirements_file: r.txt\n", "requirements_file", "not both"),
        (
            "trt_llm:\n  inference_stack: v9\n  build: {}\n",
            "trt_llm.inference_stack",
            "use one of `v1`, `v2`",
        ),
        (
            "deployment:\n  min_replicas: 2\n  max_replicas: 1\n",
            "deployment.min_replicas",
            "above max_replicas",
        ),
        (
            "weights:\n  - {source: hf://a, mount_location: /m}\n"
            "  - {source: hf://b, mount_location: /m}\n",
            "weights[1].mount_location",
            "two weights sources",
        ),
    ],
)
def test_friendly_messages(text: str, path: str, message: str) -> None:
    ok, found = check(text)
    assert not ok
    assert message in by_path(found)[path].message


def test_cross_field_rule_points_at_the_field_line() -> None:
    text = (
        "resources:\n  accelerator: H100\ntrt_llm:\n  build:\n"
        "    checkpoint_repository: {source: HF, repo: a/b}\n    tensor_parallel_count: 2\n"
    )
    _, found = check(text)
    problem = by_path(found)["trt_llm.build.tensor_parallel_count"]
    assert (problem.line, problem.value) == (6, "2")
    assert problem.hint is not None
    assert ":2" in problem.hint


def test_all_field_errors_in_one_pass() -> None:
    text = (
        "python_version: py2\nresources:\n  cpu: lots\n  memory: 1GB\n"
        "runtime:\n  predict_concurrency: x\n"
    )
    _, found = check(text)
    assert {d.path for d in found} == {
        "python_version",
        "resources.cpu",
        "resources.memory",
        "runtime.predict_concurrency",
    }
    assert [d.line for d in found] == [1, 3, 4, 6]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("requirements: [a]\nrequirements_file: r.txt\n", "requirements_file"),
        (
            "model_cache: [{repo_id: a/b, use_volume: false}]\n"
            "weights: [{source: hf://a/b, mount_location: /models/b}]\n",
            "model_cache",
        ),
    ],
)
def test_either_or_rules_are_reported_alongside_field_errors(text: str, path: str) -> None:
    # pydantic skips after-validators once a field fails; these rules must still show up
    _, found = check(text + "resources:\n  memory: 2GB\n")
    assert {d.path for d in found} == {path, "resources.memory"}
    assert "not both" in by_path(found)[path].message
    _, found = check("requirements: 5\nrequirements_file: r.txt\n")
    assert {d.path for d in found} == {"requirements"}  # a broken field is not judged twice


def test_alias_bomb_is_refused_not_expanded() -> None:
    # 10 values, each level 10 aliases of the one before: 10**9 values once expanded
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    source = parse_yaml("\n".join(lines) + "\nmodel_metadata: {k: *a8}\n")
    assert isinstance(source, Diagnostic)
    assert "expands to more than" in source.message
    small = parse_yaml("base: &b {cpu: '1'}\nresources: *b\n")
    assert isinstance(small, YamlSource)
    assert small.data["resources"] == {"cpu": "1"}


def test_duplicate_key_and_syntax_error_have_line_and_column() -> None:
    _, (duplicate,) = check("model_name: a\nresources: {}\nmodel_name: b\n")
    assert (duplicate.line, duplicate.column) == (3, 1)
    assert "duplicate key `model_name`" in duplicate.message
    _, (syntax,) = check("resources:\n  cpu: '1\n")
    assert syntax.line is not None
    assert syntax.column is not None
    assert syntax.message.startswith("YAML syntax error")


def test_yaml_11_scalars_like_truss() -> None:
    ok, _ = check("live_reload: yes\n")
    assert ok


def test_warnings_for_valid_but_suspicious_configs(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "python_version: py39\nenvironment_variables:\n  PORT: 9\nhf_cache:\n"
        "  - {repo_id: a/b, use_volume: false}\n"
    )
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.py").write_text("class Model:\n    pass\n")
    report = validate_truss(tmp_path)
    assert report.ok
    messages = " | ".join(d.message for d in report.warnings)
    assert "deprecated" in messages
    assert "`PORT`" in messages
    assert "`hf_cache`" in messages
