"""Find every key of config.yaml that no model knows, whatever else is wrong with the file.

The walk follows the raw YAML data through the model classes' field types (not a validated
model), so that a misspelt key is reported even when another field fails validation.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from pydantic import BaseModel, RootModel

from trussd.config.diagnostics import Diagnostic, Location, Severity, format_path, locate
from trussd.config.truss_config import TrussConfig

__all__ = ["find_unknown_keys", "suggest"]


def suggest(name: str, candidates: typing.Iterable[str]) -> str | None:
    """The closest known key, for "did you mean …?" hints."""
    options = list(candidates)
    lowered = {c.lower(): c for c in options}
    if name.lower() in lowered:
        return lowered[name.lower()]
    matches = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    # A shortened name (`mount` for `mount_location`) is too far for difflib.
    prefixed = [c for c in options if len(name) >= 3 and c.lower().startswith(name.lower())]
    return prefixed[0] if len(prefixed) == 1 else None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _literal_values(annotation: Any) -> set[Any] | None:
    annotation = _strip(annotation)
    if typing.get_origin(annotation) is not Literal:
        return None
    values: set[Any] = set()
    for arg in typing.get_args(annotation):
        values.add(arg)
        values.add(getattr(arg, "value", arg))
    return values


def _pick(members: list[type[BaseModel]], data: Mapping[Any, Any]) -> type[BaseModel] | None:
    """The union member whose literal tag fields (``kind``, ``inference_stack``) fit ``data``."""
    for member in members:
        fits = True
        for name, field in member.model_fields.items():
            allowed = _literal_values(field.annotation)
            if allowed is None:
                continue
            value = data.get(name, field.default)
            if value not in allowed:
                fits = False
        if fits:
            return member
    return None


class _Walker:
    def __init__(self, locations: Mapping[tuple[Any, ...], Location], file: str, strict: bool):
        self.locations = locations
        self.file = file
        self.severity = Severity.ERROR if strict else Severity.WARNING
        self.found: list[Diagnostic] = []

    def walk(self, data: Any, annotation: Any, loc: tuple[Any, ...]) -> None:
        annotation = _strip(annotation)
        origin = typing.get_origin(annotation)
        if origin in (Union, types.UnionType):
            self._union(data, [_strip(a) for a in typing.get_args(annotation)], loc)
        elif origin is list and isinstance(data, list):
            (item_type,) = typing.get_args(annotation) or (Any,)
            for index, item in enumerate(data):
                self.walk(item, item_type, (*loc, index))
        elif origin is dict and isinstance(data, dict):
            args = typing.get_args(annotation)
            for key, item in data.items():
                self.walk(item, args[1] if len(args) == 2 else Any, (*loc, key))
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            self.model(data, annotation, loc)

    def _union(self, data: Any, members: list[Any], loc: tuple[Any, ...]) -> None:
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if isinstance(data, dict) and models:
            chosen = _pick(models, data)
            if chosen is not None:
                self.model(data, chosen, loc)
            return
        for member in members:
            if typing.get_origin(member) in (list, dict):
                self.walk(data, member, loc)
                return

    def model(self, data: Any, model: type[BaseModel], loc: tuple[Any, ...]) -> None:
        if issubclass(model, RootModel):
            self.walk(data, model.model_fields["root"].annotation, loc)
            return
        if not isinstance(data, dict):
            return
        fields = model.model_fields
        legacy: frozenset[str] = getattr(model, "legacy_keys", frozenset())
        for key, value in data.items():
            if key in fields:
                self.walk(value, fields[key].annotation, (*loc, key))
            elif key not in legacy:
                self._report(key, loc, fields)

    def _report(self, key: Any, loc: tuple[Any, ...], fields: Mapping[str, Any]) -> None:
        position = locate(self.locations, (*loc, key))
        guess = suggest(str(key), fields)
        hint = f"did you mean `{guess}`?" if guess else _moved_hint(str(key), loc)
        self.found.append(
            Diagnostic(
                severity=self.severity,
                path=format_path((*loc, key)),
                file=self.file,
                message=f"unknown key `{key}`",
                hint=hint,
                line=position[0] if position else None,
                column=position[1] if position else None,
            )
        )


def _moved_hint(key: str, loc: tuple[Any, ...]) -> str:
    if not loc:
        for section in ("resources", "runtime", "build", "engine", "deployment"):
            annotation = _strip(TrussConfig.model_fields[section].annotation)
            for candidate in typing.get_args(annotation) or (annotation,):
                fields = getattr(candidate, "model_fields", {})
                if key in fields:
                    return f"did you mean `{section}.{key}`? it belongs under `{section}:`"
    return "remove it, or check the field name in docs/config.md"


def find_unknown_keys(
    data: Any,
    model: type[BaseModel],
    locations: Mapping[tuple[Any, ...], Location],
    file: str = "config.yaml",
    strict: bool = False,
) -> list[Diagnostic]:
    """Every key in ``data`` that ``model`` (and the models below it) does not know."""
    walker = _Walker(locations, file, strict)
    walker.model(data, model, ())
    return walker.found
