"""The base of every config.yaml model: unknown keys are kept (and reported), values frozen."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

# JSON Schema of a YAML scalar that the model turns into a string.
ANY_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}


def any_case(values: Iterable[str]) -> Callable[[dict[str, Any]], None]:
    """A field's JSON Schema: a string matching one of ``values`` in any letter case
    (Truss upper-cases these before checking them)."""
    words = list(values)

    def letters(word: str) -> str:
        return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)

    def apply(schema: dict[str, Any]) -> None:
        schema.pop("$ref", None)
        schema.update(type="string", pattern="^(" + "|".join(letters(w) for w in words) + ")$")

    return apply


def nullable(schema: dict[str, Any]) -> None:
    """A field's JSON Schema that also accepts ``null`` (Truss reads it as the default)."""
    ref = schema.pop("$ref")
    schema["anyOf"] = [{"$ref": ref}, {"type": "null"}]


class ConfigModel(BaseModel):
    """A section of config.yaml.

    Unknown keys are accepted at parse time and reported afterwards as warnings with a
    suggestion (errors under ``--strict``): Truss itself accepts unknown keys so that older
    servers can read newer configs, and an existing truss must keep validating.
    """

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        protected_namespaces=(),
        use_enum_values=False,
        validate_default=True,
    )

    # Keys Truss still reads for old configs (rewritten before validation); not "unknown".
    legacy_keys: ClassVar[frozenset[str]] = frozenset()
