"""Scaling decisions from `deployment:` and demand."""

from __future__ import annotations

import pytest

from trussd.config.sections import DeploymentConfig
from trussd.control.autoscaler import Demand, desired_replicas

CFG = DeploymentConfig(
    min_replicas=0, max_replicas=3, concurrency_target=2, scale_down_delay_seconds=60
)


@pytest.mark.parametrize(
    ("demand", "expected"),
    [
        (Demand(inflight=0, waiting=0, running=0, idle_seconds=0), 0),  # asleep stays asleep
        (
            Demand(inflight=0, waiting=1, running=0, idle_seconds=0),
            1,
        ),  # a waiting request wakes one
        (Demand(inflight=3, waiting=0, running=1, idle_seconds=0), 2),  # over target: one more
        (Demand(inflight=40, waiting=9, running=1, idle_seconds=0), 3),  # capped at max_replicas
        (Demand(inflight=0, waiting=0, running=2, idle_seconds=59), 2),  # idle, but not long enough
        (Demand(inflight=0, waiting=0, running=2, idle_seconds=60), 1),  # one step down
        (Demand(inflight=0, waiting=0, running=1, idle_seconds=600), 0),  # to zero
    ],
)
def test_decisions(demand: Demand, expected: int) -> None:
    assert desired_replicas(CFG, demand) == expected


def test_min_replicas_is_a_floor() -> None:
    cfg = DeploymentConfig(min_replicas=1, max_replicas=2, scale_down_delay_seconds=0)
    assert desired_replicas(cfg, Demand(inflight=0, waiting=0, running=0, idle_seconds=1e9)) == 1
    assert desired_replicas(cfg, Demand(inflight=0, waiting=0, running=2, idle_seconds=1e9)) == 1
