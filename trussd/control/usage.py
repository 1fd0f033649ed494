"""Usage reports from the ledger, and their export as CloudEvents JSON lines.

Each exported event is one replica-minute. Its ``id`` is the ledger key, so a billing system
that receives an event twice (a re-run export, overlapping windows) can drop the copy.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from typing import Any

from trussd.control.store import Store

__all__ = ["EVENT_TYPE", "cloudevents", "usage_rows"]

EVENT_TYPE = "io.trussd.usage.replica_minute"


def _window(since: float | None, until: float | None, tenant: str | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("minute >= ?")
        params.append(int(since // 60))
    if until is not None:
        clauses.append("minute < ?")
        params.append(int(-(-until // 60)))
    if tenant is not None:
        clauses.append("tenant = ?")
        params.append(tenant)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def usage_rows(
    store: Store,
    *,
    since: float | None = None,
    until: float | None = None,
    tenant: str | None = None,
) -> list[dict[str, Any]]:
    """Minutes and cost per deployment in ``[since, until)`` (whole minutes)."""
    where, params = _window(since, until, tenant)
    rows = store.query(
        "SELECT tenant, model, deployment, instance_type, COUNT(*) AS minutes,"
        " SUM(price_micros) AS cost_micros, MIN(minute) AS first_minute, MAX(minute) AS last_minute"
        f" FROM ledger{where} GROUP BY tenant, model, deployment, instance_type"
        " ORDER BY tenant, model, deployment",
        params,
    )
    for row in rows:
        row["minutes"] = int(row["minutes"])
        row["cost_micros"] = int(row["cost_micros"])
        row["cost_usd"] = f"{row['cost_micros'] / 1_000_000:.6f}"
    return rows


def cloudevents(
    store: Store,
    *,
    since: float | None = None,
    until: float | None = None,
    tenant: str | None = None,
) -> Iterator[dict[str, Any]]:
    where, params = _window(since, until, tenant)
    source = f"trussd://{socket.gethostname()}"
    rows = store.query(
        "SELECT deployment, replica, minute, tenant, model, instance_type, price_micros"
        f" FROM ledger{where} ORDER BY minute, deployment, replica",
        params,
    )
    for row in rows:
        start = dt.datetime.fromtimestamp(int(row["minute"]) * 60, tz=dt.UTC)
        yield {
            "specversion": "1.0",
            "type": EVENT_TYPE,
            "source": source,
            "id": f"{row['deployment']}/{row['replica']}/{row['minute']}",
            "time": start.isoformat().replace("+00:00", "Z"),
            "subject": f"{row['tenant']}/{row['model']}/{row['deployment']}",
            "datacontenttype": "application/json",
            "data": {
                "tenant": row["tenant"],
                "model": row["model"],
                "deployment": row["deployment"],
                "replica": row["replica"],
                "minute_start": start.isoformat().replace("+00:00", "Z"),
                "quantity": 1,
                "unit": "replica-minute",
                "instance_type": row["instance_type"],
                "price_micros": int(row["price_micros"]),
            },
        }
