"""The control plane object: store, blobs, runtime, activator, ledger and metrics, wired once.

Routes call into this object; it holds the two in-memory caches of the hot invocation path
(API key → principal, model → production deployment), which every change through it clears.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from trussd.config.load import load_truss
from trussd.control.activator import Activator
from trussd.control.blobs import BlobStore, discard_rejected, owns_blob
from trussd.control.keys import ApiKey, Principal, authenticate, bootstrap_admin_key, hash_key
from trussd.control.metering import Ledger
from trussd.control.metrics import ControlMetrics
from trussd.control.pool import Pool
from trussd.control.pricing import PriceTable, instance_type_of, load_price_table
from trussd.control.registry import (
    DeploymentRecord,
    create_deployment,
    get_deployment,
    mark_deleted,
    new_deployment_id,
    promote,
    resolve_model,
)
from trussd.control.runtime import Runtime
from trussd.control.settings import ControlSettings
from trussd.control.store import Store, open_store
from trussd.control.tenants import DEFAULT_TENANT, ensure_tenant
from trussd.control.unpack import UnpackLimits, safe_unpack
from trussd.errors import Conflict, ControlError, NotFound, Unauthorized, UploadRejected

__all__ = ["ControlPlane"]


class ControlPlane:
    def __init__(self, settings: ControlSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock_data_dir(settings.data_dir)
        self.store: Store = open_store(settings.database_url, settings.data_dir)
        ensure_tenant(self.store, DEFAULT_TENANT)
        self.prices: PriceTable = load_price_table(settings.price_table)
        self.ledger = Ledger(self.store, self.prices, clock)
        self.metrics = ControlMetrics(self.ledger)
        self.blobs = BlobStore(settings.blobs_dir, settings.max_upload_bytes)
        self.runtime = Runtime(self.store, self.ledger, self.metrics, settings, clock)
        self.activator = Activator(self.runtime)
        self._principals: dict[str, Principal] = {}
        self._production: dict[tuple[str, str], str] = {}

    def bootstrap(self) -> ApiKey | None:
        return bootstrap_admin_key(self.store, os.environ.get("TRUSSD_BOOTSTRAP_API_KEY"))

    async def start(self) -> None:
        await self.runtime.start()

    async def close(self) -> None:
        await self.runtime.close()
        self.store.close()
        os.close(self._lock_fd)

    # -- auth ---------------------------------------------------------------------------
    def authenticate(self, key: str) -> Principal:
        digest = hash_key(key)
        principal = self._principals.get(digest)
        if principal is None:
            principal = authenticate(self.store, key)
            self._principals[digest] = principal
        return principal

    def forget_keys(self) -> None:
        self._principals.clear()

    # -- deployments ----------------------------------------------------------------------
    async def deploy(
        self, principal: Principal, blob: str, promote_it: bool, image: str | None = None
    ) -> DeploymentRecord:
        if image is not None and not principal.is_admin:
            # Images live in this machine's store, shared by every tenant: only its operator
            # may choose one to run.
            raise Unauthorized(
                "deploying from an image needs an admin key",
                hint="push without --image, or ask the operator",
            )
        archive = self.blobs.path(blob)
        if not archive.is_file() or not owns_blob(self.store, principal.tenant, blob):
            raise NotFound(
                f"no uploaded blob `{blob}`", hint="upload it first with PUT /v1/blobs/{sha256}"
            )
        deployment_id = new_deployment_id()
        root = self.settings.deployments_dir / deployment_id
        limits = UnpackLimits(self.settings.max_unpacked_bytes, self.settings.max_archive_members)
        truss_dir = root / "truss"
        try:
            await asyncio.to_thread(safe_unpack, archive, truss_dir, limits)
            spec = await asyncio.to_thread(load_truss, truss_dir)
            tenant = spec.deployment.tenant
            if tenant not in (DEFAULT_TENANT, principal.tenant):
                raise Conflict(
                    f"config.yaml deploys to tenant `{tenant}` but this key belongs to "
                    f"`{principal.tenant}`",
                    hint=f"use a key of tenant `{tenant}` (an admin creates one with "
                    f"`trussd keys create --tenant {tenant}`)",
                )
            record = create_deployment(
                self.store,
                deployment_id=deployment_id,
                tenant=principal.tenant,
                spec=spec,
                blob=blob,
                truss_dir=str(truss_dir),
                instance_type=instance_type_of(spec),
                promote=promote_it,
                image=image,
            )
        except UploadRejected:
            # Only the archive's own fault discards it; a failure of this server while
            # unpacking (disk full) is another TrussdError and keeps the blob for a retry.
            shutil.rmtree(root, ignore_errors=True)
            await asyncio.to_thread(discard_rejected, self.store, self.blobs, blob)
            raise
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        self._production.clear()
        pool = self.runtime.add(record)
        pool.log.event(
            f"deployment {record.id} created: {record.model} v{record.version} ({record.kind})"
        )
        return record

    def record(self, principal: Principal, deployment_id: str) -> DeploymentRecord:
        return get_deployment(self.store, principal.tenant, deployment_id)

    def promote(self, principal: Principal, deployment_id: str) -> DeploymentRecord:
        record = promote(self.store, principal.tenant, deployment_id)
        self._production.clear()
        return record

    async def delete(self, principal: Principal, deployment_id: str) -> DeploymentRecord:
        record = mark_deleted(self.store, principal.tenant, deployment_id)
        self._production.clear()
        await self.runtime.remove(deployment_id)
        # The unpacked truss goes; the blob (content-addressed, maybe shared) and logs stay.
        await asyncio.to_thread(shutil.rmtree, Path(record.truss_dir).parent, True)
        return record

    # -- invocation lookups ---------------------------------------------------------------------
    def pool_for_model(self, principal: Principal, model: str) -> Pool:
        key = (principal.tenant, model)
        deployment_id = self._production.get(key)
        if deployment_id is None:
            deployment_id = resolve_model(self.store, principal.tenant, model).id
            self._production[key] = deployment_id
        return self._pool(principal, deployment_id, model)

    def pool_for_deployment(self, principal: Principal, model: str, deployment_id: str) -> Pool:
        return self._pool(principal, deployment_id, model)

    def _pool(self, principal: Principal, deployment_id: str, model: str) -> Pool:
        pool = self.runtime.pools.get(deployment_id)
        if pool is None or pool.record.tenant != principal.tenant or pool.record.model != model:
            raise NotFound(f"no deployment `{deployment_id}` of model `{model}`")
        return pool

    def ready_replicas(self, deployment_id: str) -> int:
        pool = self.runtime.pools.get(deployment_id)
        return len(pool.ready()) if pool else 0


def _lock_data_dir(data_dir: Path) -> int:
    """One control plane per data folder: a second `trussd up` on it fails at once."""
    fd = os.open(data_dir / "trussd.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise ControlError(f"another control plane is running on {data_dir}") from exc
    return fd
