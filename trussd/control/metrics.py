"""The control plane's Prometheus metrics, in a registry of its own (one per app instance).

``trussd_billable_replica_minutes_total`` and ``trussd_billed_micros_total`` are read from the
ledger at scrape time, so they are exact and survive restarts of the control plane.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from trussd.control.metering import Ledger

__all__ = ["ControlMetrics"]

_COLD_START_BUCKETS = (
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
    300.0,
)


class _LedgerCollector(Collector):
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def collect(self) -> Iterator[Metric]:
        labels = ["tenant", "model", "deployment", "instance_type"]
        minutes = CounterMetricFamily(
            "trussd_billable_replica_minutes", "Replica-minutes in the ledger.", labels=labels
        )
        cost = CounterMetricFamily(
            "trussd_billed_micros", "Cost of those minutes in micro-dollars.", labels=labels
        )
        for row in self._ledger.totals():
            values = [str(row[name]) for name in labels]
            minutes.add_metric(values, float(row["minutes"]))  # type: ignore[arg-type]
            cost.add_metric(values, float(row["cost_micros"]))  # type: ignore[arg-type]
        yield minutes
        yield cost


class ControlMetrics:
    def __init__(self, ledger: Ledger) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_LedgerCollector(ledger))
        self.cold_start = Histogram(
            "trussd_cold_start_seconds",
            "From a request for a replica to the replica being ready.",
            ["model", "deployment"],
            buckets=_COLD_START_BUCKETS,
            registry=self.registry,
        )
        self.replicas = Gauge(
            "trussd_replicas",
            "Replicas by state.",
            ["model", "deployment", "state"],
            registry=self.registry,
        )
        self.queued = Gauge(
            "trussd_activator_waiting_requests",
            "Requests waiting for a replica.",
            ["model", "deployment"],
            registry=self.registry,
        )
        self.requests = Counter(
            "trussd_proxied_requests",
            "Requests forwarded to replicas, by outcome.",
            ["model", "deployment", "outcome"],
            registry=self.registry,
        )
        self.crashes = Counter(
            "trussd_replica_crashes",
            "Replicas that exited on their own.",
            ["model", "deployment"],
            registry=self.registry,
        )
