"""CPU and memory quantities: only finite, non-negative amounts that a manifest can carry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from trussd.config.problems import FieldProblem
from trussd.config.quantities import check_cpu, check_memory, cpu_millicores, memory_bytes
from trussd.config.resources import Resources


@pytest.mark.parametrize(
    "value", ["nan", "NaN", "inf", "-inf", "1e400", "-2", "-0.5", "..m", "m", ".m"]
)
def test_cpu_refuses_what_float_lets_through(value: str) -> None:
    with pytest.raises(FieldProblem) as info:
        check_cpu(value)
    assert f"`{value}`" in info.value.message
    assert info.value.hint


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "-1", "0", "0Gi", "0.0Mi", "..Gi"])
def test_memory_refuses_what_float_lets_through(value: str) -> None:
    with pytest.raises(FieldProblem) as info:
        check_memory(value)
    assert f"`{value}`" in info.value.message
    assert info.value.hint


@pytest.mark.parametrize(
    ("value", "millicores"),
    [("0", 0), ("0m", 0), ("2", 2000), ("0.5", 500), ("500m", 500), (".5m", 1), ("1e3", 10**6)],
)
def test_cpu_accepted_values_convert(value: str, millicores: int) -> None:
    assert check_cpu(value) == value
    assert cpu_millicores(value) == millicores


@pytest.mark.parametrize(
    ("value", "size"), [("1", 1), ("2Gi", 2 * 1024**3), ("1.5k", 1500), ("1e3", 1000)]
)
def test_memory_accepted_values_convert(value: str, size: int) -> None:
    assert check_memory(value) == value
    assert memory_bytes(value) == size


def test_resources_with_a_bad_quantity_do_not_validate() -> None:
    for fields in ({"cpu": "nan"}, {"cpu": "..m"}, {"memory": "inf"}, {"cpu": "-2"}):
        with pytest.raises(ValidationError, match="quantity"):
            Resources.model_validate(fields)
