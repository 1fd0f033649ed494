"""pydantic's generic error messages, rewritten for someone editing a YAML file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["friendly"]

_KINDS = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "null",
}


def describe(value: Any) -> str:
    """``an integer `2` ``, ``a list``, ``null``: what the user wrote, in words."""
    kind = _KINDS.get(type(value), type(value).__name__)
    if value is None or isinstance(value, dict | list):
        return kind
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} `{text}`"


def _expected_values(ctx: Mapping[str, Any]) -> str:
    raw = str(ctx.get("expected", ""))
    return raw.replace("'", "`").replace(" or ", ", ")


def _field_name(loc: tuple[Any, ...]) -> str:
    for part in reversed(loc):
        if isinstance(part, str):
            return part
    return "value"


def _type_error(
    kind: str, expected: str, value: Any, loc: tuple[Any, ...]
) -> tuple[str, str | None]:
    message = f"expected {expected}, got {describe(value)}"
    name = _field_name(loc)
    if name == "python_version" and isinstance(value, int | float):
        return message, f"write `python_version: py{str(value).replace('.', '')}`"
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        return message, f'quote it: `{name}: "{value}"`'
    if kind == "list_type" and isinstance(value, str):
        return message, f"write it as a YAML list: `{name}: [{value}]`"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return message, f"write `{name}:` followed by indented `key: value` lines"
    return message, None


_TYPE_ERRORS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _bound(kind: str, ctx: Mapping[str, Any], value: Any) -> str:
    words = {
        "greater_than": ("more than", "gt"),
        "greater_than_equal": ("at least", "ge"),
        "less_than": ("less than", "lt"),
        "less_than_equal": ("at most", "le"),
    }[kind]
    return f"must be {words[0]} {ctx.get(words[1])}, got `{value}`"


def friendly(error: Mapping[str, Any], loc: tuple[Any, ...]) -> tuple[str, str | None]:
    """(message, hint) for one pydantic error dict."""
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    name = _field_name(loc)
    if kind == "missing":
        return "required field is missing", f"add `{name}: ...`"
    if kind in _TYPE_ERRORS:
        return _type_error(kind, _TYPE_ERRORS[kind], value, loc)
    if kind in ("enum", "literal_error"):
        return f"`{value}` is not allowed; use one of {_expected_values(ctx)}", None
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return _bound(kind, ctx, value), None
    if kind == "invalid_key":
        return f"keys must be text, got {describe(value)}", "quote the key"
    if kind == "string_too_short":
        return "must not be empty", None
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)", None
    if kind == "string_pattern_mismatch":
        return f"`{value}` does not match the pattern `{ctx.get('pattern')}`", None
    if kind == "union_tag_invalid":
        tags = str(ctx.get("expected_tags", "")).replace("'", "`")
        return f"`{ctx.get('tag')}` is not allowed; use one of {tags}", None
    if kind == "union_tag_not_found":
        if not isinstance(value, dict):
            return f"expected a mapping, got {describe(value)}", None
        key = str(ctx.get("discriminator", "kind")).strip("'")
        return f"`{key}` is missing", f"add `{key}: ...`"
    return _clean(str(error.get("msg", "invalid value"))), None


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
