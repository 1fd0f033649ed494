"""Same names and defaults as Truss: walk truss's TrussConfig and ours side by side."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from trussd.config import TrussConfig

truss_config = pytest.importorskip("truss.base.truss_config")

# trussd's own sections; Truss has no such fields.
OURS_ONLY = {("engine",), ("deployment",), ("resources", "use_gpu")}


def _models(annotation: Any) -> list[type[BaseModel]]:
    """Every model class inside an annotation (Optional, list, dict, unions, root models)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        root = annotation.model_fields.get("root")
        return _models(root.annotation) if root is not None else [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models(arg)
    return found


def _default(field: Any) -> Any:
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "<required>"
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return getattr(value, "value", value)


def _fields(model: type[BaseModel], path: tuple[str, ...], out: dict[tuple[str, ...], Any]) -> None:
    for name, field in model.model_fields.items():
        out[(*path, name)] = _default(field)
        nested = _models(field.annotation)
        # Discriminated unions (transport, trt_llm stacks): compare the members in order.
        for index, member in enumerate(nested):
            key = (*path, name) if len(nested) == 1 else (*path, name, f"<{index}>")
            if len(key) < 8:
                _fields(member, key, out)


def _tree(model: type[BaseModel]) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    _fields(model, (), out)
    return out


def test_every_truss_field_exists_with_the_same_default() -> None:
    theirs = _tree(truss_config.TrussConfig)
    ours = _tree(TrussConfig)
    missing = sorted(set(theirs) - set(ours))
    assert not missing, f"fields Truss has and trussd lacks: {missing}"
    different = {path: (ours[path], theirs[path]) for path in theirs if ours[path] != theirs[path]}
    assert not different, f"defaults differ (trussd, truss): {different}"


def test_trussd_adds_only_its_own_sections() -> None:
    theirs = _tree(truss_config.TrussConfig)
    parents = {path[:-1] for path in theirs}
    # Only where Truss's own tree was walked (its speculator is a forward reference).
    extra = {path for path in _tree(TrussConfig) if path not in theirs and path[:-1] in parents}
    assert {path[:2] if path[0] == "resources" else path[:1] for path in extra} <= OURS_ONLY
