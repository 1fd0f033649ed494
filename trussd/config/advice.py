"""Warnings for configs that are valid but probably not what the author meant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trussd.config.diagnostics import Diagnostic, Location, Severity, locate
from trussd.config.truss_config import TrussConfig

__all__ = ["advise"]

# Set by Kubernetes/Knative in every replica: a value in config.yaml is overwritten.
_RESERVED_ENV = ("HOSTNAME", "PORT")


def advise(
    config: TrussConfig,
    data: Mapping[str, Any],
    locations: Mapping[tuple[Any, ...], Location],
    file: str,
) -> list[Diagnostic]:
    found: list[tuple[tuple[Any, ...], str, str]] = []
    for name in _RESERVED_ENV:
        if name in config.environment_variables:
            found.append(
                (
                    ("environment_variables", name),
                    f"`{name}` is set by the platform and will be overwritten at runtime",
                    "use another variable name",
                )
            )
    if config.python_version == "py39":
        found.append((("python_version",), "Python 3.9 is deprecated", "use py311 or newer"))
    if "hf_cache" in data:
        hint = (
            "remove `hf_cache`; `model_cache` is used"
            if "model_cache" in data
            else "rename `hf_cache` to `model_cache` (or move to `weights`)"
        )
        found.append((("hf_cache",), "`hf_cache` is deprecated", hint))
    if config.docker_server is not None and config.engine is not None:
        found.append(
            (
                ("engine",),
                "`engine` is ignored when `docker_server` is set",
                "keep one of the two sections",
            )
        )
    out = []
    for loc, message, hint in found:
        position = locate(locations, loc)
        out.append(
            Diagnostic(
                severity=Severity.WARNING,
                path=".".join(str(p) for p in loc),
                message=message,
                hint=hint,
                file=file,
                line=position[0] if position else None,
                column=position[1] if position else None,
            )
        )
    return out
