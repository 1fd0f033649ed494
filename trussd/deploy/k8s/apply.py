"""`--apply`: server-side apply through kubectl, when there is a cluster to apply to."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from trussd.errors import ManifestError

__all__ = ["FIELD_MANAGER", "apply_command", "server_side_apply"]

FIELD_MANAGER = "trussd"


def apply_command(directory: Path, kubectl: str = "kubectl") -> list[str]:
    """Server-side apply owns each field under one manager, so a re-apply never fights the
    autoscaler over `replicas` (which these manifests leave out) and conflicts are reported."""
    return [
        kubectl,
        "apply",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
        "--force-conflicts=false",
        "-f",
        str(directory),
    ]


def server_side_apply(directory: Path) -> str:
    """Apply every file of ``directory``; ManifestError with kubectl's message on failure."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ManifestError(
            "--apply needs kubectl on PATH",
            hint="install kubectl, or apply the files yourself: "
            f"kubectl apply --server-side -f {directory}",
        )
    config = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if not any(Path(p).is_file() for p in config.split(os.pathsep) if p):
        raise ManifestError(
            "--apply needs a cluster: KUBECONFIG names no kubeconfig file",
            hint="point KUBECONFIG at your cluster's kubeconfig",
        )
    result = subprocess.run(
        apply_command(directory, kubectl), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ManifestError(
            f"kubectl apply failed:\n{result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout
