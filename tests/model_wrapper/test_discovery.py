from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trussd.config import load_truss
from trussd.errors import ModelContractError, ModelLoadError
from trussd.model_wrapper.discovery import import_model_class


def _truss(tmp_path: Path, name: str, model_py: str, config: str = "") -> Path:
    root = tmp_path / name
    (root / "model").mkdir(parents=True)
    (root / "config.yaml").write_text(f"model_name: {name}\n{config}")
    (root / "model" / "model.py").write_text(model_py)
    return root


def test_two_trusses_with_the_same_module_name_do_not_collide(tmp_path: Path) -> None:
    a = _truss(
        tmp_path,
        "a",
        "from model.helper import VALUE\n"
        "class Model:\n    v = VALUE\n    def predict(self, x): ...\n",
    )
    (a / "model" / "helper.py").write_text("VALUE = 'a'\n")
    b = _truss(
        tmp_path,
        "b",
        "from .helper import VALUE\nclass Model:\n    v = VALUE\n    def predict(self, x): ...\n",
    )
    (b / "model" / "__init__.py").write_text("")
    (b / "model" / "helper.py").write_text("VALUE = 'b'\n")
    assert import_model_class(load_truss(a)).v == "a"
    assert import_model_class(load_truss(b)).v == "b"
    assert import_model_class(load_truss(a)).v == "a"


def test_custom_module_dir_file_and_class_name(tmp_path: Path) -> None:
    root = tmp_path / "custom"
    (root / "src").mkdir(parents=True)
    (root / "src" / "serve.py").write_text("class Predictor:\n    def predict(self, x): return x\n")
    (root / "config.yaml").write_text(
        "model_name: custom\nmodel_module_dir: src\n"
        "model_class_filename: serve.py\nmodel_class_name: Predictor\n"
    )
    assert import_model_class(load_truss(root)).__name__ == "Predictor"


def test_bundled_packages_are_importable(tmp_path: Path) -> None:
    root = _truss(
        tmp_path,
        "pk",
        "import bundled_helper_xyz\n"
        "class Model:\n    v = bundled_helper_xyz.V\n    def predict(self, x): ...\n",
    )
    (root / "packages").mkdir()
    (root / "packages" / "bundled_helper_xyz.py").write_text("V = 7\n")
    assert import_model_class(load_truss(root)).v == 7


def test_wrong_class_name_suggests_the_one_that_exists(tmp_path: Path) -> None:
    root = _truss(
        tmp_path,
        "w",
        "class MyModel:\n    def predict(self, x): ...\n",
        "model_class_name: MyModle\n",
    )
    with pytest.raises(ModelContractError) as info:
        import_model_class(load_truss(root))
    assert info.value.hint is not None
    assert "MyModel" in info.value.hint


def test_syntax_error_is_a_contract_error_import_error_a_load_error(tmp_path: Path) -> None:
    bad = _truss(tmp_path, "s", "class Model:\n    def predict(self, x)\n        return x\n")
    with pytest.raises(ModelContractError, match="syntax error on line 2"):
        import_model_class(load_truss(bad))
    missing = _truss(tmp_path, "m", "import not_a_real_package_xyz\nclass Model: ...\n")
    with pytest.raises(ModelLoadError, match="not_a_real_package_xyz"):
        import_model_class(load_truss(missing))


def test_missing_model_file(tmp_path: Path) -> None:
    root = _truss(tmp_path, "nofile", "")
    spec = load_truss(root)
    shutil.rmtree(root / "model")
    with pytest.raises(ModelContractError, match="no model file"):
        import_model_class(spec)
