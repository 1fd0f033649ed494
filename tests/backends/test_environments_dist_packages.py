"""An engine in a Debian-style system Python (the engines' official images) is found."""

from __future__ import annotations

from pathlib import Path

import pytest

from trussd.backends import environments


def test_dist_packages_of_a_system_style_prefix_are_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = tmp_path / "usr"
    python = prefix / "bin" / "python3"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    site = prefix / "lib" / "python3.12" / "dist-packages"
    (site / "vllm").mkdir(parents=True)
    (site / "vllm-0.32.0.dist-info").mkdir()
    monkeypatch.setenv("TRUSSD_VLLM_PYTHON", str(python))

    env = environments.find_engine_environment("vllm", "vllm", ("vllm",))

    assert env is not None
    assert env.external
    assert env.distributions == {"vllm": "0.32.0"}
