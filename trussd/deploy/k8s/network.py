"""NetworkPolicies: deny everything, then allow the gateway in, DNS out and the model store out.

NetworkPolicy matches IP blocks, namespaces and pods — never host names. The model-store
allow list (``deployment.model_store_hosts`` and Truss's ``runtime.egress_restrictions``) is
therefore split:

* IPs and CIDRs (``10.2.0.0/16``, ``52.1.2.3:9000``) become ``ipBlock`` rules on their port
  (443 when none is written);
* host names (``huggingface.co``, ``*.s3.amazonaws.com``) are enforced by an egress proxy in
  its own namespace: the pod may reach only that proxy, gets ``HTTPS_PROXY`` pointing at it, and
  the allowed names are written in the ``trussd.dev/egress-allowed-hosts`` annotation for the
  proxy's allow list. See docs/deploy-kubernetes.md.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from trussd.deploy.k8s.context import ScaleToZero, Target
from trussd.errors import ManifestError

__all__ = [
    "DEFAULT_EGRESS_PROXY",
    "EgressPlan",
    "default_deny",
    "egress_plan",
    "egress_policy",
    "gateway_namespaces",
    "ingress_policy",
    "ingress_ports",
]

Obj = dict[str, Any]

DEFAULT_EGRESS_PROXY = "http://egress-proxy.egress-proxy.svc.cluster.local:3128"
# Where the callers of each mode live: KEDA's interceptor, Knative's activator and ingress
# (Kourier by default), or an ingress controller in front of a plain Service.
DEFAULT_GATEWAYS: dict[ScaleToZero, tuple[str, ...]] = {
    ScaleToZero.KEDA: ("keda",),
    ScaleToZero.KNATIVE: ("knative-serving", "kourier-system"),
    ScaleToZero.NONE: ("ingress-nginx",),
}
_NS_LABEL = "kubernetes.io/metadata.name"
# Knative routes requests to its queue-proxy sidecar (8012 HTTP/1, 8013 h2c), and the autoscaler
# scrapes the sidecar's concurrency on 9090; the model's own port is only reached from inside
# the pod.
KNATIVE_QUEUE_PORTS = (8012, 8013, 9090)


@dataclass(frozen=True)
class EgressPlan:
    """How the allow list is enforced: IP blocks, and host names through the proxy."""

    ip_rules: tuple[tuple[str, int], ...]  # (cidr, port)
    hosts: tuple[str, ...]
    proxy_url: str | None
    proxy_namespace: str | None
    proxy_port: int | None


def _split_port(entry: str) -> tuple[str, int]:
    text = entry.strip()
    if "://" in text:
        parts = urlsplit(text)
        return parts.hostname or "", parts.port or (80 if parts.scheme == "http" else 443)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ManifestError(f"egress entry `{entry}` has an invalid port")
        return host, int(port)
    return text, 443


def _cidr(host: str) -> str | None:
    try:
        return str(ipaddress.ip_network(host, strict=False))
    except ValueError:
        return None


def _proxy(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    labels = (parts.hostname or "").split(".")
    # Service DNS is SERVICE.NAMESPACE.svc[.cluster.local]; the policy needs the namespace.
    if len(labels) < 3 or labels[2] != "svc" or parts.scheme not in ("http", "https"):
        raise ManifestError(
            f"egress_proxy `{url}` is not a cluster Service URL",
            hint="write http://SERVICE.NAMESPACE.svc.cluster.local:PORT",
        )
    return labels[1], parts.port or (443 if parts.scheme == "https" else 80)


def egress_plan(target: Target) -> EgressPlan:
    deployment = target.spec.deployment
    entries = list(deployment.model_store_hosts)
    restrictions = target.spec.config.runtime.egress_restrictions
    if restrictions is not None:
        entries += list(restrictions.ip_allow_list or []) + list(restrictions.fqdn_allow_list or [])
    ip_rules: list[tuple[str, int]] = []
    hosts: list[str] = []
    for entry in entries:
        host, port = _split_port(entry)
        cidr = _cidr(host)
        if cidr is not None:
            ip_rules.append((cidr, port))
        elif host:
            hosts.append(host if port == 443 else f"{host}:{port}")
    if not hosts:
        return EgressPlan(tuple(dict.fromkeys(ip_rules)), (), None, None, None)
    url = deployment.egress_proxy or DEFAULT_EGRESS_PROXY
    proxy_ns, proxy_port = _proxy(url)
    return EgressPlan(
        tuple(dict.fromkeys(ip_rules)), tuple(dict.fromkeys(hosts)), url, proxy_ns, proxy_port
    )


def gateway_namespaces(target: Target) -> tuple[str, ...]:
    configured = target.spec.deployment.gateway_namespaces
    return tuple(configured) if configured else DEFAULT_GATEWAYS[target.mode]


def _meta(target: Target, name: str) -> Obj:
    return {"name": name, "namespace": target.namespace, "labels": target.tenant_labels()}


def default_deny(target: Target) -> Obj:
    """Every pod of the namespace: no traffic in or out unless another policy allows it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(target, "default-deny-all"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def ingress_ports(target: Target) -> tuple[int, ...]:
    if target.mode is ScaleToZero.KNATIVE:
        return KNATIVE_QUEUE_PORTS
    return (target.port,)


def ingress_policy(target: Target) -> Obj:
    ports = [{"protocol": "TCP", "port": port} for port in ingress_ports(target)]
    peers = [
        {"namespaceSelector": {"matchLabels": {_NS_LABEL: namespace}}}
        for namespace in gateway_namespaces(target)
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": target.meta(f"{target.name}-allow-gateway"),
        "spec": {
            "podSelector": {"matchLabels": target.selector()},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": ports}],
        },
    }


def _dns_rule() -> Obj:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {_NS_LABEL: "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def egress_policy(target: Target) -> Obj:
    plan = egress_plan(target)
    rules: list[Obj] = [_dns_rule()]
    for cidr, port in plan.ip_rules:
        rules.append(
            {"to": [{"ipBlock": {"cidr": cidr}}], "ports": [{"protocol": "TCP", "port": port}]}
        )
    if plan.proxy_namespace is not None:
        rules.append(
            {
                "to": [{"namespaceSelector": {"matchLabels": {_NS_LABEL: plan.proxy_namespace}}}],
                "ports": [{"protocol": "TCP", "port": plan.proxy_port}],
            }
        )
    meta = target.meta(f"{target.name}-allow-egress")
    if plan.hosts:
        meta["annotations"] = {
            **target.annotations(),
            "trussd.dev/egress-allowed-hosts": ",".join(plan.hosts),
            "trussd.dev/egress-proxy": plan.proxy_url or "",
        }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": {
            "podSelector": {"matchLabels": target.selector()},
            "policyTypes": ["Egress"],
            "egress": rules,
        },
    }
