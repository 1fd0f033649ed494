"""The live state of one deployment in the local runtime: its replicas and who waits for them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from trussd.control.logs import DeploymentLog
from trussd.control.registry import DeploymentRecord
from trussd.control.replica import Replica, ReplicaState

__all__ = ["Pool"]


@dataclass
class Pool:
    record: DeploymentRecord
    log: DeploymentLog
    replicas: dict[str, Replica] = field(default_factory=dict)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    waiting: int = 0
    last_activity: float = field(default_factory=time.monotonic)
    start_failures: int = 0
    failure: str | None = None
    last_cold_start: dict[str, float] = field(default_factory=dict)
    deleted: bool = False

    @property
    def id(self) -> str:
        return self.record.id

    def ready(self) -> list[Replica]:
        return [r for r in self.replicas.values() if r.state is ReplicaState.READY]

    def running(self) -> list[Replica]:
        live = (ReplicaState.STARTING, ReplicaState.READY)
        return [r for r in self.replicas.values() if r.state in live]

    @property
    def inflight(self) -> int:
        return sum(r.inflight for r in self.replicas.values())

    def pick(self) -> Replica | None:
        """The ready replica with the fewest requests in flight."""
        best: Replica | None = None
        for replica in self.replicas.values():
            if replica.state is ReplicaState.READY and (
                best is None or replica.inflight < best.inflight
            ):
                best = replica
        return best

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()
