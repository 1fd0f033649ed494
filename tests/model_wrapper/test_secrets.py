from __future__ import annotations

from pathlib import Path

import pytest

from trussd.errors import SecretNotFound
from trussd.model_wrapper.secrets import Secrets


def test_lookup_order_env_then_truss_env_then_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("file-a\n")
    (tmp_path / "b").write_text("file-b")
    env = {"TRUSSD_SECRET_a": "env-a", "TRUSS_SECRET_c": "truss-c", "TRUSSD_SECRET_hf_token": "h"}
    s = Secrets(["a", "b", "c", "hf-token"], tmp_path, env)
    assert s["a"] == "env-a"
    assert s["b"] == "file-b"
    assert s["c"] == "truss-c"
    assert s["hf-token"] == "h"  # dashes become underscores in env names
    assert list(s) == ["a", "b", "c", "hf-token"]
    assert len(s) == 4


def test_missing_secret_names_itself_and_where_it_looked(tmp_path: Path) -> None:
    s = Secrets(["token"], tmp_path, {})
    with pytest.raises(SecretNotFound) as info:
        s["token"]
    assert "`token`" in info.value.message
    assert "$TRUSSD_SECRET_token" in info.value.message
    assert str(tmp_path / "token") in info.value.message
    assert s.get("token") is None
    assert s.get("token", "d") == "d"
    assert "token" not in s


def test_missing_secret_with_a_dash_lists_every_variable_searched() -> None:
    with pytest.raises(SecretNotFound) as info:
        Secrets(["hf-token"], None, {})["hf-token"]
    for name in ("TRUSSD_SECRET_hf-token", "TRUSSD_SECRET_hf_token", "TRUSS_SECRET_hf_token"):
        assert f"${name}" in info.value.message


def test_undeclared_secret_hint_says_declare_it() -> None:
    with pytest.raises(SecretNotFound) as info:
        Secrets([], None, {})["other"]
    assert info.value.hint is not None
    assert "secrets:" in info.value.hint


def test_read_only_and_repr_hides_values() -> None:
    s = Secrets(["a"], None, {"TRUSSD_SECRET_a": "v"})
    with pytest.raises(TypeError):
        s["a"] = "x"  # type: ignore[index]
    assert "v" not in repr(s).replace("Secrets", "")


def test_path_traversal_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("no")
    s = Secrets([], tmp_path / "sub", {})
    assert s.get("../x") is None
