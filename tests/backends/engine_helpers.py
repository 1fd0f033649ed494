"""Helpers of the GPU-engine adapter tests: trusses from YAML, fake engine envs, golden files.

Golden files hold the exact command an adapter renders, with the machine-specific paths
replaced by ``{python}``, ``{truss}`` and ``{options}``. Regenerate them after an intended
change with ``TRUSSD_UPDATE_GOLDEN=1 pytest tests/backends`` and review the diff.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from trussd.backends.base import LaunchPlan
from trussd.config import load_truss
from trussd.config.spec import TrussSpec

GOLDEN = Path(__file__).with_name("golden")


def make_truss(root: Path, config_yaml: str, weights: bool = True) -> TrussSpec:
    """A truss folder with ``config_yaml`` (and an empty ``weights/`` folder), loaded."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(textwrap.dedent(config_yaml), encoding="utf-8")
    if weights:
        (root / "weights").mkdir(exist_ok=True)
    return load_truss(root)


def fake_engine_env(root: Path, modules: Iterable[str], dists: Mapping[str, str]) -> Path:
    """A venv-shaped folder whose interpreter is never run: enough to plan, not to serve.

    ``modules`` become package folders in site-packages and ``dists`` (name → version)
    ``*.dist-info`` folders, which is what trussd reads to tell which engine build it is.
    """
    site = root / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True, exist_ok=True)
    for module in modules:
        (site / module).mkdir(exist_ok=True)
        (site / module / "__init__.py").write_text("", encoding="utf-8")
    for name, version in dists.items():
        (site / f"{name.replace('-', '_')}-{version}.dist-info").mkdir(exist_ok=True)
    python = root / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text("#!/bin/sh\nexit 99\n", encoding="utf-8")
    python.chmod(0o755)
    return python


def render(
    plan: LaunchPlan, subs: Mapping[str, str], options: Mapping[str, object] | None = None
) -> str:
    """A stable, reviewable text form of a plan (one argv item per line)."""

    def clean(text: str) -> str:
        for real, placeholder in sorted(subs.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(real, placeholder)
        return text

    lines = ["argv:", *(f"  {clean(arg)}" for arg in plan.argv), "env:"]
    lines += [f"  {k}={clean(v)}" for k, v in sorted(plan.env.items())]
    lines += [
        f"health_path: {plan.health_path}",
        f"metrics_path: {plan.metrics_path}",
        f"served_model_name: {clean(plan.served_model_name)}",
    ]
    if options is not None:
        lines += [
            "options:",
            *(f"  {line}" for line in json.dumps(options, indent=2, sort_keys=True).splitlines()),
        ]
    return "\n".join(lines) + "\n"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TRUSSD_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden file {path}; run with TRUSSD_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"rendered command differs from {path}"


ROOT = Path(__file__).resolve().parents[2]


def require_engine_python(engine: str) -> Path:
    """``.venvs/<engine>/bin/python`` from ``make setup-<engine>``.

    Absent, the tier is skipped with the reason on a developer machine, but fails in CI
    (``CI=true``), where the set-up always runs: a tier that silently skips tests nothing.
    """
    python = ROOT / ".venvs" / engine / "bin" / "python"
    if not python.exists():
        reason = f".venvs/{engine} is absent: run `make setup-{engine}`"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return python
