"""The tenant's namespace and its guard rails: PSA labels, ServiceAccount, quota, limits."""

from __future__ import annotations

from typing import Any

from trussd.deploy.k8s.context import PSA_VERSION, Target
from trussd.deploy.k8s.gpu import GPU_RESOURCE
from trussd.deploy.k8s.resources import (
    SIDECAR,
    SIDECAR_REQUEST,
    cpu_quantity,
    memory_quantity,
    quota_pods,
    replica_size,
)

__all__ = ["limit_range", "namespace", "resource_quota", "service_account"]

Obj = dict[str, Any]


def _psa_labels() -> dict[str, str]:
    labels: dict[str, str] = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        # Pinned: a cluster upgrade must not silently change what is enforced here.
        labels[f"pod-security.kubernetes.io/{mode}-version"] = PSA_VERSION
    return labels


def namespace(target: Target) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": target.namespace,
            "labels": {**target.tenant_labels(), **_psa_labels()},
        },
    }


def service_account(target: Target) -> Obj:
    """One identity per deployment, with no API token mounted and no Role bound to it."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": target.meta(),
        "automountServiceAccountToken": False,
    }


def _tenant_meta(target: Target, name: str) -> Obj:
    return {"name": name, "namespace": target.namespace, "labels": target.tenant_labels()}


def resource_quota(target: Target) -> Obj:
    """Caps what the namespace may hold: this deployment at its maximum plus one surge pod,
    each pod with one sidecar's allowance; no LoadBalancer or NodePort Services, no volumes
    that outlive pods."""
    pods = quota_pods(target)
    pod = replica_size(target)
    requests = pod + SIDECAR_REQUEST
    limits = pod + SIDECAR
    hard: dict[str, object] = {
        "pods": str(pods),
        "requests.cpu": cpu_quantity(requests.cpu_m * pods),
        "requests.memory": memory_quantity(requests.memory * pods),
        "limits.cpu": cpu_quantity(limits.cpu_m * pods),
        "limits.memory": memory_quantity(limits.memory * pods),
        f"requests.{GPU_RESOURCE}": str(pod.gpus * pods),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
        "persistentvolumeclaims": "0",
    }
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _tenant_meta(target, "tenant-quota"),
        "spec": {"hard": hard},
    }


def limit_range(target: Target) -> Obj:
    """Defaults for containers that name no resources (sidecars), and a per-container ceiling
    equal to one replica, so nothing in the namespace grows past what the quota was sized for."""
    pod = replica_size(target)
    ceiling: dict[str, object] = {
        "cpu": cpu_quantity(max(pod.cpu_m, SIDECAR.cpu_m)),
        "memory": memory_quantity(max(pod.memory, SIDECAR.memory)),
    }
    limit: Obj = {
        "type": "Container",
        "default": {"cpu": cpu_quantity(SIDECAR.cpu_m), "memory": memory_quantity(SIDECAR.memory)},
        "defaultRequest": {
            "cpu": cpu_quantity(SIDECAR_REQUEST.cpu_m),
            "memory": memory_quantity(SIDECAR_REQUEST.memory),
        },
        "max": ceiling,
    }
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _tenant_meta(target, "tenant-limits"),
        "spec": {"limits": [limit]},
    }
