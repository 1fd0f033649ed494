"""Per-tenant secrets. A replica gets, as ``TRUSSD_SECRET_<name>``, only the secrets its
config.yaml names under ``secrets:`` — never the rest of its tenant's, never another tenant's."""

from __future__ import annotations

import time
from collections.abc import Iterable

from trussd.config.build import check_secret_name
from trussd.control.store import Store
from trussd.errors import InputError, NotFound

__all__ = ["SECRET_ENV_PREFIX", "delete_secret", "list_secret_names", "secret_env", "set_secret"]

SECRET_ENV_PREFIX = "TRUSSD_SECRET_"


def set_secret(store: Store, tenant: str, name: str, value: str) -> None:
    try:
        check_secret_name(name)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    store.execute(
        "INSERT INTO secrets (tenant, name, value, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tenant, name) DO UPDATE SET value = excluded.value,"
        " updated_at = excluded.updated_at",
        (tenant, name, value, time.time()),
    )


def list_secret_names(store: Store, tenant: str) -> list[str]:
    rows = store.query("SELECT name FROM secrets WHERE tenant = ? ORDER BY name", (tenant,))
    return [row["name"] for row in rows]


def delete_secret(store: Store, tenant: str, name: str) -> None:
    if store.execute("DELETE FROM secrets WHERE tenant = ? AND name = ?", (tenant, name)) == 0:
        raise NotFound(f"no secret `{name}`")


def secret_env(store: Store, tenant: str, names: Iterable[str]) -> dict[str, str]:
    """Environment entries for the named secrets that the tenant has set."""
    wanted = set(names)
    rows = store.query("SELECT name, value FROM secrets WHERE tenant = ?", (tenant,))
    return {SECRET_ENV_PREFIX + row["name"]: row["value"] for row in rows if row["name"] in wanted}
