"""Golden Dockerfiles of every kind of truss.

Regenerate after an intended change with:
    TRUSSD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/deploy/test_image_golden.py
The config hash and trussd version are replaced by placeholders, so that a new config.yaml
field elsewhere does not churn them; a test checks they are wired.
"""

from __future__ import annotations

import os

import pytest

from tests.deploy.image_helpers import CASES, GOLDEN, render
from trussd import __version__
from trussd.deploy.image import BuildContext


def _normalised(context: BuildContext) -> str:
    text = context.dockerfile.replace(context.spec.config_hash, "<config-hash>")
    return text.replace(f"trussd {__version__}", "trussd <version>").replace(
        f'version="{__version__}"', 'version="<version>"'
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_golden(case: str) -> None:
    fixture, options = CASES[case]
    text = _normalised(render(fixture, options))
    path = GOLDEN / f"{case}.Dockerfile"
    if os.environ.get("TRUSSD_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with TRUSSD_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_placeholders_stand_for_the_real_values() -> None:
    context = render("image-custom")
    assert f'dev.trussd.config-hash="{context.spec.config_hash}"' in context.dockerfile
    assert f'dev.trussd.version="{__version__}"' in context.dockerfile


def test_every_kind_has_a_golden() -> None:
    kinds = {render(fixture, options).spec.kind.value for fixture, options in CASES.values()}
    engines = {render(f, o).labels.get("dev.trussd.engine") for f, o in CASES.values()}
    assert kinds == {"custom", "engine", "docker_server"}
    assert {"vllm", "sglang", "trtllm", "transformers"} <= engines
