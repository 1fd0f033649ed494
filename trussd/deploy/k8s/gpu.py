"""Placement: the accelerator → GPU product label map, tolerations and node affinity.

NVIDIA's GPU Feature Discovery (part of the GPU Operator) labels each GPU node with
``nvidia.com/gpu.product``: the name ``nvidia-smi`` prints, spaces replaced by ``-``. One
accelerator type of config.yaml covers several boards (SXM, PCIe, NVL), so a replica may land
on any product listed here. Clusters that label nodes differently pass ``--gpu-product``.
"""

from __future__ import annotations

from trussd.config import Accelerator
from trussd.deploy.k8s.context import Target

__all__ = [
    "GPU_PRODUCTS",
    "GPU_PRODUCT_LABEL",
    "GPU_RESOURCE",
    "GPU_TAINT_KEY",
    "TENANT_POOL_KEY",
    "affinity",
    "gpu_products",
    "tolerations",
]

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
# The taint GPU node pools carry (GKE and EKS add it; the GPU Operator docs recommend it).
GPU_TAINT_KEY = "nvidia.com/gpu"
# A tenant's dedicated pool: nodes labelled AND tainted `trussd.dev/tenant=<tenant>:NoSchedule`.
TENANT_POOL_KEY = "trussd.dev/tenant"

GPU_PRODUCTS: dict[Accelerator, tuple[str, ...]] = {
    Accelerator.T4: ("Tesla-T4",),
    Accelerator.L4: ("NVIDIA-L4",),
    Accelerator.A10G: ("NVIDIA-A10G",),
    Accelerator.V100: (
        "Tesla-V100-SXM2-16GB",
        "Tesla-V100-SXM2-32GB",
        "Tesla-V100-PCIE-16GB",
        "Tesla-V100-PCIE-32GB",
    ),
    Accelerator.A100: ("NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"),
    Accelerator.A100_40GB: ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB"),
    Accelerator.H100: ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"),
    # Half an H100 through MIG (the GPU Operator's `single` strategy names the slice).
    Accelerator.H100_40GB: ("NVIDIA-H100-80GB-HBM3-MIG-3g.40gb",),
    Accelerator.H200: ("NVIDIA-H200", "NVIDIA-H200-NVL"),
    Accelerator.B200: ("NVIDIA-B200",),
    Accelerator.B300: ("NVIDIA-B300-SXM6-AC",),
    Accelerator.GB300: ("NVIDIA-GB300",),
    Accelerator.B10: ("NVIDIA-GB10",),
    Accelerator.L40S: ("NVIDIA-L40S",),
    Accelerator.RTX_PRO_6000: ("NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition",),
}


def gpu_products(target: Target) -> tuple[str, ...]:
    """Product label values a replica may run on; empty for CPU trusses."""
    accelerator = target.spec.config.resources.accelerator.accelerator
    if accelerator is None or target.gpu_count == 0:
        return ()
    if target.options.gpu_products:
        return target.options.gpu_products
    return GPU_PRODUCTS[accelerator]


def tolerations(target: Target) -> list[dict[str, object]]:
    """Tolerate the tenant's dedicated-pool taint, and the GPU taint when a GPU is asked for."""
    result: list[dict[str, object]] = [
        {
            "key": TENANT_POOL_KEY,
            "operator": "Equal",
            "value": target.tenant,
            "effect": "NoSchedule",
        }
    ]
    if gpu_products(target):
        result.append({"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"})
    return result


def affinity(target: Target) -> dict[str, object]:
    """Required node affinity: the tenant's own pool, and one of the accepted GPU products.

    A toleration only lets a pod onto tainted nodes; the affinity is what keeps it off every
    other node, so both are needed for single tenancy.
    """
    expressions: list[dict[str, object]] = [
        {"key": TENANT_POOL_KEY, "operator": "In", "values": [target.tenant]}
    ]
    products = gpu_products(target)
    if products:
        expressions.append({"key": GPU_PRODUCT_LABEL, "operator": "In", "values": list(products)})
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": expressions}]
            }
        }
    }
