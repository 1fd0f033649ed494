"""What one rendering is about: the spec plus the options, resolved once into names and labels.

Every object builder takes a ``Target``; none of them re-derives a name, a label or a port, so
the semantic checks (selectors, ports) can only fail if a builder breaks the shared contract.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from trussd import __version__
from trussd.config import TrussKind, TrussSpec
from trussd.config.sections import is_dns_label
from trussd.errors import ManifestError

__all__ = [
    "DEFAULT_KUBE_VERSION",
    "LIVENESS_PATH",
    "PSA_VERSION",
    "READINESS_PATH",
    "SERVING_PORT",
    "ManifestOptions",
    "ScaleToZero",
    "Target",
    "resolve_target",
]

# The image runs `trussd serve /app --host 0.0.0.0 --port 8080` (the front's reserved port).
SERVING_PORT = 8080
READINESS_PATH = "/v1/models/model"  # 200 once the model is loaded
LIVENESS_PATH = "/"  # 200 while the process is up
PORT_NAME = "http"
# The Kubernetes minor version manifests are written and validated for; PSA labels pin it too.
DEFAULT_KUBE_VERSION = "1.33"
PSA_VERSION = f"v{DEFAULT_KUBE_VERSION}"
# Truss's default non-root uid; the serving image runs as it unless docker_server says otherwise.
DEFAULT_UID = 60000
# Room left in a 63-character DNS label for suffixes Knative and we append (`-00001-private`).
MAX_NAME = 45
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


class ScaleToZero(enum.StrEnum):
    KEDA = "keda"  # ScaledObject + KEDA HTTP add-on InterceptorRoute
    KNATIVE = "knative"  # a Knative Service (KPA)
    NONE = "none"  # fixed replicas, or an HPA between min and max


class ManifestOptions(BaseModel):
    """Command-line choices that are not part of config.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str | None = Field(default=None, description="Overrides deployment.tenant.")
    scale_to_zero: ScaleToZero = Field(default=ScaleToZero.KEDA)
    image: str | None = Field(default=None, description="Image reference; by digest for audits.")
    name: str | None = Field(default=None, description="Deployment name; default from model_name.")
    hosts: tuple[str, ...] = Field(default=(), description="Host names the gateway routes here.")
    gpu_products: tuple[str, ...] = Field(
        default=(), description="Node label values of nvidia.com/gpu.product; overrides the map."
    )
    kube_version: str = Field(default=DEFAULT_KUBE_VERSION)


def dns_label(text: str, limit: int = 63) -> str:
    """A DNS-1035 label (starts with a letter) derived from free text, e.g. a model name."""
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    label = re.sub(r"-{2,}", "-", label)
    if not label or not label[0].isalpha():
        label = f"m-{label}".rstrip("-")
    return label[:limit].rstrip("-")


