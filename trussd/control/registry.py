"""Models, deployments and their versions.

A model is ``(tenant, name)``; each push creates a deployment — version 1, 2, ... of that
model — from one uploaded blob. A model's production deployment is what
``/models/{model}/...`` serves; the first deployment of a model becomes production on its own,
later ones when pushed with ``--promote`` (or promoted afterwards).

Every lookup takes the caller's tenant, and a deployment of another tenant is reported exactly
like one that does not exist.
"""

from __future__ import annotations

import enum
import json
import secrets
import time

from pydantic import BaseModel

from trussd.config.sections import DeploymentConfig
from trussd.config.spec import TrussSpec
from trussd.control.store import Row, Store
from trussd.errors import NotFound

__all__ = [
    "DeploymentRecord",
    "DeploymentStatus",
    "create_deployment",
    "get_deployment",
    "list_deployments",
    "live_deployments",
    "mark_deleted",
    "promote",
    "resolve_model",
    "set_status",
]


class DeploymentStatus(enum.StrEnum):
    DEPLOYING = "DEPLOYING"  # first replica starting, to prove the version loads
    ACTIVE = "ACTIVE"  # at least one replica ready
    SCALED_TO_ZERO = "SCALED_TO_ZERO"  # healthy, no replica running; a request wakes one
    FAILED = "FAILED"  # a replica could not start; see `trussd logs`
    DELETED = "DELETED"


_LEGAL: dict[DeploymentStatus, set[DeploymentStatus]] = {
    DeploymentStatus.DEPLOYING: {DeploymentStatus.ACTIVE, DeploymentStatus.FAILED},
    DeploymentStatus.ACTIVE: {DeploymentStatus.SCALED_TO_ZERO, DeploymentStatus.FAILED},
    DeploymentStatus.SCALED_TO_ZERO: {DeploymentStatus.ACTIVE, DeploymentStatus.FAILED},
    DeploymentStatus.FAILED: {DeploymentStatus.DEPLOYING, DeploymentStatus.ACTIVE},
    DeploymentStatus.DELETED: set(),
}


class DeploymentRecord(BaseModel):
    id: str
    tenant: str
    model: str
    version: int
    blob: str
    truss_dir: str
    kind: str
    instance_type: str
    status: DeploymentStatus
    error: str | None
    created_at: float
    is_production: bool
    settings: DeploymentConfig
    secret_names: tuple[str, ...]
    served_model_name: str
    # A locally built image (`trussd image build`) its replicas run instead of `trussd serve`.
    image: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> DeploymentRecord:
        settings = json.loads(row["settings"])
        return cls(
            id=row["id"],
            tenant=row["tenant"],
            model=row["model"],
            version=row["version"],
            blob=row["blob"],
            truss_dir=row["truss_dir"],
            kind=row["kind"],
            instance_type=row["instance_type"],
            status=DeploymentStatus(row["status"]),
            error=row["error"],
            created_at=row["created_at"],
            is_production=row.get("production_deployment") == row["id"],
            settings=DeploymentConfig.model_validate(settings["deployment"]),
            secret_names=tuple(settings["secret_names"]),
            served_model_name=settings["served_model_name"],
            image=settings.get("image"),
        )


_SELECT = (
    "SELECT d.*, m.production_deployment FROM deployments d"
    " JOIN models m ON m.tenant = d.tenant AND m.name = d.model"
)


def new_deployment_id() -> str:
    return "d" + secrets.token_hex(5)


def _next_version(store: Store, tenant: str, model: str) -> int:
    row = store.one(
        "SELECT COALESCE(MAX(version), 0) AS v FROM deployments WHERE tenant = ? AND model = ?",
        (tenant, model),
    )
    return int(row["v"] if row else 0) + 1


