"""How many replicas a deployment should run, from ``deployment:`` and the current demand.

Demand is requests in flight plus requests waiting in the activator. Scaling up is immediate:
``ceil(demand / concurrency_target)`` replicas, at least one while anything waits. Scaling down
waits until the deployment has had no request start or finish for ``scale_down_delay_seconds``,
then steps down one replica per decision, never below ``min_replicas``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trussd.config.sections import DeploymentConfig

__all__ = ["Demand", "desired_replicas"]


@dataclass(frozen=True)
class Demand:
    inflight: int
    waiting: int
    running: int  # replicas starting or ready
    idle_seconds: float  # since the last request started or finished


def desired_replicas(config: DeploymentConfig, demand: Demand) -> int:
    load = demand.inflight + demand.waiting
    needed = math.ceil(load / config.concurrency_target)
    if demand.waiting:
        needed = max(needed, 1)
    needed = min(max(needed, config.min_replicas), config.max_replicas)
    if needed >= demand.running:
        return needed
    if demand.idle_seconds >= config.scale_down_delay_seconds:
        return max(needed, demand.running - 1)
    return demand.running
