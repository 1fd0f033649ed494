"""Kubernetes-style quantities for ``resources.cpu`` and ``resources.memory``.

Truss accepts a plain number, or a number followed by one of the units below; we accept
exactly the same set, and explain the nearest valid spelling when a value is wrong.
"""

from __future__ import annotations

import math
import re

from trussd.config.problems import FieldProblem

__all__ = ["MEMORY_UNITS", "check_cpu", "check_memory", "cpu_millicores", "memory_bytes"]

MEMORY_UNITS: dict[str, int] = {
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "Pi": 1024**5,
    "Ei": 1024**6,
}

_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_MEMORY_RE = re.compile(rf"^({_NUMBER})([a-zA-Z]+)?$")
_CPU_RE = re.compile(rf"^({_NUMBER})(m)?$")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _amount(value: str, number: float, *, zero_ok: bool, example: str) -> None:
    """Refuse what ``float()`` lets through but no quantity can be: nan, inf, negatives."""
    if math.isfinite(number) and (number > 0 or (zero_ok and number == 0)):
        return
    least = "0 or more" if zero_ok else "more than 0"
    raise FieldProblem(
        f"`{value}` is not a usable quantity; it must be a finite number {least}",
        hint=f"write a plain amount such as `{example}`",
    )


def _memory_fix(text: str) -> str:
    """The valid spelling a user most likely meant, e.g. ``2GB`` → ``2Gi``."""
    match = re.match(rf"^\s*({_NUMBER})\s*([a-zA-Z]*)\s*$", text)
    if not match:
        return "a number with a unit, e.g. `2Gi` or `512Mi`"
    number, unit = match.group(1), match.group(2)
    lowered = unit.lower().rstrip("b")
    for candidate in ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"):
        if lowered in (candidate.lower(), candidate[0].lower()):
            return f"`{number}{candidate}`"
    return f"`{number}Gi` or `{number}Mi`"


def check_memory(value: str) -> str:
    """Return ``value`` if it is a memory quantity Truss accepts, else raise ValueError."""
    text = value.strip()
    if _is_number(text):
        _amount(value, float(text), zero_ok=False, example="2Gi")
        return value
    match = _MEMORY_RE.fullmatch(text)
    if not match or (match.group(2) or "") not in MEMORY_UNITS:
        units = ", ".join(MEMORY_UNITS)
        raise FieldProblem(
            f"`{value}` is not a memory quantity; use {_memory_fix(text)}",
            hint=f"a number with one of the units {units}",
        )
    _amount(value, float(match.group(1)), zero_ok=False, example="2Gi")
    return value


def check_cpu(value: str) -> str:
    """Return ``value`` if it is a CPU quantity (cores, or millicores like ``500m``)."""
    text = value.strip()
    # zero is kept (Truss and Kubernetes accept a zero request); negatives and nan are not
    if _is_number(text):
        _amount(value, float(text), zero_ok=True, example="500m")
        return value
    if _CPU_RE.fullmatch(text):
        return value
    raise FieldProblem(
        f"`{value}` is not a CPU quantity; use a number of cores (`2`, `0.5`) "
        "or millicores (`500m`)",
        hint="millicores need digits before the `m`, e.g. `250m`",
    )


def memory_bytes(value: str) -> int:
    """The number of bytes a valid memory quantity stands for."""
    text = value.strip()
    if _is_number(text):
        return math.ceil(float(text))
    match = _MEMORY_RE.fullmatch(text)
    if not match:
        raise ValueError(f"`{value}` is not a memory quantity")
    unit = match.group(2) or ""
    return math.ceil(float(match.group(1)) * MEMORY_UNITS.get(unit, 1))


def cpu_millicores(value: str) -> int:
    """The number of millicores a valid CPU quantity stands for."""
    text = value.strip()
    if text.endswith("m"):
        return math.ceil(float(text[:-1]))
    return math.ceil(float(text) * 1000)
