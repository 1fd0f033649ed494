"""Plain scalars in config.yaml read exactly as Truss's loader (PyYAML ``safe_load``) reads them."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from trussd.config.load import validate_config_data
from trussd.config.yaml_source import YamlSource, parse_yaml

CORPUS = Path(__file__).parent / "corpus"

SCALARS = [
    # booleans: PyYAML's YAML 1.1 set, without `y`/`n`
    *("y", "Y", "n", "N", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON"),
    *("off", "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE", "tRue", "yEs"),
    # null
    *("null", "Null", "NULL", "~", "nil"),
    # integers: octal, hex, binary, underscores, sexagesimal
    *("0755", "0o17", "0x1F", "0b101", "1_000", "1:30", "+1", "-0", "007", "08", "-2"),
    # floats: PyYAML needs a dot and a signed exponent
    *("1e3", "1E5", "1.0e3", "1.0e+3", "-1.5e-3", ".5", ".5e+3", "1.", "1:30.5", "1.5"),
    *(".inf", "-.inf", ".nan", "nan", "inf"),
    # others
    *("2026-11-28", "abc", "'y'", '"n"'),
]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


def _ours(text: str) -> Any:
    source = parse_yaml(text)
    assert isinstance(source, YamlSource)
    return source.data


@pytest.mark.parametrize("scalar", SCALARS)
def test_scalar_reads_as_pyyaml_reads_it(scalar: str) -> None:
    text = f"key: {scalar}\nlist: [{scalar}]\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. ruamel's warning about `1e3` in YAML 1.1
        ours = _ours(text)
    theirs = yaml.safe_load(text)
    assert _same(ours["key"], theirs["key"]), (scalar, ours["key"], theirs["key"])
    assert _same(ours["list"][0], theirs["list"][0])


def test_version_directive_does_not_bring_back_y_as_boolean() -> None:
    assert _ours("%YAML 1.1\n---\nkey: y\n") == {"key": "y"}


@pytest.mark.parametrize(
    "name", ["valid_environment_variables_y_n.yaml", "valid_model_name_n.yaml"]
)
def test_corpus_values_equal_truss_values(name: str) -> None:
    truss_config = pytest.importorskip("truss.base.truss_config")
    path = CORPUS / name
    source = parse_yaml(path.read_text(encoding="utf-8"), name)
    assert isinstance(source, YamlSource)
    config, _ = validate_config_data(source.data, source.locations, name)
    assert config is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = truss_config.TrussConfig.from_yaml(path)
    assert config.model_name == theirs.model_name
    assert dict(config.environment_variables) == dict(theirs.environment_variables)
