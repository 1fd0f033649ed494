"""The README's main job (`make demo`) runs end to end and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.engine
@pytest.mark.e2e
@pytest.mark.slow
def test_demo_answers_and_exits_cleanly() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answer: " in done.stdout
    assert "finish_reason=" in done.stdout
    assert "none left behind" in done.stdout
