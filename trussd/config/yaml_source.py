"""Read config.yaml keeping the line and column of every key, and refuse duplicate keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from trussd.config.diagnostics import Diagnostic, Location, Severity


class YamlSource:
    """The parsed data of one YAML file plus a map from key paths to (line, column)."""

    def __init__(self, data: Any, locations: dict[tuple[Any, ...], Location]) -> None:
        self.data = data
        self.locations = locations


def _plain(node: Any, loc: tuple[Any, ...], locations: dict[tuple[Any, ...], Location]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            position = node.lc.key(key)
            locations[(*loc, key)] = (position[0] + 1, position[1] + 1)
            out[key] = _plain(value, (*loc, key), locations)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            position = node.lc.item(index)
            locations[(*loc, index)] = (position[0] + 1, position[1] + 1)
            items.append(_plain(value, (*loc, index), locations))
        return items
    if isinstance(node, str):
        return str(node)  # ruamel's scalar string subclasses carry formatting we don't want
    return node


def _mark_diagnostic(exc: MarkedYAMLError, file: str, message: str, hint: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    return Diagnostic(
        severity=Severity.ERROR, path="", message=message, hint=hint, file=file,
        line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
    )


def parse_yaml(text: str, file: str = "config.yaml") -> YamlSource | Diagnostic:
    """Parse ``text``; a syntax error or duplicate key comes back as a Diagnostic."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except DuplicateKeyError as exc:
        problem = (exc.problem or "duplicate key").split("\n")[0]
        return _mark_diagnostic(exc, file, problem.replace('"', "`"),
                                "each key may appear once; merge the two entries")
    except MarkedYAMLError as exc:
        problem = exc.problem or "invalid YAML"
        return _mark_diagnostic(exc, file, f"YAML syntax error: {problem}",
                                "check indentation, colons and quotes on this line")
    except YAMLError as exc:
        return Diagnostic(severity=Severity.ERROR, path="", message=f"YAML error: {exc}", file=file)
    locations: dict[tuple[Any, ...], Location] = {}
    return YamlSource(_plain(data, (), locations), locations)


def read_yaml(path: Path) -> YamlSource | Diagnostic:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Diagnostic(severity=Severity.ERROR, path="", file=path.name,
                          message="file is not UTF-8 text", hint="save it as UTF-8")
    return parse_yaml(text, path.name)
