"""Routes for keys, tenants, secrets, usage and metrics."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from trussd.control.api_auth import plane, principal, require_admin
from trussd.control.keys import Principal, create_key, list_keys, revoke_key
from trussd.control.secrets_store import delete_secret, list_secret_names, set_secret
from trussd.control.tenants import ensure_tenant, list_tenants
from trussd.control.usage import cloudevents, usage_rows

__all__ = ["router"]

router = APIRouter(prefix="/v1")
Who = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(require_admin)]


class KeyRequest(BaseModel):
    tenant: str | None = Field(
        default=None, description="Tenant of the new key; the caller's when unset."
    )
    admin: bool = False


class SecretValue(BaseModel):
    value: str


@router.get("/whoami")
def whoami(who: Who) -> dict[str, Any]:
    return {"tenant": who.tenant, "admin": who.is_admin, "key_id": who.key_id}


@router.get("/tenants")
def get_tenants(request: Request, _: Admin) -> dict[str, Any]:
    return {"tenants": list_tenants(plane(request).store)}


@router.post("/keys", status_code=201)
def post_key(request: Request, body: KeyRequest, who: Admin) -> dict[str, Any]:
    store = plane(request).store
    tenant = body.tenant or who.tenant
    ensure_tenant(store, tenant)
    key = create_key(store, tenant, is_admin=body.admin)
    return {"id": key.id, "key": key.secret, "tenant": key.tenant, "admin": key.is_admin}


@router.get("/keys")
def get_keys(request: Request, who: Admin) -> dict[str, Any]:
    return {"keys": list_keys(plane(request).store)}


@router.delete("/keys/{key_id}")
def delete_key(request: Request, key_id: str, who: Admin) -> dict[str, Any]:
    cp = plane(request)
    revoke_key(cp.store, key_id, None)
    cp.forget_keys()
    return {"id": key_id, "revoked": True}


@router.put("/secrets/{name}")
def put_secret(request: Request, name: str, body: SecretValue, who: Who) -> dict[str, Any]:
    set_secret(plane(request).store, who.tenant, name, body.value)
    return {"name": name, "tenant": who.tenant}


@router.get("/secrets")
def get_secrets(request: Request, who: Who) -> dict[str, Any]:
    return {"secrets": list_secret_names(plane(request).store, who.tenant)}


@router.delete("/secrets/{name}")
def remove_secret(request: Request, name: str, who: Who) -> dict[str, Any]:
    delete_secret(plane(request).store, who.tenant, name)
    return {"name": name, "deleted": True}


def _scope(who: Principal, all_tenants: bool) -> str | None:
    return None if (all_tenants and who.is_admin) else who.tenant


@router.get("/usage")
def get_usage(
    request: Request,
    who: Who,
    since: Annotated[float | None, Query(description="Unix seconds")] = None,
    until: Annotated[float | None, Query(description="Unix seconds")] = None,
    all_tenants: bool = False,
) -> dict[str, Any]:
    store = plane(request).store
    rows = usage_rows(store, since=since, until=until, tenant=_scope(who, all_tenants))
    return {"usage": rows}


@router.get("/usage/events")
def get_usage_events(
    request: Request,
    who: Who,
    since: float | None = None,
    until: float | None = None,
    all_tenants: bool = False,
) -> StreamingResponse:
    events = cloudevents(
        plane(request).store, since=since, until=until, tenant=_scope(who, all_tenants)
    )
    lines = (json.dumps(event, separators=(",", ":")) + "\n" for event in events)
    return StreamingResponse(lines, media_type="application/x-ndjson")


metrics_router = APIRouter()


@metrics_router.get("/metrics")
def metrics(request: Request, _: Admin) -> PlainTextResponse:
    data = generate_latest(plane(request).metrics.registry)
    return PlainTextResponse(data, media_type=CONTENT_TYPE_LATEST)
