"""Compute sizes: one replica's requests/limits, the sidecar allowance, and the tenant quota."""

from __future__ import annotations

from dataclasses import dataclass

from trussd.deploy.k8s.context import Target
from trussd.deploy.k8s.gpu import GPU_RESOURCE

__all__ = [
    "SIDECAR",
    "Size",
    "container_resources",
    "cpu_quantity",
    "memory_quantity",
    "replica_size",
]

_MI = 1024**2
_GI = 1024**3


def memory_quantity(n_bytes: int) -> str:
    """Bytes as the shortest exact Kubernetes quantity: ``2Gi``, ``512Mi``, or plain bytes."""
    if n_bytes % _GI == 0:
        return f"{n_bytes // _GI}Gi"
    if n_bytes % _MI == 0:
        return f"{n_bytes // _MI}Mi"
    return str(n_bytes)


def cpu_quantity(millicores: int) -> str:
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


@dataclass(frozen=True)
class Size:
    """CPU (millicores), memory (bytes) and GPUs of one pod or one container."""

    cpu_m: int
    memory: int
    gpus: int = 0

    def __add__(self, other: Size) -> Size:
        return Size(self.cpu_m + other.cpu_m, self.memory + other.memory, self.gpus + other.gpus)

    def __mul__(self, factor: int) -> Size:
        return Size(self.cpu_m * factor, self.memory * factor, self.gpus * factor)


# Default limits the LimitRange gives a container that names none (Knative's queue-proxy,
# a mesh sidecar). The quota reserves one such container per pod, so sidecars fit.
SIDECAR = Size(cpu_m=500, memory=512 * _MI)
SIDECAR_REQUEST = Size(cpu_m=50, memory=64 * _MI)


def replica_size(target: Target) -> Size:
    resources = target.spec.config.resources
    return Size(resources.cpu_millicores, resources.memory_bytes, target.gpu_count)


def container_resources(target: Target) -> dict[str, dict[str, object]]:
    """Requests equal to limits: Guaranteed QoS, so the kubelet evicts this pod last and
    a noisy neighbour (there is none on a dedicated pool, but on shared CPUs there may be)
    cannot take memory the model needs."""
    size = replica_size(target)
    amounts: dict[str, object] = {
        "cpu": cpu_quantity(size.cpu_m),
        "memory": memory_quantity(size.memory),
    }
    if size.gpus:
        amounts[GPU_RESOURCE] = size.gpus
    return {"requests": dict(amounts), "limits": dict(amounts)}


def quota_pods(target: Target) -> int:
    """Pods the quota must admit: max replicas plus one surge pod for rolling updates."""
    return target.spec.deployment.max_replicas + 1
