"""The replica-minute ledger.

Every minute during which a replica was up — from the moment it was requested to the moment it
stopped — is one billable replica-minute. A minute is the integer ``floor(unix_seconds / 60)``.
Each is one ledger row keyed by ``(deployment, replica, minute)``; writes are
``INSERT ... ON CONFLICT DO NOTHING``, so repeated, late or replayed events change nothing, and a
control plane that crashes and re-bills an interval on restart cannot bill a minute twice.
Each row carries the price in force when it was written (integer micro-dollars).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from trussd.control.pricing import PriceTable
from trussd.control.store import Store

__all__ = ["BillingOwner", "Ledger", "MinuteEvent", "minutes_of"]

Clock = Callable[[], float]


def minutes_of(start: float, end: float) -> range:
    """Minutes that ``[start, end)`` touches; a replica stopped at once still bills one."""
    first = math.floor(start / 60)
    last = max(first, math.ceil(end / 60) - 1)
    return range(first, last + 1)


@dataclass(frozen=True)
class BillingOwner:
    """What a replica bills to."""

    deployment: str
    replica: str
    tenant: str
    model: str
    instance_type: str


@dataclass(frozen=True)
class MinuteEvent:
    owner: BillingOwner
    minute: int


class Ledger:
    def __init__(self, store: Store, prices: PriceTable, clock: Clock = time.time) -> None:
        self._store = store
        self._prices = prices
        self._clock = clock

    def record(self, events: Iterable[MinuteEvent]) -> int:
        """Write events; returns how many minutes were new (duplicates are ignored)."""
        now = self._clock()
        added = 0
        with self._store.transaction():
            for event in events:
                o = event.owner
                added += self._store.execute(
                    "INSERT INTO ledger (deployment, replica, minute, tenant, model, instance_type,"
                    " price_micros, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (deployment, replica, minute) DO NOTHING",
                    (
                        o.deployment,
                        o.replica,
                        event.minute,
                        o.tenant,
                        o.model,
                        o.instance_type,
                        self._prices.price(o.instance_type),
                        now,
                    ),
                )
        return added

    def bill_interval(self, owner: BillingOwner, start: float, end: float) -> int:
        """Bill every minute of ``[start, end)`` not yet in the ledger for this replica."""
        row = self._store.one(
            "SELECT MAX(minute) AS last FROM ledger WHERE deployment = ? AND replica = ?",
            (owner.deployment, owner.replica),
        )
        minutes = minutes_of(start, end)
        done = row["last"] if row and row["last"] is not None else minutes.start - 1
        todo = range(max(minutes.start, int(done) + 1), minutes.stop)
        if not todo:
            return 0
        return self.record(MinuteEvent(owner, minute) for minute in todo)

    def totals(self) -> list[dict[str, object]]:
        """Minutes and cost per (tenant, model, deployment, instance type), for ``/metrics``."""
        return self._store.query(
            "SELECT tenant, model, deployment, instance_type, COUNT(*) AS minutes,"
            " SUM(price_micros) AS cost_micros FROM ledger"
            " GROUP BY tenant, model, deployment, instance_type"
        )
