"""The activator: hands each request a ready replica, holding it in a bounded queue while none is.

A request that finds no ready replica waits (at most ``cold_start_timeout_seconds``) while the
runtime starts one; nothing is dropped while there is room in the queue (``max_queue``), and a
request beyond that gets a clean 429 at once instead of an unbounded wait. When a replica's load
passes ``concurrency_target`` the runtime is woken to add one, but the request is still served
by the least-loaded ready replica rather than queued behind a start.
"""

from __future__ import annotations

import asyncio

from trussd.control.pool import Pool
from trussd.control.replica import Replica
from trussd.control.runtime import Runtime
from trussd.errors import EngineUnavailable, NotFound, Overloaded, RequestTimeout

__all__ = ["Activator"]


class Activator:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def acquire(self, pool: Pool) -> Replica:
        replica = pool.pick()
        if replica is None:
            replica = await self._wait(pool)
        replica.inflight += 1
        pool.touch()
        ready = len(pool.ready())
        if pool.inflight > ready * pool.record.settings.concurrency_target:
            self.runtime.kick()
        return replica

    def release(self, pool: Pool, replica: Replica) -> None:
        replica.inflight -= 1
        pool.touch()

    def _check(self, pool: Pool) -> None:
        if pool.deleted:
            raise NotFound(f"deployment `{pool.id}` was deleted")
        if pool.failure:
            raise EngineUnavailable(f"deployment `{pool.id}` failed: {pool.failure}")

    async def _wait(self, pool: Pool) -> Replica:
        self._check(pool)
        settings = pool.record.settings
        if pool.waiting >= settings.max_queue:
            raise Overloaded(f"{pool.waiting} requests already wait for deployment `{pool.id}`")
        gauge = self.runtime.metrics.queued.labels(pool.record.model, pool.id)
        pool.waiting += 1
        gauge.inc()
        self.runtime.kick()
        try:
            async with pool.changed:
                await asyncio.wait_for(
                    pool.changed.wait_for(
                        lambda: bool(pool.pick() or pool.failure or pool.deleted)
                    ),
                    settings.cold_start_timeout_seconds,
                )
        except TimeoutError as exc:
            raise RequestTimeout(
                f"no replica of `{pool.id}` became ready within "
                f"{settings.cold_start_timeout_seconds}s"
            ) from exc
        finally:
            pool.waiting -= 1
            gauge.dec()
        self._check(pool)
        replica = pool.pick()
        if replica is None:  # pragma: no cover - wait_for's predicate guarantees one
            raise EngineUnavailable(f"no replica of `{pool.id}` is ready")
        return replica
