"""One problem found in a truss: where it is (field path, YAML line), what is wrong, the fix."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trussd.config.messages import friendly
from trussd.config.problems import FieldProblem

__all__ = [
    "Diagnostic",
    "Location",
    "Severity",
    "format_path",
    "from_validation_error",
    "locate",
]

Location = tuple[int, int]  # 1-based line and column


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Diagnostic(BaseModel):
    """A single problem. ``path`` is dotted (``resources.memory``, ``weights[0].source``)."""

    model_config = ConfigDict(frozen=True)

    severity: Severity = Field(description="`error` makes the truss invalid; `warning` does not.")
    path: str = Field(description="Dotted field path; empty for whole-file problems.")
    message: str = Field(description="What is wrong.")
    value: str | None = Field(default=None, description="The offending value, as written.")
    line: int | None = Field(default=None, description="1-based line in the file.")
    column: int | None = Field(default=None, description="1-based column in the file.")
    hint: str | None = Field(default=None, description="How to fix it.")
    file: str = Field(default="config.yaml", description="The file the problem is in.")

    def render(self) -> str:
        """``config.yaml:3:11: error: resources.memory: … (hint: …)`` — one line per problem."""
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


_UNION_TAGS = frozenset({"v1", "v2", "http", "websocket", "grpc"})


def align(data: Any, loc: Iterable[Any]) -> tuple[Any, ...]:
    """A pydantic ``loc`` as a path in the data: drop what is not written in the file,
    such as union tags (``v1``, ``websocket``), ``root`` of list models and ``[key]``."""
    out: list[Any] = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        elif (
            part in ("root", "[key]")
            or (isinstance(part, str) and part.startswith("function-"))
            or (node is not None and part in _UNION_TAGS)
        ):
            continue
        else:
            out.append(part)
            node = None
    return tuple(out)


def _short_value(value: Any) -> str | None:
    if isinstance(value, dict | list):
        return None
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def from_validation_error(
    exc: ValidationError,
    locations: Mapping[tuple[Any, ...], Location],
    file: str,
    data: Any = None,
    prefix: tuple[Any, ...] = (),
) -> list[Diagnostic]:
    """Every error of a pydantic ValidationError as a Diagnostic with its YAML line."""
    out: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for error in exc.errors(include_url=False):
        loc = prefix + align(data, error.get("loc", ()))
        problem = (error.get("ctx") or {}).get("error")
        if isinstance(problem, FieldProblem):
            loc = loc + tuple(problem.field)
        loc = loc + _tag_key(error)
        path = format_path(loc)
        message, hint = friendly(error, loc)
        if isinstance(problem, FieldProblem):
            message, hint = problem.message, problem.hint or hint
        if (path, message) in seen:
            continue
        seen.add((path, message))
        position = locate(locations, loc)
        value = None if error.get("type") == "missing" else _short_value(error.get("input"))
        if isinstance(problem, FieldProblem) or _tag_key(error):
            value = _short_value(_lookup(data, loc))
        out.append(
            Diagnostic(
                severity=Severity.ERROR,
                path=path,
                message=message,
                value=value,
                hint=hint,
                file=file,
                line=position[0] if position else None,
                column=position[1] if position else None,
            )
        )
    return out


def _tag_key(error: Mapping[str, Any]) -> tuple[str, ...]:
    """For a bad union tag, the key that holds it (``kind``, ``inference_stack``)."""
    if error.get("type") != "union_tag_invalid" or not isinstance(error.get("input"), dict):
        return ()
    key = str((error.get("ctx") or {}).get("discriminator", "")).strip("'")
    for candidate in (key, "inference_stack", "kind"):
        if candidate in error["input"]:
            return (candidate,)
    return ()


def _lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        else:
            return None
    return node
