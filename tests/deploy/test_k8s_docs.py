"""docs/deploy-kubernetes.md stays true: its config example renders and passes every check,
and it documents every option of the command and every accelerator of the GPU map."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from trussd.cli.main import cli
from trussd.config import load_truss
from trussd.deploy.k8s import GPU_PRODUCTS, ManifestOptions, ScaleToZero, render_manifests

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy-kubernetes.md"


def _config_example() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return next(b for b in blocks if b.startswith("# config.yaml"))


@pytest.mark.parametrize("mode", list(ScaleToZero))
def test_config_example_renders_and_passes(tmp_path: Path, mode: ScaleToZero) -> None:
    (tmp_path / "config.yaml").write_text("model_name: my-llm\n" + _config_example())
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.py").write_text("class Model:\n    pass\n")
    rendered = render_manifests(load_truss(tmp_path), ManifestOptions(scale_to_zero=mode))
    report = rendered.check()
    assert report.ok, report.render()


def test_every_option_is_documented() -> None:
    command = cli.get_command(click.Context(cli), "manifests")
    assert command is not None
    options = {o for p in command.params for o in p.opts if o.startswith("--")}
    doc = DOC.read_text(encoding="utf-8")
    assert options
    assert {o for o in options if f"`{o}" not in doc} == set()


def test_every_accelerator_is_in_the_table() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for accelerator, products in GPU_PRODUCTS.items():
        row = next(
            line for line in doc.splitlines() if line.startswith(f"| `{accelerator.value}` |")
        )
        assert all(f"`{product}`" in row for product in products), accelerator
