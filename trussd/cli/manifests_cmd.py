"""`trussd manifests DIR --tenant T`: Kubernetes manifests of a truss, checked offline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from trussd.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    from trussd.deploy.k8s.render import Manifests

__all__ = ["manifests"]


@click.command("manifests")
@click.argument("truss_dir", type=click.Path(path_type=Path))
@click.option("--tenant", help="Tenant (namespace trussd-TENANT); overrides deployment.tenant.")
@click.option(
    "--scale-to-zero",
    "scale_to_zero",
    type=click.Choice(["keda", "knative", "none"]),
    default="keda",
    show_default=True,
    help="keda: ScaledObject + HTTP add-on InterceptorRoute; knative: a Knative Service; "
    "none: fixed replicas or an HPA.",
)
@click.option(
    "--image", help="Image reference, ideally REPO@sha256:DIGEST (default: a placeholder)."
)
@click.option("--name", help="Deployment name (a DNS label); default from model_name.")
@click.option("--host", "hosts", multiple=True, help="Host name routed here (KEDA); repeatable.")
@click.option(
    "--gpu-product",
    "gpu_products",
    multiple=True,
    help="nvidia.com/gpu.product node label value; repeatable; replaces the built-in map.",
)
@click.option(
    "--kube-version", default="1.33", show_default=True, help="Kubernetes minor to check."
)
@click.option(
    "--crd-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Check custom resources against the CRDs in this folder (e.g. your cluster's).",
)
@click.option(
    "--out", "out", type=click.Path(path_type=Path), help="Write one file per object here."
)
@click.option("--check", "check", is_flag=True, help="Validate; exit 1 on any problem.")
@click.option("--apply", "apply", is_flag=True, help="kubectl apply --server-side (needs --out).")
def manifests(
    truss_dir: Path,
    tenant: str | None,
    scale_to_zero: str,
    image: str | None,
    name: str | None,
    hosts: tuple[str, ...],
    gpu_products: tuple[str, ...],
    kube_version: str,
    crd_dir: Path | None,
    out: Path | None,
    check: bool,
    apply: bool,
) -> None:
    """Render single-tenant, compliance-isolated Kubernetes manifests for TRUSS_DIR.

    Without --out the YAML goes to stdout; warnings and check results go to stderr.
    """
    # Imported here: `trussd --help` should not pay for kubernetes-validate and jsonschema.
    from trussd.config import load_truss
    from trussd.deploy.k8s import ManifestOptions, ScaleToZero, render_manifests

    try:
        spec = load_truss(truss_dir)
        options = ManifestOptions(
            tenant=tenant,
            scale_to_zero=ScaleToZero(scale_to_zero),
            image=image,
            name=name,
            hosts=hosts,
            gpu_products=gpu_products,
            kube_version=kube_version,
        )
        _emit(render_manifests(spec, options), crd_dir, check, out, apply)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except ManifestError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _emit(
    rendered: Manifests, crd_dir: Path | None, check: bool, out: Path | None, apply: bool
) -> None:
    """Warnings and the check report to stderr; the YAML to stdout, or files into ``out``."""
    from trussd.deploy.k8s import server_side_apply

    for warning in rendered.warnings:
        click.echo(f"warning: {warning}", err=True)
    if check:
        report = rendered.check(crd_dir.resolve() if crd_dir else None)
        click.echo(report.render(), err=True)
        if not report.ok:
            sys.exit(1)
    if apply and out is None:
        raise click.UsageError("--apply needs --out DIR (the files that are applied)")
    if out is None:
        click.echo(rendered.to_yaml(), nl=False)
        return
    for path in rendered.write(out):
        click.echo(str(path))
    if apply:
        click.echo(server_side_apply(out), nl=False)
