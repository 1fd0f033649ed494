"""The replica-minute ledger, with an injected clock: boundaries, overlaps, duplicates, crashes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from trussd.control.metering import BillingOwner, Ledger, MinuteEvent, minutes_of
from trussd.control.pricing import PriceTable, load_price_table
from trussd.control.store import Store, open_store
from trussd.control.usage import cloudevents, usage_rows
from trussd.errors import ConfigError

T0 = 1_800_000_000 - (1_800_000_000 % 60)  # a minute boundary


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(None, tmp_path)


def owner(replica: str = "r1", deployment: str = "d1", instance: str = "cpu") -> BillingOwner:
    return BillingOwner(deployment, replica, "default", "echo", instance)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (T0, T0 + 1, 1),  # one second: one minute
        (T0, T0 + 60, 1),  # exactly one minute: the next one is not touched
        (T0, T0 + 60.001, 2),  # a millisecond into the next minute bills it
        (T0 + 59.9, T0 + 60.1, 2),  # 0.2 s across a boundary touches two minutes
        (T0 + 30, T0 + 30, 1),  # requested and stopped at once still bills one
        (T0 + 10, T0 + 3 * 60 + 10, 4),
    ],
)
def test_minutes_of_boundaries(start: float, end: float, expected: int) -> None:
    assert len(minutes_of(start, end)) == expected
    assert minutes_of(start, end).start == int(start // 60)


def test_bill_interval_is_idempotent_and_incremental(store: Store) -> None:
    clock = Clock(T0)
    ledger = Ledger(store, PriceTable(), clock)
    assert ledger.bill_interval(owner(), T0 + 5, T0 + 50) == 1
    assert ledger.bill_interval(owner(), T0 + 5, T0 + 50) == 0  # repeated
    assert ledger.bill_interval(owner(), T0 + 5, T0 + 130) == 2  # grew into two more minutes
    assert ledger.bill_interval(owner(), T0 + 5, T0 + 100) == 0  # a late, shorter report
    rows = usage_rows(store)
    assert [(r["minutes"], r["cost_micros"]) for r in rows] == [(3, 3 * PriceTable().price("cpu"))]


def test_overlapping_replicas_each_bill_their_minutes(store: Store) -> None:
    ledger = Ledger(store, PriceTable(), Clock(T0))
    ledger.bill_interval(owner("r1"), T0, T0 + 150)  # minutes 0, 1, 2
    ledger.bill_interval(owner("r2"), T0 + 70, T0 + 100)  # minute 1, at the same time as r1
    ledger.bill_interval(owner("r3", deployment="d2"), T0 + 70, T0 + 100)
    by_deployment = {r["deployment"]: r["minutes"] for r in usage_rows(store)}
    assert by_deployment == {"d1": 4, "d2": 1}


def test_duplicate_and_late_events_are_dropped(store: Store) -> None:
    ledger = Ledger(store, PriceTable(), Clock(T0))
    minute = T0 // 60
    events = [
        MinuteEvent(owner(), minute),
        MinuteEvent(owner(), minute),
        MinuteEvent(owner(), minute + 1),
    ]
    assert ledger.record(events) == 2
    assert ledger.record([MinuteEvent(owner(), minute - 5)]) == 1  # late but new: kept
    assert ledger.record(events) == 0  # replayed
    assert usage_rows(store)[0]["minutes"] == 3


def test_ledger_survives_a_crash_and_restart(tmp_path: Path) -> None:
    first = open_store(None, tmp_path)
    Ledger(first, PriceTable(), Clock(T0)).bill_interval(owner(), T0, T0 + 90)
    # The process dies without closing the store; a new one re-bills the same interval.
    second = open_store(None, tmp_path)
    ledger = Ledger(second, PriceTable(), Clock(T0 + 200))
    assert ledger.bill_interval(owner(), T0, T0 + 90) == 0
    assert ledger.bill_interval(owner(), T0, T0 + 200) == 2
    assert usage_rows(second)[0]["minutes"] == 4


def test_prices_are_frozen_into_rows(store: Store) -> None:
    cheap = Ledger(store, PriceTable(prices={"T4": 10}), Clock(T0))
    cheap.bill_interval(owner(instance="T4"), T0, T0 + 30)
    dear = Ledger(store, PriceTable(prices={"T4": 99}), Clock(T0))
    dear.bill_interval(owner(instance="T4"), T0, T0 + 90)
    assert usage_rows(store)[0]["cost_micros"] == 10 + 99


def test_price_lookup_rules(tmp_path: Path) -> None:
    table = PriceTable(prices={"H100": 100, "H100:8": 700, "cpu": 1}, default=5)
    assert table.price("H100") == 100
    assert table.price("H100:8") == 700  # an exact entry wins
    assert table.price("H100:2") == 200  # else count x the single-GPU price
    assert table.price("L4:4x16") == 5
    path = tmp_path / "prices.yaml"
    path.write_text("prices:\n  cpu: 7\ndefault: 3\n")
    assert load_price_table(path).price("cpu") == 7
    path.write_text("prices:\n  cpu: -1\n")
    with pytest.raises(ConfigError):
        load_price_table(path)
    path.write_text("prices:\n  cpu: 1.5\n")
    with pytest.raises(ConfigError):
        load_price_table(path)


def test_usage_window_and_cloudevents(store: Store) -> None:
    ledger = Ledger(store, PriceTable(), Clock(T0))
    ledger.bill_interval(owner(), T0, T0 + 600)  # ten minutes
    assert usage_rows(store, since=T0 + 120, until=T0 + 300)[0]["minutes"] == 3
    assert usage_rows(store, tenant="other") == []
    events = list(cloudevents(store, since=T0, until=T0 + 120))
    starts = [dt.datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in events]
    assert [s.timestamp() for s in starts] == [T0, T0 + 60]
    assert len({e["id"] for e in events}) == 2
    assert all(e["specversion"] == "1.0" and e["data"]["quantity"] == 1 for e in events)
