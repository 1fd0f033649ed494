"""CLI pieces that need no control plane: time parsing, refusals before any upload."""

from __future__ import annotations

import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from trussd.cli.control_cmd import parse_time, push, usage


def test_parse_time_forms() -> None:
    assert parse_time(None) is None
    assert parse_time("1800000000") == 1800000000.0
    assert parse_time("2027-01-15T08:00:00Z") == 1800000000.0
    assert parse_time("2027-01-15T08:00:00") == 1800000000.0  # UTC unless stated
    assert parse_time("2027-01-15T09:00:00+01:00") == 1800000000.0
    assert abs(parse_time("2h") - (time.time() - 7200)) < 5  # type: ignore[operator]
    with pytest.raises(click.BadParameter):
        parse_time("yesterday")


def test_push_refuses_an_invalid_truss_before_uploading(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("model_name: x\nresources:\n  accelerator: H101\n")
    result = CliRunner().invoke(push, [str(tmp_path)], env={"TRUSSD_API_KEY": "k"})
    assert result.exit_code == 1
    assert "not a valid truss" in result.output


def test_a_missing_key_is_a_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRUSSD_API_KEY", raising=False)
    result = CliRunner().invoke(usage, [])
    assert result.exit_code == 1
    assert "no API key" in result.output
    assert "TRUSSD_API_KEY" in result.output


def test_an_unreachable_control_plane_is_a_clean_error() -> None:
    result = CliRunner().invoke(usage, ["--remote", "http://127.0.0.1:9", "--api-key", "k"])
    assert result.exit_code == 1
    assert "cannot reach the control plane" in result.output
