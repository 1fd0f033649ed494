"""What the rendered objects say, behaviour by behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.k8s_cases import FIXTURES, all_of, find, pod_spec, render_case, spec_of
from trussd.config import load_truss
from trussd.deploy.k8s import GPU_PRODUCTS, ManifestOptions, ScaleToZero, render_manifests
from trussd.errors import ManifestError

Obj = dict[str, Any]


def _truss(tmp_path: Path, config: str, model: bool = True) -> Path:
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    if model:
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "model.py").write_text("class Model:\n    pass\n")
    return tmp_path


def _render(path: Path, **options: Any) -> list[Obj]:
    return render_manifests(load_truss(path), ManifestOptions(**options)).objects


def test_tenant_option_overrides_config_and_names_the_namespace() -> None:
    objects = render_manifests(
        spec_of("k8s-custom-cpu"), ManifestOptions(tenant="umbrella")
    ).objects
    namespace = find(objects, "Namespace")
    assert namespace["metadata"]["name"] == "trussd-umbrella"
    assert {o["metadata"].get("namespace") for o in objects[1:]} == {"trussd-umbrella"}
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.33"
    assert find(objects, "Deployment")["metadata"]["labels"]["trussd.dev/tenant"] == "umbrella"


def test_service_account_has_no_token_and_no_rbac_is_rendered() -> None:
    objects = render_case("custom-cpu-keda").objects
    account = find(objects, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert pod_spec(objects)["automountServiceAccountToken"] is False
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "Secret"}


def test_gpu_limits_products_and_tolerations() -> None:
    objects = render_case("vllm-h100x2-keda").objects
    pod = pod_spec(objects)
    resources = pod["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 2
    expressions = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ][0]["matchExpressions"]
    products = next(e for e in expressions if e["key"] == "nvidia.com/gpu.product")["values"]
    assert "NVIDIA-H100-80GB-HBM3" in products
    pool = next(e for e in expressions if e["key"] == "trussd.dev/tenant")
    assert pool["values"] == ["acme"]
    keys = {(t["key"], t.get("value")) for t in pod["tolerations"]}
    assert keys == {("trussd.dev/tenant", "acme"), ("nvidia.com/gpu", None)}
    quota = find(objects, "ResourceQuota")["spec"]["hard"]
    assert quota["requests.nvidia.com/gpu"] == str(2 * (4 + 1))  # max replicas + one surge pod


def test_cpu_truss_gets_no_gpu_toleration_or_product() -> None:
    pod = pod_spec(render_case("custom-cpu-keda").objects)
    assert [t["key"] for t in pod["tolerations"]] == ["trussd.dev/tenant"]
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]


def test_gpu_product_option_replaces_the_map() -> None:
    options = ManifestOptions(gpu_products=("H100-CUSTOM",))
    pod = pod_spec(render_manifests(spec_of("k8s-trtllm"), options).objects)
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    values = [e["values"] for e in terms["nodeSelectorTerms"][0]["matchExpressions"]]
    assert ["H100-CUSTOM"] in values


def test_every_accelerator_has_products() -> None:
    from trussd.config import Accelerator

    assert set(GPU_PRODUCTS) == set(Accelerator)
    assert all(GPU_PRODUCTS.values())


def test_sandboxed_sets_the_runtime_class_and_standard_does_not() -> None:
    assert pod_spec(render_case("vllm-h100x2-keda").objects)["runtimeClassName"] == "gvisor"
    assert "runtimeClassName" not in pod_spec(render_case("trtllm-h100-keda").objects)


def test_startup_probe_is_sized_for_loading() -> None:
    engine = pod_spec(render_case("vllm-h100x2-keda").objects)["containers"][0]
    probe = engine["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] == 1800  # engine startup timeout
    trt = pod_spec(render_case("trtllm-h100-keda").objects)["containers"][0]["startupProbe"]
    assert trt["periodSeconds"] * trt["failureThreshold"] == 1200  # health_checks wins
    assert engine["readinessProbe"]["httpGet"]["path"] == "/v1/models/model"
    assert engine["livenessProbe"]["httpGet"]["path"] == "/"


def test_grace_period_drains_streams() -> None:
    pod = pod_spec(render_case("vllm-h100x2-keda").objects)
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert int(env["TRUSSD_DRAIN_TIMEOUT"]) >= 300
    assert pod["terminationGracePeriodSeconds"] > int(env["TRUSSD_DRAIN_TIMEOUT"])


def test_writable_paths_are_empty_dirs_and_shm_is_memory() -> None:
    pod = pod_spec(render_case("vllm-h100x2-keda").objects)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert {"/tmp", "/cache", "/dev/shm"} <= set(mounts)
    assert volumes[mounts["/dev/shm"]]["emptyDir"]["medium"] == "Memory"
    assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_secrets_only_as_secret_references() -> None:
    objects = render_case("custom-cpu-keda").objects
    pod = pod_spec(objects)
    secret = next(v for v in pod["volumes"] if "secret" in v)["secret"]
    assert secret["secretName"] == "text-classifier-secrets"
    assert [i["key"] for i in secret["items"]] == ["api_token"]
    names = {e["name"] for e in pod["containers"][0]["env"]}
    assert "api_token" not in names


def test_hosts_go_through_the_proxy_and_cidrs_become_ip_blocks() -> None:
    objects = render_case("vllm-h100x2-keda").objects
    egress = next(p for p in all_of(objects, "NetworkPolicy") if p["spec"].get("egress"))
    annotations = egress["metadata"]["annotations"]
    assert annotations["trussd.dev/egress-allowed-hosts"] == "huggingface.co,cdn-lfs.huggingface.co"
    rules = egress["spec"]["egress"]
    ip_rule = next(r for r in rules if "ipBlock" in r["to"][0])
    assert ip_rule["to"][0]["ipBlock"]["cidr"] == "10.40.0.0/16"
    assert ip_rule["ports"] == [{"protocol": "TCP", "port": 9000}]
    selectors = [r["to"][0].get("namespaceSelector", {}).get("matchLabels", {}) for r in rules]
    proxy = rules[selectors.index({"kubernetes.io/metadata.name": "egress"})]
    assert proxy["ports"][0]["port"] == 3128
    env = {e["name"]: e["value"] for e in pod_spec(objects)["containers"][0]["env"]}
    assert env["HTTPS_PROXY"] == "http://squid.egress.svc.cluster.local:3128"


def test_no_store_hosts_means_dns_only_egress(tmp_path: Path) -> None:
    objects = _render(_truss(tmp_path, "model_name: m\n"))
    egress = next(p for p in all_of(objects, "NetworkPolicy") if p["spec"].get("egress"))
    assert len(egress["spec"]["egress"]) == 1
    assert {p["port"] for p in egress["spec"]["egress"][0]["ports"]} == {53}
    deny = next(p for p in all_of(objects, "NetworkPolicy") if p["spec"]["podSelector"] == {})
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_bad_egress_proxy_is_refused(tmp_path: Path) -> None:
    config = (
        "model_name: m\ndeployment:\n  model_store_hosts: [example.com]\n"
        "  egress_proxy: http://proxy:3128\n"
    )
    with pytest.raises(ManifestError, match="cluster Service URL"):
        _render(_truss(tmp_path, config))


def test_gateway_namespaces_from_config(tmp_path: Path) -> None:
    config = "model_name: m\ndeployment:\n  gateway_namespaces: [istio-ingress, monitoring]\n"
    objects = _render(_truss(tmp_path, config))
    ingress = next(p for p in all_of(objects, "NetworkPolicy") if p["spec"].get("ingress"))
    sources = ingress["spec"]["ingress"][0]["from"]
    peers = [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in sources]
    assert peers == ["istio-ingress", "monitoring"]


def test_image_by_digest_and_placeholder() -> None:
    container = pod_spec(render_case("custom-cpu-keda").objects)["containers"][0]
    assert "@sha256:" in container["image"]
    assert container["imagePullPolicy"] == "IfNotPresent"
    spec = spec_of("k8s-custom-cpu")
    rendered = render_manifests(spec)
    image = pod_spec(rendered.objects)["containers"][0]["image"]
    assert image == f"trussd/text-classifier:{spec.config_hash[:12]}"
    assert any("placeholder" in w for w in rendered.warnings)
    with pytest.raises(ManifestError, match="digest"):
        render_manifests(spec, ManifestOptions(image="repo@sha256:abc"))


def test_keda_scaled_object_and_route() -> None:
    objects = render_case("custom-cpu-keda").objects
    scaled = find(objects, "ScaledObject")["spec"]
    assert scaled["minReplicaCount"] == 0
    assert scaled["maxReplicaCount"] == 3
    assert scaled["cooldownPeriod"] == 300
    route = find(objects, "InterceptorRoute")["spec"]
    assert route["rules"][0]["hosts"] == ["classifier.acme.example.com"]
    assert route["scalingMetric"]["concurrency"]["targetValue"] == 4
    assert "replicas" not in find(objects, "Deployment")["spec"]  # owned by KEDA


def test_knative_annotations_and_no_plain_workload() -> None:
    objects = render_case("vllm-h100x2-knative").objects
    assert not [o for o in objects if o["kind"] == "Deployment"]
    service = find(objects, "Service", "serving.knative.dev/v1")
    notes = service["spec"]["template"]["metadata"]["annotations"]
    assert notes["autoscaling.knative.dev/min-scale"] == "0"
    assert notes["autoscaling.knative.dev/max-scale"] == "4"
    assert notes["autoscaling.knative.dev/target"] == "32"
    assert notes["autoscaling.knative.dev/scale-down-delay"] == "1200s"
    assert "lifecycle" not in service["spec"]["template"]["spec"]["containers"][0]


def test_knative_caps_scale_down_delay(tmp_path: Path) -> None:
    config = "model_name: m\ndeployment:\n  scale_down_delay_seconds: 7200\n"
    rendered = render_manifests(
        load_truss(_truss(tmp_path, config)), ManifestOptions(scale_to_zero=ScaleToZero.KNATIVE)
    )
    service = find(rendered.objects, "Service", "serving.knative.dev/v1")
    assert (
        service["spec"]["template"]["metadata"]["annotations"][
            "autoscaling.knative.dev/scale-down-delay"
        ]
        == "3600s"
    )
    assert any("1h" in w for w in rendered.warnings)
    assert rendered.check().ok


def test_none_mode_fixed_replicas_or_hpa() -> None:
    objects = render_case("docker-server-l4-none").objects
    assert "replicas" not in find(objects, "Deployment")["spec"]  # the HPA owns it
    hpa = find(objects, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 2)


def test_none_mode_without_room_renders_no_hpa(tmp_path: Path) -> None:
    config = "model_name: m\ndeployment:\n  min_replicas: 2\n  max_replicas: 2\n"
    objects = _render(_truss(tmp_path, config), scale_to_zero=ScaleToZero.NONE)
    assert find(objects, "Deployment")["spec"]["replicas"] == 2
    assert not all_of(objects, "HorizontalPodAutoscaler")


def test_docker_server_runs_as_its_uid() -> None:
    rendered = render_case("docker-server-l4-none")
    assert pod_spec(rendered.objects)["securityContext"]["runAsUser"] == 1001
    assert any("uid 1001" in w for w in rendered.warnings)


def test_names_become_dns_labels(tmp_path: Path) -> None:
    objects = _render(_truss(tmp_path, "model_name: 7B Chat_Model.v2\n"))
    assert find(objects, "Deployment")["metadata"]["name"] == "m-7b-chat-model-v2"
    with pytest.raises(ManifestError, match="DNS label"):
        _render(tmp_path, name="Bad_Name")


def test_long_tenant_is_refused() -> None:
    with pytest.raises(ManifestError, match="63"):
        render_manifests(spec_of("k8s-custom-cpu"), ManifestOptions(tenant="t" * 60))


def test_attribution_on_every_deployment_object() -> None:
    objects = render_case("trtllm-h100-keda").objects
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["trussd.dev/tenant"] == "globex"
        if obj["metadata"]["name"].startswith("qwen-7b-trt"):
            assert labels["trussd.dev/deployment"] == "qwen-7b-trt"
            assert "trussd.dev/config-hash" in obj["metadata"]["annotations"]


def test_hub_model_without_store_hosts_warns(tmp_path: Path) -> None:
    config = "model_name: m\nengine:\n  model: org/some-model\n"
    rendered = render_manifests(load_truss(_truss(tmp_path, config, model=False)))
    assert any("model_store_hosts" in w for w in rendered.warnings)
    assert not any(
        "model_store_hosts" in w for w in render_manifests(spec_of("k8s-vllm-h100")).warnings
    )


def test_fixtures_exist() -> None:
    for name in ("k8s-custom-cpu", "k8s-vllm-h100", "k8s-trtllm", "k8s-docker-server"):
        assert (FIXTURES / name / "config.yaml").is_file()


def test_bare_docker_server_is_probed_on_its_own_routes(tmp_path: Path) -> None:
    config = (
        "model_name: bare\nbase_image:\n  image: ghcr.io/example/server@sha256:"
        + "ab" * 32
        + "\ndocker_server:\n  no_build: true\n  server_port: 8000\n"
        "  predict_endpoint: /predict\n  readiness_endpoint: /ready\n  liveness_endpoint: /alive\n"
    )
    rendered = render_manifests(load_truss(_truss(tmp_path, config, model=False)))
    container = pod_spec(rendered.objects)["containers"][0]
    assert container["image"].startswith("ghcr.io/example/server@sha256:")
    assert container["ports"][0]["containerPort"] == 8000
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/ready",
        "port": 8000,
        "scheme": "HTTP",
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/alive"
    assert find(rendered.objects, "InterceptorRoute")["spec"]["target"]["port"] == 8000
    assert rendered.check().ok, rendered.check().render()


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("10.0.0.0/8", ("10.0.0.0/8", 443)),
        ("52.1.2.3:9000", ("52.1.2.3/32", 9000)),
        ("2001:db8::/32", ("2001:db8::/32", 443)),
    ],
)
def test_ip_entries_become_ip_blocks(tmp_path: Path, entry: str, rule: tuple[str, int]) -> None:
    config = f"model_name: m\ndeployment:\n  model_store_hosts: ['{entry}']\n"
    objects = _render(_truss(tmp_path, config))
    egress = next(p for p in all_of(objects, "NetworkPolicy") if p["spec"].get("egress"))
    blocks = [
        (r["to"][0]["ipBlock"]["cidr"], r["ports"][0]["port"])
        for r in egress["spec"]["egress"]
        if "ipBlock" in r["to"][0]
    ]
    assert blocks == [rule]
    assert "HTTPS_PROXY" not in {e["name"] for e in pod_spec(objects)["containers"][0]["env"]}


def test_bad_port_in_store_host_is_refused(tmp_path: Path) -> None:
    config = "model_name: m\ndeployment:\n  model_store_hosts: ['store.example.com:http']\n"
    with pytest.raises(ManifestError, match="invalid port"):
        _render(_truss(tmp_path, config))


def test_truss_egress_restrictions_join_the_allow_list(tmp_path: Path) -> None:
    config = (
        "model_name: m\nruntime:\n  egress_restrictions:\n    ip_allow_list: [192.168.1.0/24]\n"
        "    fqdn_allow_list: [weights.example.com]\n"
    )
    objects = _render(_truss(tmp_path, config))
    egress = next(p for p in all_of(objects, "NetworkPolicy") if p["spec"].get("egress"))
    assert egress["metadata"]["annotations"]["trussd.dev/egress-allowed-hosts"] == (
        "weights.example.com"
    )
    assert any("ipBlock" in r["to"][0] for r in egress["spec"]["egress"])
