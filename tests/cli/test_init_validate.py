"""`trussd init` and `trussd validate`, in-process through click's runner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from trussd.cli.init_templates import BACKENDS
from trussd.cli.main import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def write(folder: Path, config: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(config, encoding="utf-8")
    return folder


@pytest.mark.parametrize("backend", BACKENDS)
def test_init_then_validate(tmp_path: Path, backend: str) -> None:
    target = tmp_path / "t"
    code, out = run("init", str(target), "--backend", backend, "--name", "demo")
    assert code == 0, out
    code, out = run("validate", str(target))
    assert code == 0, out
    assert "valid:" in out
    assert "warning" in out
    assert "error" not in out.replace("0 warnings", "")


def test_init_custom_model_follows_the_truss_contract(tmp_path: Path) -> None:
    run("init", str(tmp_path / "t"))
    namespace: dict[str, object] = {}
    exec((tmp_path / "t" / "model" / "model.py").read_text(), namespace)
    model_class = namespace["Model"]
    assert isinstance(model_class, type)
    model = model_class(config={}, data_dir=tmp_path, secrets={})
    model.load()
    assert model.predict({"text": "hi"}) == {"output": "HI"}


def test_init_defaults_the_name_to_the_folder(tmp_path: Path) -> None:
    run("init", str(tmp_path / "my-llm"), "--backend", "vllm")
    text = (tmp_path / "my-llm" / "config.yaml").read_text()
    assert "model_name: my-llm" in text
    assert "backend: vllm" in text
    assert "accelerator: A100" in text


def test_init_suggests_a_next_command_that_a_shell_can_run(tmp_path: Path) -> None:
    target = tmp_path / "my truss"
    code, out = run("init", str(target))
    assert code == 0, out
    assert f"next: trussd validate '{target}'" in out


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x")
    code, out = run("init", str(tmp_path))
    assert code == 1
    assert "not empty" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_init_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("x")
    code, out = run("init", str(target))
    assert code == 1
    assert "not a folder" in out


def test_validate_memory_units(tmp_path: Path) -> None:
    write(tmp_path, "model_name: m\nresources:\n  memory: 2GB\n")
    code, out = run("validate", str(tmp_path))
    assert code == 1
    line = next(line for line in out.splitlines() if "resources.memory" in line)
    assert line.startswith("config.yaml:3:3: error:")
    assert "`2Gi`" in line


def test_validate_lists_every_problem_one_line_each(tmp_path: Path) -> None:
    write(
        tmp_path,
        (
            "resource:\n  cpu: '1'\n"
            "python_version: py38\n"
            "runtime:\n  predict_concurrency: abc\n"
            "resources:\n  accelerator: H900\n"
        ),
    )
    code, out = run("validate", str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert any("resource: unknown key" in x and "did you mean `resources`?" in x for x in lines)
    assert any("python_version" in x and "py311" in x for x in lines)
    assert any("expected an integer, got a string `abc`" in x for x in lines)
    assert any("unsupported accelerator `H900`; available:" in x for x in lines)
    assert lines[-1].startswith("invalid:")
    assert "(3 errors)" in lines[-1]


def test_unknown_keys_warn_and_fail_under_strict(tmp_path: Path) -> None:
    write(tmp_path, "model_name: m\nresources:\n  cpus: '2'\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.py").write_text(
        "class Model:\n    def predict(self, x):\n        return x\n"
    )
    code, out = run("validate", str(tmp_path))
    assert code == 0
    assert (
        "config.yaml:3:3: warning: resources.cpus: unknown key `cpus` (hint: did you mean `cpu`?)"
        in out
    )
    code, out = run("validate", str(tmp_path), "--strict")
    assert code == 1
    assert "error: resources.cpus" in out


def test_use_gpu_without_accelerator_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "resources:\n  use_gpu: true\n")
    code, out = run("validate", str(tmp_path))
    assert code == 1
    assert (
        "config.yaml:2:3: error: resources.use_gpu: `use_gpu: true` needs an `accelerator`" in out
    )


def test_validate_json_report(tmp_path: Path) -> None:
    write(tmp_path, "resources:\n  memory: 2GB\nmodel_nme: x\n")
    code, out = run("validate", str(tmp_path), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert report["error_count"] == 1
    assert report["warning_count"] == 1
    memory = next(d for d in report["diagnostics"] if d["path"] == "resources.memory")
    assert (memory["line"], memory["column"], memory["value"]) == (2, 3, "2GB")
    assert "2Gi" in memory["message"]


def test_validate_json_for_a_valid_engine_truss(tmp_path: Path) -> None:
    run("init", str(tmp_path / "t"), "--backend", "transformers", "--name", "tiny")
    code, out = run("validate", str(tmp_path / "t"), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["valid"]
    assert report["kind"] == "engine"
    assert report["model_name"] == "tiny"


def test_validate_prints_the_engine_choice(tmp_path: Path) -> None:
    pytest.importorskip("trussd.backends.selection")
    write(tmp_path, "resources:\n  accelerator: A100:2\nengine:\n  model: ./weights\n")
    code, out = run("validate", str(tmp_path))
    assert code == 0, out
    engine = [line for line in out.splitlines() if line.startswith("engine: ")]
    assert len(engine) == 1
    assert re.fullmatch(r"engine: [a-z_]+ \(.+\)", engine[0])
    report = json.loads(run("validate", str(tmp_path), "--json")[1])
    assert engine[0] == f"engine: {report['engine']['backend']} ({report['engine']['reason']})"


def test_validate_says_nothing_about_engines_for_custom_trusses(tmp_path: Path) -> None:
    run("init", str(tmp_path / "t"))
    _, out = run("validate", str(tmp_path / "t"))
    assert "engine:" not in out
