"""One problem found in a truss: where it is (field path, YAML line), what is wrong, how to fix it."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

Location = tuple[int, int]  # 1-based line and column


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Diagnostic(BaseModel):
    """A single problem. ``path`` is dotted (``resources.memory``, ``secrets[0]``)."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    path: str
    message: str
    value: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    file: str = "config.yaml"

    def render(self) -> str:
        """``config.yaml:3:11: error: resources.memory: … (hint)`` — one line per problem."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f"{self.path}: " if self.path else ""
        text = f"{where}: {self.severity.value}: {field}{self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


def format_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def locate(locations: Mapping[tuple[Any, ...], Location], loc: tuple[Any, ...]) -> Location | None:
    """The YAML position of ``loc``, or of its nearest ancestor that appears in the file."""
    for end in range(len(loc), -1, -1):
        found = locations.get(tuple(loc[:end]))
        if found is not None:
            return found
    return None


def _short_value(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return None
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def _clean_message(error: Mapping[str, Any]) -> str:
    msg = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if error.get("type") == "missing":
        return "required field is missing"
    return msg


def _pydantic_loc(error: Mapping[str, Any]) -> tuple[Any, ...]:
    # Drop union-branch tags and RootModel's implicit `root` so paths match the YAML.
    loc = tuple(
        part for part in error.get("loc", ())
        if part != "root" and not (isinstance(part, str) and part.startswith(("function-", "tagged-union")))
    )
    if error.get("type") == "extra_forbidden":
        return loc
    return loc


def from_validation_error(
    exc: ValidationError, locations: Mapping[tuple[Any, ...], Location], file: str, prefix: tuple[Any, ...] = ()
) -> list[Diagnostic]:
    """Every error of a pydantic ValidationError as a Diagnostic with its YAML line."""
    out: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors(include_url=False):
        loc = prefix + _pydantic_loc(error)
        path, message = format_path(loc), _clean_message(error)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        position = locate(locations, loc)
        value = None if error.get("type") == "missing" else _short_value(error.get("input"))
        out.append(
            Diagnostic(
                severity=Severity.ERROR, path=path, message=message, value=value, file=file,
                line=position[0] if position else None, column=position[1] if position else None,
            )
        )
    return out


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known key, for "did you mean …?" hints."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_keys(
    model: BaseModel, locations: Mapping[tuple[Any, ...], Location], file: str, strict: bool,
    loc: tuple[Any, ...] = (),
) -> list[Diagnostic]:
    """Walk a validated model and report every key it does not know, with a suggestion."""
    out: list[Diagnostic] = []
    severity = Severity.ERROR if strict else Severity.WARNING
    known = set(type(model).model_fields)
    for key in sorted(model.model_extra or {}):
        position = locate(locations, (*loc, key))
        guess = suggest(str(key), known)
        out.append(
            Diagnostic(
                severity=severity, path=format_path((*loc, key)), file=file,
                message=f"unknown key `{key}`",
                hint=f"did you mean `{guess}`?" if guess else "remove it, or check the docs for the field name",
                line=position[0] if position else None, column=position[1] if position else None,
            )
        )
    for name in type(model).model_fields:
        out.extend(_walk(getattr(model, name), locations, file, strict, (*loc, name)))
    return out


def _walk(value: Any, locations: Mapping[tuple[Any, ...], Location], file: str, strict: bool,
          loc: tuple[Any, ...]) -> list[Diagnostic]:
    if isinstance(value, BaseModel):
        root = getattr(value, "root", None) if "root" in type(value).model_fields else None
        if root is not None:
            return _walk(root, locations, file, strict, loc)
        return unknown_keys(value, locations, file, strict, loc)
    if isinstance(value, list):
        out: list[Diagnostic] = []
        for index, item in enumerate(value):
            out.extend(_walk(item, locations, file, strict, (*loc, index)))
        return out
    return []
