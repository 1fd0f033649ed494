"""Kubernetes manifests of a truss: single-tenant, compliance-isolated, scale to zero.

``render_manifests(spec, options)`` builds plain dicts (pure, no I/O); ``Manifests.check()``
validates them (kubernetes-validate strict, the real CRD schemas, our semantic rules, secret
leaks); ``Manifests.write(dir)`` writes one numbered file per object.
"""

from trussd.deploy.k8s.apply import server_side_apply
from trussd.deploy.k8s.checks import CheckReport, Problem, check_manifests
from trussd.deploy.k8s.context import ManifestOptions, ScaleToZero, Target
from trussd.deploy.k8s.gpu import GPU_PRODUCTS
from trussd.deploy.k8s.render import Manifests, dump_yaml, load_yaml, render_manifests

__all__ = [
    "GPU_PRODUCTS",
    "CheckReport",
    "ManifestOptions",
    "Manifests",
    "Problem",
    "ScaleToZero",
    "Target",
    "check_manifests",
    "dump_yaml",
    "load_yaml",
    "render_manifests",
    "server_side_apply",
]
