"""Read config.yaml keeping the line and column of every key, and refuse duplicate keys."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.resolver import VersionedResolver, implicit_resolvers
from ruamel.yaml.scalarbool import ScalarBoolean

from trussd.config.diagnostics import Diagnostic, Location, Severity

# Truss loads config.yaml with PyYAML's safe_load, whose YAML 1.1 is narrower than ruamel's:
# `y`/`n` stay strings, and a float needs a dot and a signed exponent (`1e3` is a string).
# These two patterns state PyYAML's rules; the other scalar rules agree already.
_BOOL_TAG = "tag:yaml.org,2002:bool"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_PYYAML_RULES: dict[str, re.Pattern[str]] = {
    _BOOL_TAG: re.compile(
        r"""^(?:yes|Yes|YES|no|No|NO
        |true|True|TRUE|false|False|FALSE
        |on|On|ON|off|Off|OFF)$""",
        re.X,
    ),
    _FLOAT_TAG: re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
        |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
        |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
}


class _PyYamlResolver(VersionedResolver):
    """ruamel's YAML 1.1 resolver with PyYAML's bool and float patterns, whatever version
    the document declares (PyYAML ignores a `%YAML 1.2` directive's scalar rules too)."""

    _table: dict[Any, list[tuple[str, Any]]] | None = None

    @property
    def versioned_resolver(self) -> Any:
        if _PyYamlResolver._table is None:
            table: dict[Any, list[tuple[str, Any]]] = {}
            for versions, tag, regexp, first in implicit_resolvers:
                if (1, 1) not in versions:
                    continue
                for ch in first if first is not None else [None]:
                    table.setdefault(ch, []).append((tag, _PYYAML_RULES.get(tag, regexp)))
            _PyYamlResolver._table = table
        return _PyYamlResolver._table


class YamlSource:
    """The parsed data of one YAML file plus a map from key paths to (line, column)."""

    def __init__(self, data: Any, locations: dict[tuple[Any, ...], Location]) -> None:
        self.data = data
        self.locations = locations


class _UnsupportedTag(Exception):
    def __init__(self, tag: str, loc: tuple[Any, ...]) -> None:
        super().__init__(tag)
        self.tag = tag
        self.loc = loc


def _position(node: Any, key: Any, parent: Location | None, item: bool = False) -> Location | None:
    try:
        found = node.lc.item(key) if item else node.lc.key(key)
    except (KeyError, IndexError, TypeError):
        found = None
    if not found or found[0] is None:
        return parent  # keys that came in through a `<<:` merge
    return (found[0] + 1, found[1] + 1)


# Aliases (`*name`) let a few lines expand into billions of values (a "billion laughs" file);
# a config.yaml never needs more than a tiny fraction of this.
MAX_VALUES = 100_000


class _TooLarge(Exception):
    pass


def _plain(
    node: Any,
    loc: tuple[Any, ...],
    locations: dict[tuple[Any, ...], Location],
    budget: list[int] | None = None,
) -> Any:
    """ruamel's round-trip nodes as plain Python data, recording where each key is."""
    if isinstance(node, CommentedMap | CommentedSeq):
        budget = budget if budget is not None else [MAX_VALUES]
        pairs = node.items() if isinstance(node, CommentedMap) else enumerate(node)
        out: dict[Any, Any] = {}
        for key, value in pairs:
            budget[0] -= 1
            if budget[0] < 0:
                raise _TooLarge
            position = _position(node, key, locations.get(loc), isinstance(node, CommentedSeq))
            if position is not None:
                locations[(*loc, key)] = position
            out[key] = _plain(value, (*loc, key), locations, budget)
        return out if isinstance(node, CommentedMap) else list(out.values())
    if isinstance(node, TaggedScalar):
        raise _UnsupportedTag(str(node.tag.value if hasattr(node.tag, "value") else node.tag), loc)
    # ruamel's scalar subclasses carry formatting we don't want downstream.
    if isinstance(node, bool | ScalarBoolean):
        return bool(node)
    for kind in (str, int, float):
        if isinstance(node, kind):
            return kind(node)
    return node


def _mark_diagnostic(exc: MarkedYAMLError, file: str, message: str, hint: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    return Diagnostic(
        severity=Severity.ERROR,
        path="",
        message=message,
        hint=hint,
        file=file,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
    )


def parse_yaml(text: str, file: str = "config.yaml") -> YamlSource | Diagnostic:
    """Parse ``text``; a syntax error or duplicate key comes back as a Diagnostic."""
    yaml = YAML(typ="rt")
    # YAML 1.1 scalars (`yes`, `on`, `0755`), exactly as Truss's PyYAML loader reads them.
    yaml.version = (1, 1)
    yaml.Resolver = _PyYamlResolver
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except DuplicateKeyError as exc:
        problem = (exc.problem or "duplicate key").split("\n")[0]
        return _mark_diagnostic(
            exc, file, problem.replace('"', "`"), "each key may appear once; merge the two entries"
        )
    except MarkedYAMLError as exc:
        problem = exc.problem or "invalid YAML"
        return _mark_diagnostic(
            exc,
            file,
            f"YAML syntax error: {problem}",
            "check indentation, colons and quotes on this line",
        )
    except YAMLError as exc:
        return Diagnostic(severity=Severity.ERROR, path="", message=f"YAML error: {exc}", file=file)
    locations: dict[tuple[Any, ...], Location] = {}
    try:
        return YamlSource(_plain(data, (), locations), locations)
    except _TooLarge:
        return Diagnostic(
            severity=Severity.ERROR,
            path="",
            file=file,
            message=f"the file expands to more than {MAX_VALUES:,} values (through YAML aliases)",
            hint="write the values out instead of nesting `*alias` references",
        )
    except _UnsupportedTag as exc:
        position = locations.get(exc.loc)
        return Diagnostic(
            severity=Severity.ERROR,
            path=".".join(str(p) for p in exc.loc),
            file=file,
            message=f"YAML tag `{exc.tag}` is not supported",
            hint="remove the tag and write a plain value",
            line=position[0] if position else None,
            column=position[1] if position else None,
        )


def read_yaml(path: Path) -> YamlSource | Diagnostic:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return Diagnostic(
            severity=Severity.ERROR,
            path="",
            file=path.name,
            message=f"cannot read the file: {exc.strerror or exc}",
        )
    except UnicodeDecodeError:
        return Diagnostic(
            severity=Severity.ERROR,
            path="",
            file=path.name,
            message="file is not UTF-8 text",
            hint="save it as UTF-8",
        )
    return parse_yaml(text, path.name)
