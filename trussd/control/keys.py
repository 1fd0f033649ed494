"""API keys: random tokens shown once, stored only as SHA-256 hashes, each owned by one tenant.

A key has 256 random bits, so a plain (unsalted) SHA-256 is enough to make the stored hash
useless to a reader of the database, and it lets a request be authenticated with one indexed
lookup instead of a slow KDF per request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from trussd.control.store import Store
from trussd.control.tenants import DEFAULT_TENANT, ensure_tenant
from trussd.errors import NotFound, Unauthorized

__all__ = [
    "KEY_PREFIX",
    "ApiKey",
    "Principal",
    "authenticate",
    "bootstrap_admin_key",
    "create_key",
    "hash_key",
    "list_keys",
    "parse_authorization",
    "revoke_key",
]

KEY_PREFIX = "tdk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, and whether the key may manage tenants and keys."""

    key_id: str
    tenant: str
    is_admin: bool


@dataclass(frozen=True)
class ApiKey:
    id: str
    secret: str  # the only time the clear key exists outside the caller
    tenant: str
    is_admin: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    store: Store, tenant: str, *, is_admin: bool = False, secret: str | None = None
) -> ApiKey:
    ensure_tenant(store, tenant)
    clear = secret or KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = "key_" + secrets.token_hex(6)
    store.execute(
        "INSERT INTO api_keys (id, key_hash, tenant, is_admin, created_at) VALUES (?, ?, ?, ?, ?)",
        (key_id, hash_key(clear), tenant, int(is_admin), time.time()),
    )
    return ApiKey(id=key_id, secret=clear, tenant=tenant, is_admin=is_admin)


def bootstrap_admin_key(store: Store, env_key: str | None) -> ApiKey | None:
    """Create the first admin key when there is none; returns it (to print once) or None.

    With ``env_key`` (``TRUSSD_BOOTSTRAP_API_KEY``) that exact key is registered, so scripts
    know it in advance; registering it again on a later start is a no-op.
    """
    if env_key:
        if store.one("SELECT id FROM api_keys WHERE key_hash = ?", (hash_key(env_key),)):
            return None
        return create_key(store, DEFAULT_TENANT, is_admin=True, secret=env_key)
    if store.one("SELECT id FROM api_keys WHERE is_admin = 1 AND revoked_at IS NULL"):
        return None
    return create_key(store, DEFAULT_TENANT, is_admin=True)


def parse_authorization(header: str | None) -> str:
    """``Api-Key K`` (Baseten's form) or ``Bearer K`` (what OpenAI clients send) → ``K``."""
    if not header:
        raise Unauthorized("missing API key", hint="send `Authorization: Api-Key <key>`")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() not in ("api-key", "bearer") or not value.strip():
        raise Unauthorized(
            "malformed Authorization header", hint="use `Api-Key <key>` or `Bearer <key>`"
        )
    return value.strip()


def authenticate(store: Store, key: str) -> Principal:
    row = store.one(
        "SELECT id, tenant, is_admin FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        (hash_key(key),),
    )
    if row is None:
        raise Unauthorized("invalid API key")
    return Principal(key_id=row["id"], tenant=row["tenant"], is_admin=bool(row["is_admin"]))


def list_keys(store: Store, tenant: str | None = None) -> list[dict[str, object]]:
    sql = "SELECT id, tenant, is_admin, created_at, revoked_at FROM api_keys"
    params: tuple[object, ...] = ()
    if tenant is not None:
        sql += " WHERE tenant = ?"
        params = (tenant,)
    return [dict(row) for row in store.query(sql + " ORDER BY created_at", params)]


def revoke_key(store: Store, key_id: str, tenant: str | None) -> None:
    sql = "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
    params: tuple[object, ...] = (time.time(), key_id)
    if tenant is not None:
        sql += " AND tenant = ?"
        params = (*params, tenant)
    if store.execute(sql, params) == 0:
        raise NotFound(f"no API key `{key_id}`")