@dataclass(frozen=True)
class Target:
    """The resolved identity of one deployment: names, labels, image, port, mode."""

    spec: TrussSpec
    options: ManifestOptions
    name: str
    tenant: str
    namespace: str
    image: str
    mode: ScaleToZero

    @property
    def bare_server(self) -> bool:
        """`docker_server.no_build`: the user's image runs as is, without trussd's front."""
        server = self.spec.config.docker_server
        return server is not None and bool(server.no_build)

    @property
    def port(self) -> int:
        server = self.spec.config.docker_server
        return server.server_port if server is not None and self.bare_server else SERVING_PORT

    @property
    def probe_paths(self) -> tuple[str, str]:
        """(readiness, liveness): the server's contract routes, or the bare server's own."""
        server = self.spec.config.docker_server
        if server is not None and self.bare_server:
            return server.readiness_endpoint, server.liveness_endpoint
        return READINESS_PATH, LIVENESS_PATH

    @property
    def port_name(self) -> str:
        return PORT_NAME

    @property
    def truss_hash(self) -> str:
        return self.spec.config_hash[:12]

    @property
    def uid(self) -> int:
        server = self.spec.config.docker_server
        if server is not None and server.run_as_user_id is not None:
            return server.run_as_user_id
        return DEFAULT_UID

    @property
    def gpu_count(self) -> int:
        return self.spec.config.resources.accelerator.gpu_count

    def tenant_labels(self) -> dict[str, str]:
        """Labels of the objects a tenant's deployments share (namespace, quota, default deny)."""
        return {
            "app.kubernetes.io/managed-by": "trussd",
            "app.kubernetes.io/part-of": "trussd",
            "trussd.dev/tenant": self.tenant,
        }

    def selector(self) -> dict[str, str]:
        """Immutable pod selector: never includes the truss hash, which changes every push."""
        return {"trussd.dev/deployment": self.name}

    def labels(self) -> dict[str, str]:
        """Attribution labels that metering and audits select on."""
        return {
            "app.kubernetes.io/name": self.name,
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/component": "model-server",
            **self.tenant_labels(),
            **self.selector(),
            "trussd.dev/truss-hash": self.truss_hash,
        }

    def annotations(self) -> dict[str, str]:
        spec = self.spec
        notes = {
            "trussd.dev/config-hash": spec.config_hash,
            "trussd.dev/model-name": spec.model_name,
            "trussd.dev/kind": spec.kind.value,
            "trussd.dev/trussd-version": __version__,
        }
        if spec.engine is not None:
            notes["trussd.dev/engine"] = spec.engine.backend.value
        accelerator = spec.config.resources.accelerator.model_dump()
        if accelerator:
            notes["trussd.dev/accelerator"] = str(accelerator)
        return notes

    def meta(self, name: str | None = None) -> dict[str, object]:
        return {
            "name": name or self.name,
            "namespace": self.namespace,
            "labels": self.labels(),
            "annotations": self.annotations(),
        }


def _image(spec: TrussSpec, image: str | None) -> str:
    server = spec.config.docker_server
    if image is None and server is not None and server.no_build and spec.config.base_image:
        return spec.config.base_image.image  # deployed as is: the base image is the image
    if image is None:
        # A documented placeholder: replace with the pushed reference (ideally by digest).
        return f"trussd/{dns_label(spec.model_name)}:{spec.config_hash[:12]}"
    if "@" in image and not _DIGEST.search(image):
        raise ManifestError(
            f"image `{image}` has a malformed digest",
            hint="write REPO@sha256:<64 hex digits>, or REPO:TAG",
        )
    if not image or any(c.isspace() for c in image):
        raise ManifestError(f"image `{image}` is not an image reference")
    return image


def resolve_target(spec: TrussSpec, options: ManifestOptions) -> Target:
    """Names, namespace and image of one rendering; ManifestError when they cannot be formed."""
    tenant = options.tenant or spec.deployment.tenant
    if not is_dns_label(tenant):
        raise ManifestError(
            f"tenant `{tenant}` must be a DNS label", hint="use lower-case letters, digits and `-`"
        )
    namespace = f"trussd-{tenant}"
    if len(namespace) > 63:
        raise ManifestError(
            f"namespace `{namespace}` is longer than 63 characters",
            hint="use a tenant name of at most 56 characters",
        )
    raw_name = options.name or spec.model_name
    name = dns_label(raw_name, MAX_NAME)
    if options.name is not None and name != options.name:
        raise ManifestError(
            f"--name `{options.name}` is not a DNS label of at most {MAX_NAME} characters",
            hint=f"e.g. `{name}`",
        )
    server = spec.config.docker_server
    if spec.kind is TrussKind.DOCKER_SERVER and server is not None and server.run_as_user_id == 0:
        raise ManifestError("docker_server.run_as_user_id 0 is root; restricted pods run non-root")
    return Target(
        spec=spec,
        options=options,
        name=name,
        tenant=tenant,
        namespace=namespace,
        image=_image(spec, options.image),
        mode=options.scale_to_zero,
    )