def create_deployment(
    store: Store,
    *,
    deployment_id: str,
    tenant: str,
    spec: TrussSpec,
    blob: str,
    truss_dir: str,
    instance_type: str,
    promote: bool,
    image: str | None = None,
) -> DeploymentRecord:
    settings = {
        "deployment": spec.deployment.model_dump(mode="json"),
        "secret_names": list(spec.secret_names),
        "served_model_name": spec.served_model_name,
        "image": image,
    }
    now = time.time()
    with store.transaction():
        store.execute(
            "INSERT INTO models (tenant, name, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (tenant, name) DO NOTHING",
            (tenant, spec.model_name, now),
        )
        version = _next_version(store, tenant, spec.model_name)
        store.execute(
            "INSERT INTO deployments (id, tenant, model, version, blob, truss_dir, kind,"
            " instance_type, settings, status, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                deployment_id,
                tenant,
                spec.model_name,
                version,
                blob,
                truss_dir,
                spec.kind.value,
                instance_type,
                json.dumps(settings),
                DeploymentStatus.DEPLOYING.value,
                now,
            ),
        )
        store.execute(
            "UPDATE models SET production_deployment = ? WHERE tenant = ? AND name = ?"
            " AND (production_deployment IS NULL OR ?)",
            (deployment_id, tenant, spec.model_name, bool(promote)),
        )
    return get_deployment(store, tenant, deployment_id)


def get_deployment(store: Store, tenant: str | None, deployment_id: str) -> DeploymentRecord:
    sql, params = _SELECT + " WHERE d.id = ? AND d.deleted_at IS NULL", [deployment_id]
    if tenant is not None:
        sql += " AND d.tenant = ?"
        params.append(tenant)
    row = store.one(sql, params)
    if row is None:
        raise NotFound(f"no deployment `{deployment_id}`")
    return DeploymentRecord.from_row(row)


def list_deployments(store: Store, tenant: str) -> list[DeploymentRecord]:
    rows = store.query(
        _SELECT + " WHERE d.tenant = ? AND d.deleted_at IS NULL ORDER BY d.model, d.version",
        (tenant,),
    )
    return [DeploymentRecord.from_row(row) for row in rows]


def live_deployments(store: Store) -> list[DeploymentRecord]:
    rows = store.query(_SELECT + " WHERE d.deleted_at IS NULL ORDER BY d.created_at")
    return [DeploymentRecord.from_row(row) for row in rows]


def resolve_model(store: Store, tenant: str, model: str) -> DeploymentRecord:
    row = store.one(
        "SELECT production_deployment FROM models WHERE tenant = ? AND name = ?", (tenant, model)
    )
    if row is None:
        raise NotFound(f"no model `{model}`")
    if row["production_deployment"] is None:
        raise NotFound(
            f"model `{model}` has no production deployment",
            hint=f"promote one, or call /models/{model}/deployments/ID/...",
        )
    return get_deployment(store, tenant, row["production_deployment"])


def promote(store: Store, tenant: str, deployment_id: str) -> DeploymentRecord:
    record = get_deployment(store, tenant, deployment_id)
    store.execute(
        "UPDATE models SET production_deployment = ? WHERE tenant = ? AND name = ?",
        (deployment_id, tenant, record.model),
    )
    return get_deployment(store, tenant, deployment_id)


def set_status(
    store: Store, deployment_id: str, status: DeploymentStatus, error: str | None = None
) -> bool:
    """Move to ``status`` when the transition is legal; returns whether it moved."""
    row = store.one("SELECT status FROM deployments WHERE id = ?", (deployment_id,))
    if row is None:
        return False
    current = DeploymentStatus(row["status"])
    if current == status:
        return False
    if status not in _LEGAL[current]:
        return False
    store.execute(
        "UPDATE deployments SET status = ?, error = ? WHERE id = ?",
        (status.value, error, deployment_id),
    )
    return True


def mark_deleted(store: Store, tenant: str, deployment_id: str) -> DeploymentRecord:
    record = get_deployment(store, tenant, deployment_id)
    with store.transaction():
        store.execute(
            "UPDATE deployments SET status = ?, deleted_at = ? WHERE id = ?",
            (DeploymentStatus.DELETED.value, time.time(), deployment_id),
        )
        store.execute(
            "UPDATE models SET production_deployment = NULL WHERE tenant = ? AND name = ?"
            " AND production_deployment = ?",
            (tenant, record.model, deployment_id),
        )
    return record
