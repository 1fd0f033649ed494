"""Assemble every object of one deployment, serialise them, write them, check them."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from trussd.config import TrussSpec
from trussd.deploy.k8s import network, scaling, tenancy, workload
from trussd.deploy.k8s.checks import CheckReport, check_manifests
from trussd.deploy.k8s.context import ManifestOptions, ScaleToZero, Target, resolve_target
from trussd.deploy.k8s.crds import feature_flags

__all__ = ["Manifests", "dump_yaml", "load_yaml", "render_manifests"]

Obj = dict[str, Any]


@dataclass
class Manifests:
    """The rendered objects, in apply order, and what the user should know about them."""

    target: Target
    objects: list[Obj]
    warnings: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        return dump_yaml(self.objects)

    def files(self) -> dict[str, str]:
        """One file per object, numbered so that `kubectl apply -f DIR` keeps the order."""
        result: dict[str, str] = {}
        for index, obj in enumerate(self.objects):
            kind = obj["kind"].lower()
            group = (
                obj["apiVersion"].split("/")[0].split(".")[0] if "/" in obj["apiVersion"] else ""
            )
            if kind == "service" and group == "serving":
                kind = "knative-service"
            result[f"{index:02d}-{kind}-{obj['metadata']['name']}.yaml"] = dump_yaml([obj])
        return result

    def write(self, out: Path) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("[0-9][0-9]-*.yaml"):
            stale.unlink()  # a previous rendering may have had more objects
        written = []
        for name, text in self.files().items():
            path = out / name
            path.write_text(text, encoding="utf-8")
            written.append(path)
        return written

    def check(self, crd_dir: Path | None = None) -> CheckReport:
        """Check what would be applied: the objects as read back from the serialised YAML."""
        text = self.to_yaml()
        spec = self.target.spec
        values = [v for v in spec.config.secrets.values() if isinstance(v, str)]
        return check_manifests(
            load_yaml(text),
            text=text,
            kube_version=self.target.options.kube_version,
            secret_names=spec.secret_names,
            secret_values=values,
            crd_dir=crd_dir,
        )


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    return yaml


def dump_yaml(objects: list[Obj]) -> str:
    yaml = _yaml()
    chunks = []
    for obj in objects:
        buffer = io.StringIO()
        yaml.dump(obj, buffer)
        chunks.append(buffer.getvalue())
    return "---\n" + "---\n".join(chunks)


def load_yaml(text: str) -> list[Obj]:
    return [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc]


def _objects(target: Target) -> list[Obj]:
    objects: list[Obj] = [
        tenancy.namespace(target),
        tenancy.resource_quota(target),
        tenancy.limit_range(target),
        network.default_deny(target),
        tenancy.service_account(target),
        network.ingress_policy(target),
        network.egress_policy(target),
    ]
    if target.mode is ScaleToZero.KNATIVE:
        service = scaling.knative_service(target)
        flags = feature_flags(service)
        service["metadata"]["annotations"]["trussd.dev/knative-feature-flags"] = ",".join(flags)
        return [*objects, service, workload.pod_disruption_budget(target)]
    objects += [
        workload.service(target),
        workload.deployment(target),
        workload.pod_disruption_budget(target),
    ]
    if target.mode is ScaleToZero.KEDA:
        # The route first: a ScaledObject whose route is missing falls back to a CPU metric.
        return [*objects, scaling.interceptor_route(target), scaling.scaled_object(target)]
    autoscaler = scaling.hpa(target)
    return [*objects, autoscaler] if autoscaler else objects


def _downloads(root: Path, model: str) -> bool:
    """A hub id rather than weights inside the truss or image."""
    return not model.startswith((".", "/")) and not (root / model).exists()


def _warnings(target: Target, objects: list[Obj]) -> list[str]:
    spec, deployment = target.spec, target.spec.deployment
    notes: list[str] = []
    if target.options.image is None:
        notes.append(f"image `{target.image}` is a placeholder; pass --image REPO@sha256:DIGEST")
    elif "@sha256:" not in target.image:
        notes.append(f"image `{target.image}` is a tag; pin it by digest for an auditable deploy")
    engine = spec.engine
    if (
        engine is not None
        and _downloads(spec.root, engine.model)
        and not network.egress_plan(target).hosts
    ):
        notes.append(
            f"engine.model `{engine.model}` is downloaded at start, but no "
            "deployment.model_store_hosts allow egress to a model store"
        )
    if target.uid < 10000:
        notes.append(
            f"the container runs as uid {target.uid}; a uid of 10000 or more cannot clash "
            "with a user of the node"
        )
    if target.mode is ScaleToZero.NONE and deployment.min_replicas == 0:
        notes.append("--scale-to-zero none keeps at least one replica running")
    if target.mode is not ScaleToZero.NONE and deployment.min_replicas > 0:
        notes.append(
            f"min_replicas is {deployment.min_replicas}: this deployment never scales to zero"
        )
    if target.mode is ScaleToZero.KNATIVE:
        if deployment.scale_down_delay_seconds > scaling.KNATIVE_MAX_SCALE_DOWN_DELAY:
            notes.append(
                "Knative caps scale-down-delay at 1h; scale_down_delay_seconds was lowered"
            )
        flags = objects[-2]["metadata"]["annotations"]["trussd.dev/knative-feature-flags"]
        notes.append(f"enable these Knative feature flags in config-features: {flags}")
    return notes


def render_manifests(spec: TrussSpec, options: ManifestOptions | None = None) -> Manifests:
    """Every object of one deployment of ``spec``; pure (reads nothing, writes nothing)."""
    target = resolve_target(spec, options or ManifestOptions())
    objects = _objects(target)
    return Manifests(target=target, objects=objects, warnings=_warnings(target, objects))
