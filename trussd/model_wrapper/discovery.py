"""Find the user's ``Model`` class.

``<model_module_dir>/<model_class_filename>`` holds the class ``model_class_name``.

The model folder is imported as a package named after ``model_module_dir`` with the truss root
first on ``sys.path`` (and the bundled and external package folders after it), as in a Truss
image, so ``from model.helpers import x`` and ``from .helpers import x`` both work. A module of
that name left over from another truss in the same process is dropped first.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from pathlib import Path

from trussd.config.spec import TrussSpec
from trussd.errors import ModelContractError, ModelLoadError

__all__ = ["import_model_class"]


def _module_name(spec: TrussSpec) -> tuple[Path, str]:
    """The folder to put on sys.path and the dotted module name of the model file."""
    rel = Path(spec.config.model_module_dir)
    stem = Path(spec.config.model_class_filename).stem
    parts = [p for p in rel.parts if p not in {"", "."}]
    if not parts:
        return spec.root, stem
    return spec.root, ".".join([*parts, stem])


def _forget_stale(package: str, root: Path) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        module = sys.modules[name]
        locations = [
            getattr(module, "__file__", None),
            *list(getattr(module, "__path__", []) or []),
        ]
        paths = [Path(p) for p in locations if p]
        if not any(_is_under(p, root) for p in paths):
            del sys.modules[name]


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


#: Folders this module put on sys.path for the truss imported last. A process serves one
#: truss; tests import many, and a regular package anywhere on sys.path would shadow a
#: namespace package of the same name, so the previous truss's folders are taken off.
_inserted: list[str] = []


def _extend_path(spec: TrussSpec, root: Path) -> None:
    for text in _inserted:
        while text in sys.path:
            sys.path.remove(text)
    _inserted.clear()
    extra = [root, spec.packages_dir, *spec.external_package_dirs]
    for folder in reversed(extra):
        text = str(folder)
        if text in sys.path:
            sys.path.remove(text)
        if folder == root or folder.is_dir():
            sys.path.insert(0, text)
            _inserted.append(text)


def import_model_class(spec: TrussSpec) -> type:
    """Import model.py and return its Model class.

    Raises ModelContractError for mistakes in the truss itself (no file, no class, a syntax
    error) and ModelLoadError when model.py raises while it is imported (e.g. a missing
    package), which the server reports through readiness rather than by refusing to start.
    """
    if not spec.model_file.is_file():
        raise ModelContractError(
            f"no model file at {spec.model_file}",
            hint="create it with a `class Model:` that has `def predict(self, model_input):`, "
            "or set model_module_dir/model_class_filename in config.yaml",
        )
    root, module_name = _module_name(spec)
    _forget_stale(module_name.split(".")[0], root)
    _extend_path(spec, root)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise ModelContractError(
            f"{spec.model_file} has a syntax error on line {exc.lineno}: {exc.msg}",
            hint="fix the line and start the server again",
        ) from exc
    except Exception as exc:
        raise ModelLoadError(
            f"importing {spec.model_file} raised {type(exc).__name__}: {exc}"
        ) from exc
    cls = getattr(module, spec.model_class_name, None)
    if not isinstance(cls, type):
        names = [
            n
            for n, v in vars(module).items()
            if isinstance(v, type) and v.__module__ == module.__name__
        ]
        close = difflib.get_close_matches(spec.model_class_name, names, n=1)
        hint = (
            f"did you mean `{close[0]}`? rename it or set model_class_name: {close[0]}"
            if close
            else f"define `class {spec.model_class_name}:` in {spec.model_file.name}"
        )
        raise ModelContractError(
            f"{spec.model_file} has no class `{spec.model_class_name}`", hint=hint
        )
    return cls
