"""Routes for pushing: content-addressed blobs, deployments (create, list, show, promote,
delete) and their logs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from trussd.control.api_auth import plane, principal
from trussd.control.blobs import own_blob, owns_blob
from trussd.control.controlplane import ControlPlane
from trussd.control.keys import Principal
from trussd.control.registry import DeploymentRecord, list_deployments

__all__ = ["deployment_view", "router"]

router = APIRouter(prefix="/v1")
Who = Annotated[Principal, Depends(principal)]


class DeployRequest(BaseModel):
    blob: str = Field(description="SHA-256 of an uploaded truss archive.")
    promote: bool = Field(default=False, description="Make it the model's production deployment.")
    image: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$",
        description="Run replicas from this locally built image (`trussd image run`); admin only.",
    )


def deployment_view(cp: ControlPlane, record: DeploymentRecord) -> dict[str, Any]:
    pool = cp.runtime.pools.get(record.id)
    replicas = [
        {"id": r.id, "state": r.state.value, "inflight": r.inflight, "pid": r.pid, "port": r.port}
        for r in (pool.replicas.values() if pool else ())
    ]
    status = pool.record.status if pool else record.status
    return {
        "id": record.id,
        "tenant": record.tenant,
        "model": record.model,
        "version": record.version,
        "status": status.value,
        "error": (pool.failure if pool else None) or record.error,
        "is_production": record.is_production,
        "ready_replicas": cp.ready_replicas(record.id),
        "replicas": replicas,
        "waiting_requests": pool.waiting if pool else 0,
        "last_cold_start": pool.last_cold_start if pool else {},
        "kind": record.kind,
        "instance_type": record.instance_type,
        "served_model_name": record.served_model_name,
        "blob": record.blob,
        "image": record.image,
        "created_at": record.created_at,
        "autoscaling": record.settings.model_dump(
            include={
                "min_replicas",
                "max_replicas",
                "concurrency_target",
                "scale_down_delay_seconds",
                "cold_start_timeout_seconds",
                "max_queue",
            }
        ),
        "urls": {
            "predict": f"/models/{record.model}/deployments/{record.id}/predict",
            "openai_base": f"/models/{record.model}/deployments/{record.id}/v1",
        },
    }


@router.head("/blobs/{sha256}")
def head_blob(request: Request, sha256: str, who: Who) -> Response:
    cp = plane(request)
    found = cp.blobs.exists(sha256) and owns_blob(cp.store, who.tenant, sha256)
    return Response(status_code=200 if found else 404)


@router.put("/blobs/{sha256}", status_code=201)
async def put_blob(request: Request, sha256: str, who: Who) -> dict[str, Any]:
    cp = plane(request)
    path = await cp.blobs.write(sha256, request.stream())  # hashed even when already stored
    own_blob(cp.store, who.tenant, sha256)
    return {"blob": sha256, "size": path.stat().st_size}


@router.post("/deployments", status_code=201)
async def post_deployment(request: Request, body: DeployRequest, who: Who) -> dict[str, Any]:
    cp = plane(request)
    record = await cp.deploy(who, body.blob, body.promote, body.image)
    return deployment_view(cp, record)


@router.get("/deployments")
def get_deployments(request: Request, who: Who) -> dict[str, Any]:
    cp = plane(request)
    return {"deployments": [deployment_view(cp, r) for r in list_deployments(cp.store, who.tenant)]}


@router.get("/deployments/{deployment_id}")
def get_deployment_route(request: Request, deployment_id: str, who: Who) -> dict[str, Any]:
    cp = plane(request)
    return deployment_view(cp, cp.record(who, deployment_id))


@router.post("/deployments/{deployment_id}/promote")
def promote_route(request: Request, deployment_id: str, who: Who) -> dict[str, Any]:
    cp = plane(request)
    return deployment_view(cp, cp.promote(who, deployment_id))


@router.delete("/deployments/{deployment_id}")
async def delete_route(request: Request, deployment_id: str, who: Who) -> dict[str, Any]:
    cp = plane(request)
    record = await cp.delete(who, deployment_id)
    return {"id": record.id, "deleted": True}


@router.get("/deployments/{deployment_id}/logs")
def logs_route(
    request: Request, deployment_id: str, who: Who, offset: int = 0, tail: int | None = None
) -> Response:
    cp = plane(request)
    record = cp.record(who, deployment_id)
    from trussd.control.logs import DeploymentLog

    log = DeploymentLog(cp.settings.logs_dir, record.id)
    data, next_offset = log.tail(tail) if tail is not None else log.read(offset)
    return Response(
        data, media_type="text/plain; charset=utf-8", headers={"X-Next-Offset": str(next_offset)}
    )
