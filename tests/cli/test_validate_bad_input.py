"""Bad input: one line per problem, exit 1, never a traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from trussd.cli.main import cli


def validate(folder: Path) -> tuple[int, list[str]]:
    before = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else None
    result = CliRunner().invoke(cli, ["validate", str(folder)], catch_exceptions=False)
    after = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else None
    assert before == after, "validate wrote into the truss"
    assert "Traceback" not in result.output
    return result.exit_code, result.output.splitlines()


def test_missing_folder(tmp_path: Path) -> None:
    code, lines = validate(tmp_path / "nope")
    assert code == 1
    assert "does not exist" in lines[0]


def test_missing_config(tmp_path: Path) -> None:
    code, lines = validate(tmp_path)
    assert code == 1
    assert "no config.yaml" in lines[0]


def test_missing_config_with_yml_hint(tmp_path: Path) -> None:
    (tmp_path / "config.yml").write_text("model_name: x\n")
    code, lines = validate(tmp_path)
    assert code == 1
    assert "rename config.yml to config.yaml" in lines[0]


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    # Truss reads an empty config.yaml as {}; so does trussd. Without model.py it is still
    # not servable, and says so.
    (tmp_path / "config.yaml").write_text("")
    code, lines = validate(tmp_path)
    assert code == 1
    assert "no Model class file at model/model.py" in lines[0]
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.py").write_text("class Model:\n    pass\n")
    code, lines = validate(tmp_path)
    assert code == 0, lines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "the top level must be a mapping of keys, not a list"),
        ("hello\n", "the top level must be a mapping of keys, not a str"),
        ("model_name: [unclosed\n", "config.yaml:2:1: error: YAML syntax error"),
        ("a: 1\nb:\n  c: 2\n   d: 3\n", "config.yaml:4:5: error: YAML syntax error"),
        (
            "model_name: a\nmodel_name: b\n",
            "config.yaml:2:1: error: found duplicate key `model_name`",
        ),
        ("resources:\n  cpu: 2\n", 'quote it: `cpu: "2"`'),
        ("requirements: numpy\n", "write it as a YAML list"),
        ("runtime: 5\n", "runtime: expected a mapping, got an integer `5`"),
        ("secrets: [a]\n", "secrets: expected a mapping, got a list"),
    ],
)
def test_one_line_per_problem(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "config.yaml").write_text(text)
    code, lines = validate(tmp_path)
    assert code == 1
    assert len(lines) == 2, lines  # the problem, then the summary
    assert expected in lines[0]


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_bytes(b"model_name: \xff\xfe\n")
    code, lines = validate(tmp_path)
    assert code == 1
    assert "not UTF-8" in lines[0]
