"""``trussd.backends.flags``: config values → engine command-line flags, and the probe."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trussd.backends.flags import (
    FalseStyle,
    FlagSet,
    FlagStyle,
    ProbeResult,
    flag_name,
    parse_check_output,
    probe,
    render_flags,
)
from trussd.errors import ConfigError, EngineError


@pytest.mark.parametrize(
    ("key", "style", "expected"),
    [
        ("enforce_eager", FlagStyle.DASH, "--enforce-eager"),
        ("--max-num-seqs", FlagStyle.DASH, "--max-num-seqs"),
        ("tp-size", FlagStyle.UNDERSCORE, "--tp_size"),
    ],
)
def test_flag_names_follow_the_engine_spelling(key: str, style: FlagStyle, expected: str) -> None:
    assert flag_name(key, style) == expected


def test_values_render_by_type() -> None:
    flags = FlagSet(FlagStyle.DASH, FalseStyle.NEGATE)
    for key, value in {
        "eager": True,
        "caching": False,
        "unset": None,
        "patterns": ["a", "b"],
        "overrides": {"b": 1, "a": [2]},
        "fraction": 0.5,
    }.items():
        flags.set(key, value)
    assert flags.argv() == [
        "--eager",
        "--no-caching",
        "--patterns", "a", "b",
        "--overrides", '{"a": [2], "b": 1}',
        "--fraction", "0.5",
    ]  # fmt: skip


def test_setting_again_replaces_the_earlier_value_and_its_negation() -> None:
    flags = FlagSet(FlagStyle.DASH, FalseStyle.NEGATE)
    flags.set("a", 1)
    flags.set("caching", True)
    flags.set("b", 2)
    flags.update_from_args({"caching": False, "a": 3})
    assert flags.argv() == ["--b", "2", "--no-caching", "--a", "3"]


def test_false_is_omitted_for_store_true_engines() -> None:
    assert render_flags({"x": False, "y": True}) == ["--y"]
    flags = FlagSet(FlagStyle.UNDERSCORE, FalseStyle.NEGATE)
    flags.set("enable-x", False)
    assert flags.argv() == ["--no_enable_x"]


def test_reserved_flags_are_refused_in_either_spelling() -> None:
    flags = FlagSet(FlagStyle.DASH, FalseStyle.OMIT, reserved=("served-model-name",))
    with pytest.raises(ConfigError, match="served_model_name"):
        flags.update_from_args({"served_model_name": "x"})


def test_probe_runs_code_with_argv_in_another_interpreter() -> None:
    result = probe(Path(sys.executable), "import sys, json; print(json.dumps(sys.argv[1:]))", ["a"])
    assert result == ProbeResult(0, '["a"]\n', "")


def test_probe_translates_a_missing_interpreter(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="does not exist"):
        probe(tmp_path / "nope", "pass")


def test_check_output_keeps_argparse_error_line() -> None:
    stderr = "usage: x [-h]\nx: error: unrecognized arguments: --bogus\n"
    check = parse_check_output(ProbeResult(2, "", stderr), ["--bogus"])
    assert (check.ok, check.returncode) == (False, 2)
    assert check.message == "x: error: unrecognized arguments: --bogus"
    ok = parse_check_output(ProbeResult(0, 'log line\n{"tp_size": 2}\n', ""), [])
    assert ok.ok
    assert ok.parsed == {"tp_size": 2}
