"""Deployment, Service and PodDisruptionBudget of one model (the KEDA and plain modes)."""

from __future__ import annotations

from typing import Any

from trussd.deploy.k8s.context import ScaleToZero, Target
from trussd.deploy.k8s.pod import pod_spec

__all__ = ["autoscaled", "deployment", "fixed_replicas", "pod_disruption_budget", "service"]

Obj = dict[str, Any]


def fixed_replicas(target: Target) -> int:
    """Replicas when no autoscaler owns the count (mode `none`): at least one."""
    return max(1, target.spec.deployment.min_replicas)


def autoscaled(target: Target) -> bool:
    """Whether a controller (KEDA, or the HPA of mode `none`) owns the replica count."""
    if target.mode is not ScaleToZero.NONE:
        return True
    return target.spec.deployment.max_replicas > fixed_replicas(target)


def deployment(target: Target) -> Obj:
    spec: Obj = {
        "selector": {"matchLabels": target.selector()},
        # A new revision is ready before an old one goes: never fewer GPUs serving than asked.
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        },
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": target.spec.startup_seconds + 300,
        "template": {
            "metadata": {"labels": target.labels(), "annotations": target.annotations()},
            "spec": pod_spec(target),
        },
    }
    # When KEDA or an HPA owns `replicas`, leaving it out keeps server-side apply from
    # resetting the count on every apply (a new Deployment starts at one replica).
    if not autoscaled(target):
        spec = {"replicas": fixed_replicas(target), **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": target.meta(), "spec": spec}


def service(target: Target) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": target.meta(),
        "spec": {
            "type": "ClusterIP",
            "selector": target.selector(),
            "ports": [
                {
                    "name": target.port_name,
                    "port": target.port,
                    "targetPort": target.port_name,
                    "protocol": "TCP",
                    "appProtocol": "http",
                }
            ],
        },
    }


def pod_disruption_budget(target: Target) -> Obj:
    """One pod at a time may be evicted; a pod stuck loading never blocks a node drain."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": target.meta(),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": target.selector()},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
