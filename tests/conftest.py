"""Fixtures shared by every test area (keep area-specific ones in tests/<area>/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# No model hub is reachable here; nothing in the tests may try.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_llm_dir() -> Path:
    """The tiny random-weight Llama (scripts/tiny_llm.py), built once into .cache/tiny-llm
    and reused while complete (about 10 s the first time)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tiny_llm", REPO / "scripts" / "tiny_llm.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path: Path = module.build_tiny_llm(REPO / ".cache" / "tiny-llm")
    return path
