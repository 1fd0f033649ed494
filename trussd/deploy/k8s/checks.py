"""All checks of a set of manifests: schemas (built-in and CRD), semantics, and secret leaks."""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trussd.deploy.k8s.context import DEFAULT_KUBE_VERSION
from trussd.deploy.k8s.crds import is_custom, validate_custom
from trussd.deploy.k8s.rules import ref, semantic_findings
from trussd.errors import ManifestError

__all__ = ["CheckReport", "Problem", "check_manifests", "secret_findings"]

Obj = dict[str, Any]

# Credentials that must never reach a manifest, whatever config field carried them in.
_CREDENTIAL_PATTERNS = {
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "OpenAI-style key": re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# Knative-only fields of a revision's pod spec; the rest is a core PodSpec.
_KNATIVE_POD_FIELDS = (
    "containerConcurrency",
    "timeoutSeconds",
    "responseStartTimeoutSeconds",
    "idleTimeoutSeconds",
)


@dataclass(frozen=True)
class Problem:
    obj: str
    check: str
    message: str

    def render(self) -> str:
        return f"{self.obj}: [{self.check}] {self.message}"


@dataclass
class CheckReport:
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        if self.ok:
            return f"{self.checked} objects passed every check"
        lines = [p.render() for p in self.problems]
        return f"{len(self.problems)} problem(s) in {self.checked} objects:\n" + "\n".join(lines)


def _require(module: str) -> Any:
    """Checks need kubernetes-validate (108 MB of schemas) and jsonschema, which the serving
    image has no use for: they are the `k8s` extra, imported only when checking."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ManifestError(
            f"checking manifests needs the `{module}` package",
            hint="pip install 'trussd[k8s]'",
        ) from exc


def _builtin(obj: Obj, version: str) -> list[str]:
    kubernetes_validate = _require("kubernetes_validate")
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no Kubernetes {version} schema for {obj.get('apiVersion')} {obj.get('kind')}"]
    except kubernetes_validate.ValidationError as exc:
        return [f"{exc.json_path}: {exc.message}"]
    return []


def _as_pod(obj: Obj) -> Obj:
    """A Knative revision template as the Pod its pods will be, for the core schema."""
    template = copy.deepcopy(obj["spec"]["template"])
    spec = {k: v for k, v in template.get("spec", {}).items() if k not in _KNATIVE_POD_FIELDS}
    meta = {"name": obj["metadata"]["name"], **template.get("metadata", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def schema_findings(obj: Obj, version: str, crd_dir: Path | None = None) -> list[Problem]:
    if is_custom(obj):
        problems = [Problem(ref(obj), "crd-schema", m) for m in validate_custom(obj, crd_dir)]
        if obj["kind"] == "Service":
            pod_messages = _builtin(_as_pod(obj), version)
            problems += [Problem(ref(obj), "pod-schema", m) for m in pod_messages]
        return problems
    return [Problem(ref(obj), "kubernetes-validate", m) for m in _builtin(obj, version)]


def _walk_env(objects: Iterable[Obj]) -> Iterable[tuple[Obj, Obj]]:
    for obj in objects:
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            for entry in container.get("env", []):
                yield obj, entry


def secret_findings(
    objects: list[Obj], text: str, secret_names: Iterable[str], secret_values: Iterable[str]
) -> list[Problem]:
    """No secret value anywhere: no Secret objects, no literal env for a secret's name, none of
    the config's secret values and no credential-shaped string in the rendered text."""
    problems: list[Problem] = []
    names = set(secret_names)
    for obj in objects:
        if obj.get("kind") == "Secret" and (obj.get("data") or obj.get("stringData")):
            problems.append(Problem(ref(obj), "secrets", "a Secret with data is rendered"))
    for obj, entry in _walk_env(objects):
        stripped = re.sub(r"^(TRUSSD|TRUSS)_SECRET_", "", entry.get("name", ""))
        if stripped in names and "value" in entry:
            problems.append(
                Problem(ref(obj), "secrets", f"env {entry['name']} holds a literal value")
            )
    for value in secret_values:
        if value and len(value) >= 6 and value not in names and value in text:
            problems.append(
                Problem("(text)", "secrets", "a value of config.yaml `secrets:` appears")
            )
    for label, pattern in _CREDENTIAL_PATTERNS.items():
        if pattern.search(text):
            problems.append(Problem("(text)", "secrets", f"a {label} appears in the output"))
    return problems


def check_manifests(
    objects: list[Obj],
    *,
    text: str = "",
    kube_version: str = DEFAULT_KUBE_VERSION,
    secret_names: Iterable[str] = (),
    secret_values: Iterable[str] = (),
    crd_dir: Path | None = None,
) -> CheckReport:
    """Run every check; ``text`` is the serialised YAML, scanned for secret values; custom
    resources are checked against the bundled CRDs, or those in ``crd_dir``."""
    report = CheckReport(checked=len(objects))
    for obj in objects:
        report.problems += schema_findings(obj, kube_version, crd_dir)
    report.problems += [Problem(*finding) for finding in semantic_findings(objects)]
    report.problems += secret_findings(objects, text, secret_names, secret_values)
    return report
