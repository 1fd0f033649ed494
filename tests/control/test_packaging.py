"""What `trussd push` uploads: ignore files, oversize refusal, links, reproducible archives."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from trussd.control.packaging import IgnoreRules, collect_files, pack
from trussd.errors import UploadRejected


def make_truss(root: Path) -> Path:
    (root / "model").mkdir(parents=True)
    (root / "config.yaml").write_text("model_name: t\n")
    (root / "model" / "model.py").write_text("class Model: ...\n")
    (root / "model" / "__pycache__").mkdir()
    (root / "model" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"x")
    (root / "data").mkdir()
    (root / "data" / "big.bin").write_bytes(b"0" * 10)
    (root / "data" / "keep.bin").write_bytes(b"1")
    (root / "notes.log").write_text("log")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    return root


def rels(root: Path) -> list[str]:
    return [f.rel for f in collect_files(root)]


def test_ignore_files_are_honoured(tmp_path: Path) -> None:
    root = make_truss(tmp_path / "t")
    (root / ".gitignore").write_text("*.log\n")
    (root / ".trussignore").write_text("data/*.bin\n!data/keep.bin\n")
    assert rels(root) == [
        ".gitignore",
        ".trussignore",
        "config.yaml",
        "data/keep.bin",
        "model/model.py",
    ]


@pytest.mark.parametrize(
    ("rule", "path", "is_dir", "ignored"),
    [
        ("*.log", "a/b/c.log", False, True),
        ("/build", "build", True, True),
        ("/build", "src/build", True, False),
        ("cache/", "cache", False, False),
        ("cache/", "x/cache", True, True),
        ("docs/**/*.md", "docs/a/b.md", False, True),
        ("**/tmp", "tmp", True, True),
    ],
)
def test_ignore_rule_semantics(rule: str, path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules([rule]).ignored(path, is_dir) is ignored


def test_oversize_files_are_refused_with_a_hint(tmp_path: Path) -> None:
    root = make_truss(tmp_path / "t")
    with pytest.raises(UploadRejected) as info:
        collect_files(root, max_file_bytes=5)
    assert "data/big.bin" in str(info.value)
    assert info.value.hint
    assert ".trussignore" in info.value.hint


def test_links_out_of_the_truss_are_refused(tmp_path: Path) -> None:
    root = make_truss(tmp_path / "t")
    (tmp_path / "secret.txt").write_text("s")
    os.symlink(tmp_path / "secret.txt", root / "data" / "leak.txt")
    with pytest.raises(UploadRejected, match="outside the truss"):
        collect_files(root)


def test_archives_are_reproducible_and_links_inside_are_dereferenced(tmp_path: Path) -> None:
    root = make_truss(tmp_path / "t")
    os.symlink("keep.bin", root / "data" / "alias.bin")
    files = collect_files(root)
    first = pack(root, files, tmp_path / "a.tar.gz")
    os.utime(root / "config.yaml", (1, 1))
    second = pack(root, files, tmp_path / "b.tar.gz")
    assert first.sha256 == second.sha256
    with tarfile.open(first.path) as tar:
        alias = tar.getmember("data/alias.bin")
        assert alias.isfile()
        assert alias.mtime == 0
        assert alias.uid == 0
