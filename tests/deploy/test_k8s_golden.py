"""Golden manifests of representative trusses, and every golden passes every check.

Regenerate after an intended change with:
    TRUSSD_UPDATE_GOLDEN=1 .venv/bin/pytest tests/deploy/test_k8s_golden.py
The config hash (as f…f) and trussd version are replaced by placeholders in the golden files,
so that a new config.yaml field elsewhere does not churn them; a test checks they are wired.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.deploy.k8s_cases import CASES, GOLDEN, find, render_case
from trussd import __version__
from trussd.deploy.k8s import Manifests, check_manifests, load_yaml
from trussd.deploy.k8s.crds import shared_crd_dir

REPO = Path(__file__).resolve().parents[2]


def _normalised(manifests: Manifests) -> str:
    spec = manifests.target.spec
    text = manifests.to_yaml()
    text = text.replace(spec.config_hash, "f" * 64).replace(spec.config_hash[:12], "f" * 12)
    return text.replace(f"trussd-version: {__version__}", "trussd-version: <version>")


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_golden(case: str) -> None:
    text = _normalised(render_case(case))
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("TRUSSD_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} missing: run with TRUSSD_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendering_passes_every_check(case: str) -> None:
    report = render_case(case).check()
    assert report.ok, report.render()
    assert report.checked >= 9


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_file_itself_passes_every_check(case: str) -> None:
    """What is on disk is what a reviewer reads: check the file, not only the renderer."""
    text = (GOLDEN / f"{case}.yaml").read_text(encoding="utf-8")
    objects = load_yaml(text)
    report = check_manifests(objects, text=text)
    assert report.ok, report.render()


@pytest.mark.parametrize("case", sorted(CASES))
def test_custom_resources_pass_the_shared_crds(case: str) -> None:
    """The project's own CRD copies (``../shared/crds`` beside the checkout), not only ours."""
    shared = shared_crd_dir(REPO)
    if not shared.is_dir():
        pytest.skip(f"no shared CRDs at {shared}")
    report = render_case(case).check(crd_dir=shared)
    assert report.ok, report.render()


def test_hash_and_version_are_wired() -> None:
    manifests = render_case("vllm-h100x2-keda")
    spec = manifests.target.spec
    deployment = find(manifests.objects, "Deployment")
    assert deployment["metadata"]["annotations"]["trussd.dev/config-hash"] == spec.config_hash
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["trussd.dev/truss-hash"] == spec.config_hash[:12]
    assert deployment["metadata"]["annotations"]["trussd.dev/trussd-version"] == __version__
