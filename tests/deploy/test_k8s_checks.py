"""Every check can fail: break one thing in a valid rendering and the right check names it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.k8s_cases import all_of, cloned, find, pod_spec, render_case
from trussd.deploy.k8s import check_manifests, dump_yaml
from trussd.deploy.k8s.crds import CRD_FILES, crd_schema, feature_flags, shared_crd_dir

Obj = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]


def _checks_failing(objects: list[Obj], **kwargs: Any) -> set[str]:
    report = check_manifests(objects, text=dump_yaml(objects), **kwargs)
    return {problem.check for problem in report.problems}


def _container(objects: list[Obj]) -> Obj:
    container: Obj = pod_spec(objects)["containers"][0]
    return container


def _keda() -> list[Obj]:
    return cloned(render_case("vllm-h100x2-keda"))


def test_valid_rendering_has_no_findings() -> None:
    assert _checks_failing(_keda()) == set()


# (case name, mutation, check that must fail)
MUTATIONS: list[tuple[str, Callable[[list[Obj]], None], str]] = [
    (
        "unknown field in a Deployment",
        lambda o: find(o, "Deployment")["spec"].update(replicaz=2),
        "kubernetes-validate",
    ),
    (
        "wrong type in a Service port",
        lambda o: find(o, "Service", "v1")["spec"]["ports"][0].update(port="http"),
        "kubernetes-validate",
    ),
    (
        "unknown field in a ScaledObject",
        lambda o: find(o, "ScaledObject")["spec"].update(minReplicas=0),
        "crd-schema",
    ),
    (
        "InterceptorRoute without its required scalingMetric",
        lambda o: find(o, "InterceptorRoute")["spec"].pop("scalingMetric"),
        "crd-schema",
    ),
    (
        "a privileged container",
        lambda o: _container(o)["securityContext"].update(privileged=True),
        "restricted",
    ),
    (
        "capabilities not dropped",
        lambda o: _container(o)["securityContext"].pop("capabilities"),
        "restricted",
    ),
    (
        "privilege escalation allowed",
        lambda o: _container(o)["securityContext"].pop("allowPrivilegeEscalation"),
        "restricted",
    ),
    (
        "root allowed",
        lambda o: (
            pod_spec(o)["securityContext"].pop("runAsNonRoot"),
            _container(o)["securityContext"].pop("runAsNonRoot"),
        ),
        "restricted",
    ),
    (
        "no seccomp profile",
        lambda o: (
            pod_spec(o)["securityContext"].pop("seccompProfile"),
            _container(o)["securityContext"].pop("seccompProfile"),
        ),
        "restricted",
    ),
    (
        "a hostPath volume",
        lambda o: pod_spec(o)["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        "restricted",
    ),
    (
        "host network",
        lambda o: pod_spec(o).update(hostNetwork=True),
        "restricted",
    ),
    (
        "PSA enforce label missing",
        lambda o: find(o, "Namespace")["metadata"]["labels"].pop(
            "pod-security.kubernetes.io/enforce"
        ),
        "restricted",
    ),
    (
        "Deployment selector not matching its template",
        lambda o: find(o, "Deployment")["spec"]["selector"]["matchLabels"].update(x="y"),
        "selectors",
    ),
    (
        "Service selecting no pod",
        lambda o: find(o, "Service", "v1")["spec"]["selector"].update(
            {"trussd.dev/deployment": "other"}
        ),
        "selectors",
    ),
    (
        "PDB selecting no pod",
        lambda o: find(o, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].update(x="y"),
        "selectors",
    ),
    (
        "Service targetPort that is no container port",
        lambda o: find(o, "Service", "v1")["spec"]["ports"][0].update(targetPort="web"),
        "ports",
    ),
    (
        "probe on another port",
        lambda o: _container(o)["readinessProbe"]["httpGet"].update(port=9000),
        "ports",
    ),
    (
        "InterceptorRoute to a port the Service lacks",
        lambda o: find(o, "InterceptorRoute")["spec"]["target"].update(port=9000),
        "ports",
    ),
    (
        "NetworkPolicy ingress to a port nothing listens on",
        lambda o: [
            p["spec"]["ingress"][0]["ports"][0].update(port=9999)
            for p in all_of(o, "NetworkPolicy")
            if p["spec"].get("ingress")
        ],
        "ports",
    ),
    (
        "no liveness probe",
        lambda o: _container(o).pop("livenessProbe"),
        "probes-and-limits",
    ),
    (
        "no memory limit",
        lambda o: _container(o)["resources"]["limits"].pop("memory"),
        "probes-and-limits",
    ),
    (
        "ScaledObject aimed at a missing Deployment",
        lambda o: find(o, "ScaledObject")["spec"]["scaleTargetRef"].update(name="other"),
        "references",
    ),
    (
        "trigger naming a missing InterceptorRoute",
        lambda o: find(o, "ScaledObject")["spec"]["triggers"][0]["metadata"].update(
            interceptorRoute="other"
        ),
        "references",
    ),
    (
        "minimum above maximum",
        lambda o: find(o, "ScaledObject")["spec"].update(minReplicaCount=9),
        "replicas",
    ),
    (
        "a label value the API server rejects",
        lambda o: find(o, "Deployment")["spec"]["template"]["metadata"]["labels"].update(
            {"trussd.dev/truss-hash": "<hash>"}
        ),
        "metadata",
    ),
    (
        "a Service name that is no DNS label",
        lambda o: find(o, "Service", "v1")["metadata"].update(name="9-llm.v2"),
        "metadata",
    ),
    (
        "a secret as a literal env value",
        lambda o: _container(o)["env"].append({"name": "hf_access_token", "value": "abc"}),
        "secrets",
    ),
    (
        "a credential-shaped string",
        lambda o: _container(o)["env"].append({"name": "TOKEN", "value": "hf_" + "a" * 34}),
        "secrets",
    ),
    (
        "a Secret object with data",
        lambda o: o.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s", "namespace": "trussd-acme"},
                "data": {"k": "dg=="},
            }
        ),
        "secrets",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [(m, e) for _, m, e in MUTATIONS],
    ids=[name for name, _, _ in MUTATIONS],
)
def test_each_check_fails_when_broken(mutation: Callable[[list[Obj]], None], expected: str) -> None:
    objects = _keda()
    mutation(objects)
    assert expected in _checks_failing(objects, secret_names=["hf_access_token"])


def test_secret_value_from_config_is_found() -> None:
    objects = _keda()
    _container(objects)["env"].append({"name": "NOTE", "value": "s3cr3t-value-42"})
    failing = _checks_failing(objects, secret_values=["s3cr3t-value-42"])
    assert "secrets" in failing
    assert _checks_failing(_keda(), secret_values=["s3cr3t-value-42"]) == set()


def test_knative_pod_is_checked_against_the_core_pod_schema() -> None:
    objects = cloned(render_case("vllm-h100x2-knative"))
    assert _checks_failing(objects) == set()
    service = find(objects, "Service", "serving.knative.dev/v1")
    # The Knative CRD leaves pod securityContext open; the core Pod schema does not.
    service["spec"]["template"]["spec"]["securityContext"]["runAsUsr"] = 1
    assert "pod-schema" in _checks_failing(objects)


def test_knative_crd_rejects_unknown_top_level_spec_fields() -> None:
    objects = cloned(render_case("vllm-h100x2-knative"))
    find(objects, "Service", "serving.knative.dev/v1")["spec"]["replicas"] = 1
    assert "crd-schema" in _checks_failing(objects)


def test_crd_schema_is_closed_except_where_preserving_unknown_fields() -> None:
    schema = crd_schema("keda.sh/v1alpha1", "ScaledObject")
    assert schema["properties"]["spec"]["additionalProperties"] is False
    knative = crd_schema("serving.knative.dev/v1", "Service")
    pod = knative["properties"]["spec"]["properties"]["template"]["properties"]["spec"]
    assert pod["additionalProperties"] is False
    assert "additionalProperties" not in pod["properties"]["securityContext"]


def test_feature_flags_follow_the_fields_used() -> None:
    sandboxed = find(
        render_case("vllm-h100x2-knative").objects, "Service", "serving.knative.dev/v1"
    )
    flags = feature_flags(sandboxed)
    assert "kubernetes.podspec-runtimeclassname" in flags
    assert "kubernetes.podspec-tolerations" in flags
    del sandboxed["spec"]["template"]["spec"]["runtimeClassName"]
    assert "kubernetes.podspec-runtimeclassname" not in feature_flags(sandboxed)


def test_bundled_crds_equal_the_shared_copies() -> None:
    shared = shared_crd_dir(REPO)
    if not shared.is_dir():
        pytest.skip(f"no shared CRDs at {shared}")
    bundled = REPO / "trussd" / "deploy" / "k8s" / "crds"
    for filename in CRD_FILES.values():
        assert (bundled / filename).read_bytes() == (shared / filename).read_bytes(), filename
