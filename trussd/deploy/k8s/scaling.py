"""Scale to zero: KEDA (ScaledObject + HTTP add-on InterceptorRoute), Knative, or none (HPA)."""

from __future__ import annotations

from typing import Any

from trussd.deploy.k8s.context import ScaleToZero, Target
from trussd.deploy.k8s.pod import pod_spec
from trussd.deploy.k8s.workload import autoscaled, fixed_replicas

__all__ = [
    "KEDA_SCALER_ADDRESS",
    "KNATIVE_MAX_SCALE_DOWN_DELAY",
    "hpa",
    "interceptor_route",
    "knative_service",
    "route_hosts",
    "scaled_object",
]

Obj = dict[str, Any]

# The HTTP add-on's external scaler, as its Helm chart installs it (namespace `keda`).
KEDA_SCALER_ADDRESS = "keda-add-ons-http-external-scaler.keda:9090"
# Knative refuses a scale-down-delay above one hour.
KNATIVE_MAX_SCALE_DOWN_DELAY = 3600
# The HPA's stabilization window has the same ceiling.
_MAX_WINDOW = 3600


def route_hosts(target: Target) -> list[str]:
    """Host headers the interceptor routes here: `--host` names, else an in-cluster name."""
    return list(target.options.hosts) or [f"{target.name}.{target.namespace}"]


def interceptor_route(target: Target) -> Obj:
    """Routes requests through KEDA's interceptor, which holds them while a pod starts."""
    deployment = target.spec.deployment
    return {
        "apiVersion": "http.keda.sh/v1beta1",
        "kind": "InterceptorRoute",
        "metadata": target.meta(),
        "spec": {
            "target": {"service": target.name, "port": target.port},
            "rules": [{"hosts": route_hosts(target)}],
            "scalingMetric": {"concurrency": {"targetValue": deployment.concurrency_target}},
            # Held requests wait as long as a cold start may take, then fail cleanly.
            "timeouts": {"readiness": f"{deployment.cold_start_timeout_seconds}s"},
        },
    }


def scaled_object(target: Target) -> Obj:
    deployment = target.spec.deployment
    delay = deployment.scale_down_delay_seconds
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": target.meta(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target.name},
            "minReplicaCount": deployment.min_replicas,
            "maxReplicaCount": deployment.max_replicas,
            # Idle time before the last replica goes; a new deployment first gets time to load.
            "cooldownPeriod": delay,
            "initialCooldownPeriod": target.spec.startup_seconds,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {"stabilizationWindowSeconds": min(delay, _MAX_WINDOW)}
                    }
                }
            },
            "triggers": [
                {
                    "type": "external-push",
                    "metadata": {
                        "scalerAddress": KEDA_SCALER_ADDRESS,
                        "interceptorRoute": target.name,
                    },
                }
            ],
        },
    }


def _knative_annotations(target: Target) -> dict[str, str]:
    deployment = target.spec.deployment
    delay = min(deployment.scale_down_delay_seconds, KNATIVE_MAX_SCALE_DOWN_DELAY)
    return {
        "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
        "autoscaling.knative.dev/metric": "concurrency",
        "autoscaling.knative.dev/target": str(deployment.concurrency_target),
        "autoscaling.knative.dev/min-scale": str(deployment.min_replicas),
        "autoscaling.knative.dev/max-scale": str(deployment.max_replicas),
        "autoscaling.knative.dev/scale-down-delay": f"{delay}s",
        # Knative fails a revision that is not ready within 10 minutes by default; a model
        # that loads for longer needs the deadline of its startup probe.
        "serving.knative.dev/progress-deadline": f"{target.spec.startup_seconds + 300}s",
        **target.annotations(),
    }


def knative_service(target: Target) -> Obj:
    spec = pod_spec(target, knative=True)
    # Knative accepts one port, named `http1` (or `h2c`), and injects its own PORT variable.
    spec["containers"][0]["ports"] = [
        {"name": "http1", "containerPort": target.port, "protocol": "TCP"}
    ]
    meta = target.meta()
    # Reachable only inside the cluster (through the activator/ingress); exposing it publicly
    # is a separate decision of the operator.
    meta["labels"] = {**target.labels(), "networking.knative.dev/visibility": "cluster-local"}
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "template": {
                "metadata": {
                    "labels": target.labels(),
                    "annotations": _knative_annotations(target),
                },
                "spec": spec,
            }
        },
    }


def hpa(target: Target) -> Obj | None:
    """Mode `none`: an HPA on CPU between the fixed floor and max, or nothing when equal."""
    deployment = target.spec.deployment
    floor = fixed_replicas(target)
    if target.mode is not ScaleToZero.NONE or not autoscaled(target):
        return None
    window = min(deployment.scale_down_delay_seconds, _MAX_WINDOW)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": target.meta(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target.name},
            "minReplicas": floor,
            "maxReplicas": deployment.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": window}},
        },
    }
