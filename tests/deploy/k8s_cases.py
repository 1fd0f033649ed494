"""Shared cases of the Kubernetes manifest tests: fixture trusses and how each is rendered."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from trussd.config import TrussSpec, load_truss
from trussd.deploy.k8s import ManifestOptions, Manifests, ScaleToZero, render_manifests

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden" / "k8s"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def image_for(name: str) -> str:
    return f"registry.example.com/models/{name}@{DIGEST}"


# golden name → (fixture folder, options)
CASES: dict[str, tuple[str, ManifestOptions]] = {
    "custom-cpu-keda": (
        "k8s-custom-cpu",
        ManifestOptions(image=image_for("text-classifier"), hosts=("classifier.acme.example.com",)),
    ),
    "vllm-h100x2-keda": ("k8s-vllm-h100", ManifestOptions(image=image_for("llama-70b"))),
    "vllm-h100x2-knative": (
        "k8s-vllm-h100",
        ManifestOptions(image=image_for("llama-70b"), scale_to_zero=ScaleToZero.KNATIVE),
    ),
    "trtllm-h100-keda": ("k8s-trtllm", ManifestOptions(image=image_for("qwen-7b-trt"))),
    "docker-server-l4-none": (
        "k8s-docker-server",
        ManifestOptions(image=image_for("whisper"), scale_to_zero=ScaleToZero.NONE),
    ),
}


def spec_of(fixture: str) -> TrussSpec:
    return load_truss(FIXTURES / fixture)


def render_case(name: str) -> Manifests:
    fixture, options = CASES[name]
    return render_manifests(spec_of(fixture), options)


def find(objects: list[dict[str, Any]], kind: str, api: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and (api is None or o["apiVersion"] == api)]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def all_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Service") and "template" in obj.get("spec", {}):
            spec: dict[str, Any] = obj["spec"]["template"]["spec"]
            return spec
    raise AssertionError("no pod template rendered")


def cloned(manifests: Manifests) -> list[dict[str, Any]]:
    return copy.deepcopy(manifests.objects)
