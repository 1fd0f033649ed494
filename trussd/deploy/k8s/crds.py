"""Validate custom resources against the real CRD schemas, offline.

A CRD's ``openAPIV3Schema`` is read as a JSON Schema in which every object that lists its
``properties`` is closed (the API server prunes or, with strict field validation, rejects
unknown fields) unless it says ``x-kubernetes-preserve-unknown-fields``. CEL rules
(``x-kubernetes-validations``) are not evaluated here; the semantic checks cover ours.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from trussd.errors import ManifestError

__all__ = [
    "CRD_FILES",
    "crd_schema",
    "feature_flags",
    "is_custom",
    "shared_crd_dir",
    "validate_custom",
]

CRD_FILES: dict[tuple[str, str], str] = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject-crd.yaml",
    ("http.keda.sh/v1beta1", "InterceptorRoute"): "keda-interceptorroute-crd.yaml",
    ("serving.knative.dev/v1", "Service"): "knative-service-crd.yaml",
}
_FLAG_MARK = "behind a feature flag - "
# ObjectMeta of a custom resource, checked as the API server would (the CRD leaves it open).
_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def shared_crd_dir(repo_root: Path) -> Path:
    """The project's shared CRD copies: ``../shared/crds`` beside the checkout."""
    return repo_root.parent / "shared" / "crds"


def is_custom(obj: dict[str, Any]) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in CRD_FILES


def _close(node: Any) -> Any:
    """Close every object with listed properties, recursively, in a copy."""
    if isinstance(node, list):
        return [_close(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _close(value) for key, value in node.items()}
    preserve = result.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in result and "additionalProperties" not in result and not preserve:
        result["additionalProperties"] = False
    if result.get("x-kubernetes-int-or-string") is True and "type" not in result:
        result.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return result


def _find_crd(api_version: str, kind: str, directory: Path) -> dict[str, Any]:
    """The CRD of ``kind`` in a folder: our file name first, else any CRD file that defines it."""
    group = api_version.split("/")[0]
    preferred = directory / CRD_FILES[(api_version, kind)]
    candidates = [preferred] if preferred.is_file() else []
    candidates += sorted(p for p in directory.glob("*.y*ml") if p != preferred)
    for path in candidates:
        for doc in YAML(typ="safe").load_all(path.read_text("utf-8")):
            spec = doc.get("spec", {}) if isinstance(doc, dict) else {}
            if spec.get("group") == group and spec.get("names", {}).get("kind") == kind:
                crd: dict[str, Any] = doc
                return crd
    raise ManifestError(f"no CRD for {kind} ({api_version}) in {directory}")


def _raw_schema(api_version: str, kind: str, directory: Path | None = None) -> dict[str, Any]:
    if directory is None:
        filename = CRD_FILES[(api_version, kind)]
        text = resources.files("trussd.deploy.k8s").joinpath("crds", filename).read_text("utf-8")
        crd = YAML(typ="safe").load(text)
    else:
        crd = _find_crd(api_version, kind, directory)
    version = api_version.split("/")[1]
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise ManifestError(f"the {kind} CRD has no version {version}")


_bundled_raw = functools.cache(_raw_schema)


def _closed(raw: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = _close(copy.deepcopy(raw))
    schema["properties"]["metadata"] = _META_SCHEMA
    schema["required"] = sorted(
        {*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"}
    )
    return schema


@functools.cache
def _bundled_schema(api_version: str, kind: str) -> dict[str, Any]:
    return _closed(_bundled_raw(api_version, kind))


def crd_schema(api_version: str, kind: str, directory: Path | None = None) -> dict[str, Any]:
    """The closed JSON Schema of one custom resource kind: from the bundled CRDs (cached), or
    read afresh from the CRD files of ``directory``."""
    if directory is None:
        return _bundled_schema(api_version, kind)
    return _closed(_raw_schema(api_version, kind, directory))


def validate_custom(obj: dict[str, Any], directory: Path | None = None) -> list[str]:
    """Every schema violation of a custom resource, as `path: message` lines."""
    import jsonschema  # the `k8s` extra; only checks need it

    schema = crd_schema(obj["apiVersion"], obj["kind"], directory)
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(part) for part in error.absolute_path) or "(root)"
        problems.append(f"{path}: {error.message}")
    return problems


def feature_flags(obj: dict[str, Any]) -> list[str]:
    """Knative feature flags the object's fields need, read from the CRD's own descriptions."""
    flags: set[str] = set()

    def walk(value: Any, schema: dict[str, Any]) -> None:
        description = schema.get("description", "")
        if _FLAG_MARK in description:
            flags.add(description.split(_FLAG_MARK, 1)[1].split()[0].rstrip("."))
        if isinstance(value, dict):
            properties = schema.get("properties", {})
            for key, item in value.items():
                if key in properties:
                    walk(item, properties[key])
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for item in value:
                walk(item, schema["items"])

    if is_custom(obj):
        walk(obj, _bundled_raw(obj["apiVersion"], obj["kind"]))
    return sorted(flags)
