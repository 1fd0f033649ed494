"""The serving pod: one restricted container on the contract routes, probes sized for loading.

The image runs ``trussd serve /app --host 0.0.0.0 --port 8080``; liveness is ``GET /`` (up
while the process is), readiness ``GET /v1/models/model`` (200 once the model is loaded). The
startup probe watches readiness so a model may load for as long as config.yaml allows before
liveness starts counting, and a load that never finishes is restarted rather than left idle.
"""

from __future__ import annotations

import math
from typing import Any

from trussd.config import Isolation, TrussKind, TrussSpec
from trussd.deploy.k8s.context import LIVENESS_PATH, READINESS_PATH, Target
from trussd.deploy.k8s.gpu import affinity, tolerations
from trussd.deploy.k8s.network import egress_plan
from trussd.deploy.k8s.resources import container_resources, memory_quantity, replica_size

__all__ = [
    "CONTAINER_NAME",
    "LIVENESS_PATH",
    "READINESS_PATH",
    "SECRETS_DIR",
    "container",
    "drain_seconds",
    "pod_spec",
    "secret_name",
]

Obj = dict[str, Any]

CONTAINER_NAME = "model"
SECRETS_DIR = "/secrets"
CACHE_DIR = "/cache"
PRE_STOP_SECONDS = 5  # lets endpoints drop the pod before SIGTERM reaches the server
_GI = 1024**3


def drain_seconds(spec: TrussSpec) -> int:
    """Time in-flight requests get after SIGTERM: LLM streams run for minutes, predicts don't."""
    base = 60 if spec.kind is TrussKind.CUSTOM else 300
    return max(base, spec.config.runtime.streaming_read_timeout)


def secret_name(target: Target) -> str:
    """The Secret the operator creates with the values of config.yaml's `secrets:` names."""
    return f"{target.name}-secrets"


def _probe(path: str, port: int, period: int, threshold: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": max(1, threshold),
        "successThreshold": 1,
    }


def probes(target: Target) -> Obj:
    checks = target.spec.config.runtime.health_checks
    ready, alive = target.probe_paths
    startup = _probe(ready, target.port, 10, math.ceil(target.spec.startup_seconds / 10))
    readiness = _probe(
        ready, target.port, 5, math.ceil((checks.stop_traffic_threshold_seconds or 15) / 5)
    )
    liveness = _probe(
        alive, target.port, 10, math.ceil((checks.restart_threshold_seconds or 60) / 10)
    )
    if checks.restart_check_delay_seconds:
        liveness["initialDelaySeconds"] = checks.restart_check_delay_seconds
    return {"startupProbe": startup, "readinessProbe": readiness, "livenessProbe": liveness}


def _env(target: Target) -> list[Obj]:
    spec = target.spec
    values: dict[str, str] = {
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "XDG_CACHE_HOME": CACHE_DIR,
        "HF_HOME": f"{CACHE_DIR}/huggingface",
        "TRITON_CACHE_DIR": f"{CACHE_DIR}/triton",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TRUSSD_JSON_LOGS": "true",
        "TRUSSD_MAX_QUEUE": str(spec.deployment.max_queue),
        "TRUSSD_DRAIN_TIMEOUT": str(drain_seconds(spec)),
    }
    if spec.secret_names:
        values["TRUSSD_SECRETS_DIR"] = SECRETS_DIR
    plan = egress_plan(target)
    if plan.proxy_url is not None:
        no_proxy = "localhost,127.0.0.1,.svc,.cluster.local"
        for key in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            values[key] = plan.proxy_url
        values["NO_PROXY"] = values["no_proxy"] = no_proxy
    # The user's own variables last, so they may override a default (never a secret: those
    # travel only as Secret references).
    values.update(spec.config.environment_variables)
    return [{"name": key, "value": value} for key, value in values.items()]


def _mounts(target: Target) -> list[Obj]:
    mounts: list[Obj] = [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "cache", "mountPath": CACHE_DIR},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ]
    if target.spec.secret_names:
        mounts.append({"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True})
    return mounts


def _shm_size(target: Target) -> str:
    # Memory-backed, so it counts against the memory limit: a quarter of it, at most 16Gi
    # (NCCL and engine worker processes exchange tensors through /dev/shm).
    quarter = replica_size(target).memory // 4
    return memory_quantity(max(64 * 1024**2, min(16 * _GI, quarter) // (1024**2) * 1024**2))


def volumes(target: Target) -> list[Obj]:
    result: list[Obj] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "cache", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": _shm_size(target)}},
    ]
    names = target.spec.secret_names
    if names:
        items = [{"key": name, "path": name} for name in names]
        result.append(
            {
                "name": "secrets",
                "secret": {
                    "secretName": secret_name(target),
                    "items": items,
                    "defaultMode": 0o440,
                    "optional": False,
                },
            }
        )
    return result


def container_security() -> Obj:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container(target: Target, *, lifecycle: bool = True) -> Obj:
    by_digest = "@sha256:" in target.image
    result: Obj = {
        "name": CONTAINER_NAME,
        "image": target.image,
        "imagePullPolicy": "IfNotPresent" if by_digest else "Always",
        "ports": [{"name": target.port_name, "containerPort": target.port, "protocol": "TCP"}],
        "env": _env(target),
        "resources": container_resources(target),
        "securityContext": container_security(),
        **probes(target),
        "volumeMounts": _mounts(target),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if lifecycle:
        result["lifecycle"] = {"preStop": {"sleep": {"seconds": PRE_STOP_SECONDS}}}
    return result


def pod_security(target: Target) -> Obj:
    return {
        "runAsNonRoot": True,
        "runAsUser": target.uid,
        "runAsGroup": target.uid,
        "fsGroup": target.uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_spec(target: Target, *, knative: bool = False) -> Obj:
    """The pod. Knative owns grace periods and lifecycle hooks itself, so those are left out."""
    spec: Obj = {
        "serviceAccountName": target.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security(target),
        "affinity": affinity(target),
        "tolerations": tolerations(target),
        "containers": [container(target, lifecycle=not knative)],
        "volumes": volumes(target),
    }
    if target.spec.deployment.isolation is Isolation.SANDBOXED:
        spec["runtimeClassName"] = target.spec.deployment.runtime_class_name
    if not knative:
        grace = drain_seconds(target.spec) + PRE_STOP_SECONDS + 10
        spec["terminationGracePeriodSeconds"] = grace
    return spec
