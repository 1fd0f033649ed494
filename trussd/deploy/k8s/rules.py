"""Our own semantic checks: what a schema cannot say about a set of manifests.

* Pod Security Standards ``restricted`` (the rules PSA enforces, checked before a cluster does);
* selectors of Deployment, Service, PDB and NetworkPolicies match the pod template's labels;
* ports agree across container, probes, Service, InterceptorRoute and NetworkPolicy;
* every container has startup, readiness and liveness probes, and cpu/memory requests and limits;
* names and labels are valid (the schemas leave them as plain strings);
* cross references resolve (ScaledObject → Deployment + InterceptorRoute, route → Service).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

__all__ = ["Finding", "semantic_findings"]

Obj = dict[str, Any]
Finding = tuple[str, str, str]  # (object "Kind/name", check, message)

_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = _LABEL_VALUE
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Kinds whose names become DNS labels (Service host names, namespaces).
_LABEL_NAMED = {"Namespace", "Service"}


def ref(obj: Obj) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def pod_templates(obj: Obj) -> Iterator[Obj]:
    """The pod template (metadata + spec) of a workload, whatever its kind."""
    if obj.get("kind") == "Pod":
        yield {"metadata": obj.get("metadata", {}), "spec": obj.get("spec", {})}
    template = obj.get("spec", {}).get("template")
    workload = obj.get("kind") in ("Deployment", "Service")
    if workload and isinstance(template, dict) and "spec" in template:
        yield template


def _containers(pod: Obj) -> list[Obj]:
    return [
        *pod.get("containers", []),
        *pod.get("initContainers", []),
        *pod.get("ephemeralContainers", []),
    ]


def _effective(pod: Obj, container: Obj, key: str) -> Any:
    value = container.get("securityContext", {}).get(key)
    return value if value is not None else pod.get("securityContext", {}).get(key)


def _restricted_pod(pod: Obj) -> Iterator[str]:
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            yield f"{flag} is set"
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _RESTRICTED_VOLUMES:
            yield f"volume {volume.get('name')} uses {sorted(kinds - _RESTRICTED_VOLUMES)}"
    if pod.get("securityContext", {}).get("sysctls"):
        yield "sysctls are set"


def _restricted_container(pod: Obj, container: Obj) -> Iterator[str]:
    name = container.get("name")
    context = container.get("securityContext", {})
    if context.get("privileged"):
        yield f"container {name} is privileged"
    if context.get("allowPrivilegeEscalation") is not False:
        yield f"container {name} must set allowPrivilegeEscalation: false"
    capabilities = context.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []):
        yield f"container {name} must drop ALL capabilities"
    if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
        yield f"container {name} adds capabilities beyond NET_BIND_SERVICE"
    if _effective(pod, container, "runAsNonRoot") is not True:
        yield f"container {name} must run as non-root (runAsNonRoot: true)"
    if _effective(pod, container, "runAsUser") == 0:
        yield f"container {name} runs as uid 0"
    seccomp = _effective(pod, container, "seccompProfile") or {}
    if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
        yield f"container {name} needs seccompProfile RuntimeDefault or Localhost"
    if any(port.get("hostPort") for port in container.get("ports", [])):
        yield f"container {name} uses a hostPort"
    if context.get("procMount", "Default") != "Default":
        yield f"container {name} sets procMount"


def _complete(container: Obj, is_init: bool) -> Iterator[str]:
    name = container.get("name")
    if not is_init:
        for probe in _PROBES:
            if probe not in container:
                yield f"container {name} has no {probe}"
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(part, {}):
                yield f"container {name} has no {part}.{resource}"


def _port_numbers(container: Obj) -> dict[str | int, int]:
    ports: dict[str | int, int] = {}
    for port in container.get("ports", []):
        ports[port["containerPort"]] = port["containerPort"]
        if "name" in port:
            ports[port["name"]] = port["containerPort"]
    return ports


def _probe_ports(container: Obj) -> Iterator[str]:
    known = _port_numbers(container)
    for probe in _PROBES:
        handler = container.get(probe, {}).get("httpGet") or container.get(probe, {}).get(
            "tcpSocket"
        )
        if handler and handler.get("port") not in known:
            port = handler.get("port")
            yield f"{probe} of {container.get('name')} targets {port}, not a container port"


def _label_problems(labels: dict[str, Any]) -> Iterator[str]:
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        valid_key = (
            0 < len(name) <= 63
            and _LABEL_NAME.fullmatch(name) is not None
            and (
                not prefix or (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix) is not None)
            )
        )
        if not valid_key:
            yield f"label key `{key}` is not a valid label name"
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
            yield f"label `{key}` has an invalid value `{value}`"


def _metadata_findings(obj: Obj) -> Iterator[Finding]:
    """What the API server checks in metadata and the schemas do not: names and labels."""
    meta = obj.get("metadata", {})
    name = str(meta.get("name", ""))
    pattern, limit = (_DNS_LABEL, 63) if obj.get("kind") in _LABEL_NAMED else (_DNS_SUBDOMAIN, 253)
    if len(name) > limit or not pattern.fullmatch(name):
        yield ref(obj), "metadata", f"name `{name}` is not a valid {obj.get('kind')} name"
    templates = [t.get("metadata", {}) for t in pod_templates(obj)]
    for labels in [meta.get("labels", {}), *[t.get("labels", {}) for t in templates]]:
        for message in _label_problems(labels):
            yield ref(obj), "metadata", message


def _pod_findings(obj: Obj) -> Iterator[Finding]:
    for template in pod_templates(obj):
        pod = template.get("spec", {})
        for message in _restricted_pod(pod):
            yield ref(obj), "restricted", message
        init_names = {c.get("name") for c in pod.get("initContainers", [])}
        for container in _containers(pod):
            for message in _restricted_container(pod, container):
                yield ref(obj), "restricted", message
            for message in _complete(container, container.get("name") in init_names):
                yield ref(obj), "probes-and-limits", message
            for message in _probe_ports(container):
                yield ref(obj), "ports", message


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _selector_findings(objects: list[Obj], pods: list[Obj]) -> Iterator[Finding]:
    pod_labels = [t.get("metadata", {}).get("labels", {}) for t in pods]
    for obj in objects:
        kind, spec = obj.get("kind"), obj.get("spec", {})
        if kind == "Deployment":
            selector = spec.get("selector", {}).get("matchLabels", {})
            labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
            if not _matches(selector, labels):
                yield ref(obj), "selectors", "selector does not match its pod template labels"
            continue
        if kind == "Service" and obj.get("apiVersion") == "v1":
            selector = spec.get("selector", {})
        elif kind == "PodDisruptionBudget" or (kind == "NetworkPolicy" and spec.get("podSelector")):
            key = "selector" if kind == "PodDisruptionBudget" else "podSelector"
            selector = spec.get(key, {}).get("matchLabels", {})
        else:
            continue
        if not any(_matches(selector, labels) for labels in pod_labels):
            yield ref(obj), "selectors", f"selector {selector} matches no pod template"


def _by_kind(objects: list[Obj], kind: str, api: str | None = None) -> dict[str, Obj]:
    return {
        o["metadata"]["name"]: o
        for o in objects
        if o.get("kind") == kind and (api is None or o.get("apiVersion") == api)
    }


def _reference_findings(objects: list[Obj]) -> Iterator[Finding]:
    deployments = _by_kind(objects, "Deployment")
    services = _by_kind(objects, "Service", "v1")
    routes = _by_kind(objects, "InterceptorRoute")
    for name, service in services.items():
        owner = deployments.get(name)
        known = _port_numbers(owner["spec"]["template"]["spec"]["containers"][0]) if owner else {}
        for port in service["spec"].get("ports", []):
            if known and port.get("targetPort") not in known:
                yield (
                    ref(service),
                    "ports",
                    f"targetPort {port.get('targetPort')} is no container port",
                )
    for route in routes.values():
        target = route["spec"]["target"]
        backend = services.get(target["service"])
        if backend is None:
            yield ref(route), "references", f"target Service {target['service']} is not rendered"
        elif target.get("port") not in [p["port"] for p in backend["spec"]["ports"]]:
            yield (
                ref(route),
                "ports",
                f"target port {target.get('port')} is not a port of the Service",
            )
    yield from _scaler_findings(objects, deployments, routes)


def _scaler_findings(
    objects: list[Obj], deployments: dict[str, Obj], routes: dict[str, Obj]
) -> Iterator[Finding]:
    for scaler in [
        *_by_kind(objects, "ScaledObject").values(),
        *_by_kind(objects, "HorizontalPodAutoscaler").values(),
    ]:
        spec = scaler["spec"]
        if spec["scaleTargetRef"]["name"] not in deployments:
            yield ref(scaler), "references", "scaleTargetRef names no rendered Deployment"
        low = spec.get("minReplicaCount", spec.get("minReplicas", 1))
        high = spec.get("maxReplicaCount", spec.get("maxReplicas", 100))
        if low > high:
            yield ref(scaler), "replicas", f"minimum {low} is above maximum {high}"
        if "idleReplicaCount" in spec and spec["idleReplicaCount"] >= low:
            yield ref(scaler), "replicas", "idleReplicaCount must be below minReplicaCount"
        for trigger in spec.get("triggers", []):
            route = trigger.get("metadata", {}).get("interceptorRoute")
            if route is not None and route not in routes:
                yield (
                    ref(scaler),
                    "references",
                    f"trigger names InterceptorRoute {route}, not rendered",
                )


def _network_findings(objects: list[Obj], pods: list[Obj]) -> Iterator[Finding]:
    container_ports: set[int] = set()
    for template in pods:
        for container in template["spec"].get("containers", []):
            container_ports |= {p["containerPort"] for p in container.get("ports", [])}
    knative = any(o.get("apiVersion") == "serving.knative.dev/v1" for o in objects)
    for policy in _by_kind(objects, "NetworkPolicy").values():
        for rule in policy["spec"].get("ingress", []):
            ports = {p.get("port") for p in rule.get("ports", [])}
            if not knative and not ports & container_ports:
                yield ref(policy), "ports", f"ingress ports {sorted(ports)} reach no container port"


def semantic_findings(objects: list[Obj]) -> list[Finding]:
    """Every semantic problem of one rendered set of manifests."""
    pods = [t for obj in objects for t in pod_templates(obj)]
    findings: list[Finding] = []
    for obj in objects:
        findings += _metadata_findings(obj)
        findings += _pod_findings(obj)
    findings += _selector_findings(objects, pods)
    findings += _reference_findings(objects)
    findings += _network_findings(objects, pods)
    if not any(o.get("kind") == "Namespace" for o in objects):
        findings.append(("(set)", "restricted", "no Namespace with Pod Security labels rendered"))
    for ns in _by_kind(objects, "Namespace").values():
        labels = ns["metadata"].get("labels", {})
        for mode in ("enforce", "audit", "warn"):
            if labels.get(f"pod-security.kubernetes.io/{mode}") != "restricted":
                findings.append((ref(ns), "restricted", f"PSA {mode} label is not `restricted`"))
            if not labels.get(f"pod-security.kubernetes.io/{mode}-version", "").startswith("v1."):
                findings.append((ref(ns), "restricted", f"PSA {mode}-version is not pinned"))
    return findings
