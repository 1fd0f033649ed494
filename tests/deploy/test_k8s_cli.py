"""`trussd manifests`: stdout, --out, --check, --apply (with a stand-in kubectl), bad input."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.deploy.k8s_cases import DIGEST, FIXTURES
from trussd.cli.main import cli
from trussd.deploy.k8s import load_yaml

VLLM = str(FIXTURES / "k8s-vllm-h100")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # A real process: the installed entry point must find its bundled CRDs on its own.
    command = [sys.executable, "-m", "trussd.cli.main", "manifests", *args]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, env=env, timeout=120
    )


def test_stdout_is_yaml_and_tenant_overrides() -> None:
    result = CliRunner().invoke(cli, ["manifests", VLLM, "--tenant", "initech"])
    assert result.exit_code == 0, result.output
    objects = load_yaml(result.stdout)
    assert objects[0]["metadata"]["name"] == "trussd-initech"
    assert objects[-1]["kind"] == "ScaledObject"
    assert "placeholder" in result.stderr


@pytest.mark.parametrize("mode", ["keda", "knative", "none"])
def test_check_passes_for_each_mode(mode: str) -> None:
    image = f"reg.example.com/llm@{DIGEST}"
    result = CliRunner().invoke(
        cli, ["manifests", VLLM, "--scale-to-zero", mode, "--image", image, "--check"]
    )
    assert result.exit_code == 0, result.output
    assert "passed every check" in result.stderr


def test_out_writes_numbered_files_and_removes_stale_ones(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "99-old-object.yaml").write_text("stale")
    (out / "notes.txt").write_text("kept")
    result = CliRunner().invoke(cli, ["manifests", VLLM, "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.glob("*.yaml"))
    assert names[0] == "00-namespace-trussd-acme.yaml"
    assert "99-old-object.yaml" not in names
    assert (out / "notes.txt").read_text() == "kept"
    assert any(n.endswith("scaledobject-llama-3-1-70b-instruct.yaml") for n in names)


def test_apply_without_out_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["manifests", VLLM, "--apply"])
    assert result.exit_code == 2
    assert "--out" in result.output


@pytest.mark.e2e
def test_apply_without_kubectl_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    result = _run(VLLM, "--out", str(tmp_path / "o"), "--apply", env=env)
    assert result.returncode == 1
    assert "kubectl" in result.stderr


@pytest.mark.e2e
def test_apply_runs_server_side_apply(tmp_path: Path) -> None:
    """A stand-in kubectl records its arguments: the apply is server-side, with our manager."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "args.json"
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"json.dump(sys.argv[1:], open({str(record)!r}, 'w'))\nprint('applied')\n"
    )
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env["KUBECONFIG"] = str(kubeconfig)
    out = tmp_path / "o"
    result = _run(VLLM, "--out", str(out), "--apply", "--check", env=env)
    assert result.returncode == 0, result.stderr
    assert "applied" in result.stdout
    args = json.loads(record.read_text())
    assert args[:2] == ["apply", "--server-side"]
    assert "--field-manager=trussd" in args
    assert args[-1] == str(out)


def test_invalid_truss_exits_1(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("resources: {memory: 2GB}\n")
    result = CliRunner().invoke(cli, ["manifests", str(tmp_path)])
    assert result.exit_code == 1
    assert "memory" in result.stderr


def test_manifest_error_exits_1() -> None:
    result = CliRunner().invoke(cli, ["manifests", VLLM, "--image", "repo@sha256:nope"])
    assert result.exit_code == 1
    assert "digest" in result.stderr


def test_crd_dir_finds_crds_by_group_and_kind(tmp_path: Path) -> None:
    bundled = Path(__file__).resolve().parents[2] / "trussd" / "deploy" / "k8s" / "crds"
    for index, source in enumerate(sorted(bundled.glob("*.yaml"))):
        (tmp_path / f"crd-{index}.yml").write_text(source.read_text())
    args = ["manifests", VLLM, "--check", "--crd-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (tmp_path / "crd-0.yml").unlink()  # the InterceptorRoute CRD (sorted first)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "no CRD for InterceptorRoute" in result.stderr


def test_rendering_needs_no_validator_but_check_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)  # as if not installed
    result = CliRunner().invoke(cli, ["manifests", VLLM])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["manifests", VLLM, "--check"])
    assert result.exit_code == 1
    assert "trussd[k8s]" in result.stderr
