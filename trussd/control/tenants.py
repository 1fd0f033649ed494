"""Tenants: the owners of keys, secrets, models and deployments. A name is a DNS label."""

from __future__ import annotations

import time

from trussd.config.sections import is_dns_label
from trussd.control.store import Store
from trussd.errors import InputError

__all__ = ["DEFAULT_TENANT", "check_tenant_name", "ensure_tenant", "list_tenants"]

DEFAULT_TENANT = "default"


def check_tenant_name(name: str) -> str:
    if not is_dns_label(name):
        raise InputError(
            f"tenant `{name}` is not a DNS label",
            hint="use lower-case letters, digits and `-`, e.g. `acme-ml`",
        )
    return name


def ensure_tenant(store: Store, name: str) -> None:
    check_tenant_name(name)
    store.execute(
        "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (name, time.time()),
    )


def list_tenants(store: Store) -> list[str]:
    return [row["name"] for row in store.query("SELECT name FROM tenants ORDER BY name")]
