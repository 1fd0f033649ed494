"""The local runtime: replica processes per deployment, scaled and billed by the minute.

One background task owns every scaling decision (no races between requests that all want a
replica): it wakes every ``tick_seconds`` or at once when the activator kicks it. Each replica
has a task of its own that waits for it to become ready and then for it to exit, so a crash is
noticed the moment the process dies; the next decision replaces it if demand remains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from trussd.control.autoscaler import Demand, desired_replicas
from trussd.control.logs import DeploymentLog
from trussd.control.metering import BillingOwner, Ledger
from trussd.control.metrics import ControlMetrics
from trussd.control.pool import Pool
from trussd.control.registry import DeploymentRecord, DeploymentStatus, live_deployments, set_status
from trussd.control.replica import (
    REPLICA_ID_ENV,
    Replica,
    ReplicaState,
    image_command,
    leftover_container,
    replica_env,
)
from trussd.control.secrets_store import secret_env
from trussd.control.settings import ControlSettings
from trussd.control.store import Store
from trussd.control.zygote import Zygote

__all__ = ["Runtime"]

logger = logging.getLogger("trussd.control")


def _owner(record: DeploymentRecord, replica_id: str) -> BillingOwner:
    return BillingOwner(record.id, replica_id, record.tenant, record.model, record.instance_type)


class Runtime:
    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        metrics: ControlMetrics,
        settings: ControlSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.metrics = metrics
        self.settings = settings
        self.clock = clock
        self.pools: dict[str, Pool] = {}
        self.client = httpx.AsyncClient(timeout=5.0)
        self._command = settings.command_factory()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_meter = 0.0
        self._zygote: Zygote | None = None

    # -- lifecycle of the runtime -------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.reconcile_orphans)
        if self.settings.zygote and not self.settings.replica_command:
            self._zygote = Zygote()
            await self._ensure_zygote()
        for record in live_deployments(self.store):
            pool = self.add(record)
            if record.status is DeploymentStatus.ACTIVE:
                # Its replicas went with the previous control plane (reconciled above): until
                # one is ready again, it is scaled to zero, not ACTIVE with nothing behind it.
                self._set_status(pool, DeploymentStatus.SCALED_TO_ZERO)
        self._loop_task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        await asyncio.gather(*(self._stop(p, r) for p in self.pools.values() for r in p.running()))
        if self._zygote is not None:
            await self._zygote.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    async def _ensure_zygote(self) -> Zygote | None:
        """The zygote when it runs (started again if it died), else None: exec instead."""
        if self._zygote is None:
            return None
        if not self._zygote.alive:
            try:
                await self._zygote.start()
            except (OSError, TimeoutError) as exc:
                logger.warning("replica zygote unavailable, replicas are exec'ed: %s", exc)
                return None
        return self._zygote

    def reconcile_orphans(self) -> int:
        """Stop replicas a previous control plane left behind, and bill them up to their end."""
        rows = self.store.query(
            "SELECT r.id, r.pid, r.requested_at, r.last_seen_at, d.id AS deployment FROM replicas r"
            " JOIN deployments d ON d.id = r.deployment WHERE r.stopped_at IS NULL"
        )
        alive_ids = _kill_replica_processes({row["id"] for row in rows})
        for row in rows:
            alive = row["id"] in alive_ids
            end = self.clock() if alive else float(row["last_seen_at"])
            self.ledger.bill_interval(
                self._owner_of(row["deployment"], row["id"]), float(row["requested_at"]), end
            )
            self.store.execute(
                "UPDATE replicas SET status = ?, stopped_at = ? WHERE id = ?",
                (ReplicaState.STOPPED.value, end, row["id"]),
            )
            shutil.rmtree(self.settings.replicas_dir / row["id"], ignore_errors=True)
        return len(rows)

    def _owner_of(self, deployment_id: str, replica_id: str) -> BillingOwner:
        row = self.store.one(
            "SELECT tenant, model, instance_type FROM deployments WHERE id = ?", (deployment_id,)
        )
        assert row is not None  # the join above found it
        return BillingOwner(
            deployment_id, replica_id, row["tenant"], row["model"], row["instance_type"]
        )

    # -- deployments ---------------------------------------------------------------------
    def add(self, record: DeploymentRecord) -> Pool:
        pool = Pool(record=record, log=DeploymentLog(self.settings.logs_dir, record.id))
        if record.status is DeploymentStatus.FAILED:
            pool.failure = record.error or "deployment failed"
        self.pools[record.id] = pool
        self.kick()
        return pool

    async def remove(self, deployment_id: str) -> None:
        pool = self.pools.pop(deployment_id, None)
        if pool is None:
            return
        pool.deleted = True
        await pool.notify()
        await asyncio.gather(*(self._stop(pool, r) for r in pool.running()))
        pool.log.event("deployment deleted")

    def kick(self) -> None:
        self._wake.set()

    # -- the scaling loop ----------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.tick_seconds)
            self._wake.clear()
            for pool in list(self.pools.values()):
                try:
                    await self._scale(pool)
                except Exception as exc:  # one deployment's trouble must not stop the others
                    pool.log.event(f"autoscaler error: {exc!r}")
            if time.monotonic() - self._last_meter >= self.settings.meter_seconds:
                self._last_meter = time.monotonic()
                await asyncio.to_thread(self.meter)

    def desired(self, pool: Pool) -> int:
        if pool.failure or pool.deleted:
            return 0
        running = pool.running()
        demand = Demand(
            inflight=pool.inflight,
            waiting=pool.waiting,
            running=len(running),
            idle_seconds=time.monotonic() - pool.last_activity,
        )
        want = desired_replicas(pool.record.settings, demand)
        if pool.record.status is DeploymentStatus.DEPLOYING:
            want = max(want, 1)  # a new version proves that it loads before it may sleep
        return want

    async def _scale(self, pool: Pool) -> None:
        want, running = self.desired(pool), pool.running()
        for _ in range(want - len(running)):
            await self._start(pool)
        if want < len(running):
            # Stop idle replicas: those still starting first (they serve nobody yet), then the
            # newest, so the longest-warm replica (caches, compiled kernels) is kept.
            victims = sorted(
                (r for r in running if r.inflight == 0),
                key=lambda r: (r.state is ReplicaState.READY, -r.requested_at),
            )[: len(running) - want]
            for replica in victims:
                replica.state = ReplicaState.STOPPING
                self._spawn_task(self._stop(pool, replica))
        self._gauge(pool)

    def _gauge(self, pool: Pool) -> None:
        for state in ReplicaState:
            count = sum(1 for r in pool.replicas.values() if r.state is state)
            self.metrics.replicas.labels(pool.record.model, pool.id, state.value).set(count)

    def _spawn_task(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one replica -----------------------------------------------------------------------
    async def _start(self, pool: Pool) -> None:
        replica_id = "r" + secrets.token_hex(5)
        workdir = self.settings.replicas_dir / replica_id
        replica = Replica(
            id=replica_id, deployment=pool.id, workdir=workdir, requested_at=self.clock()
        )
        pool.replicas[replica_id] = replica
        self.store.execute(
            "INSERT INTO replicas (id, deployment, status, requested_at, last_seen_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                replica_id,
                pool.id,
                ReplicaState.STARTING.value,
                replica.requested_at,
                replica.requested_at,
            ),
        )
        # Its first minute is billed at once: usage shows a replica from the moment it is asked for.
        self.ledger.bill_interval(
            _owner(pool.record, replica_id), replica.requested_at, replica.requested_at
        )
        secrets_env = secret_env(self.store, pool.record.tenant, pool.record.secret_names)
        env = replica_env(replica_id, workdir, secrets_env)
        command, image = self._command, pool.record.image
        if image is not None:
            command = image_command(image, secrets_env, replica_id)
        started = time.monotonic()
        try:
            zygote = None if image is not None else await self._ensure_zygote()
            await replica.spawn(command, Path(pool.record.truss_dir), env, pool.log, zygote)
        except OSError as exc:
            pool.log.event(f"replica {replica_id} could not start: {exc}")
            await self._finish(pool, replica, failed=f"could not start: {exc}")
            return
        self.store.execute(
            "UPDATE replicas SET pid = ?, port = ? WHERE id = ?",
            (replica.pid, replica.port, replica_id),
        )
        pool.log.event(f"replica {replica_id} starting (pid {replica.pid}, port {replica.port})")
        self._spawn_task(self._watch(pool, replica, started))

    async def _watch(self, pool: Pool, replica: Replica, started: float) -> None:
        timeout = float(pool.record.settings.cold_start_timeout_seconds)
        failure = await replica.wait_ready(self.client, timeout)
        if failure is None and replica.state is ReplicaState.STARTING:
            await self._ready(pool, replica, started)
        elif replica.state is ReplicaState.STARTING:
            pool.log.event(f"replica {replica.id} {failure}")
            await self._stop(pool, replica, failed=failure)
            return
        assert replica.process is not None
        await replica.process.wait()
        if replica.state is ReplicaState.READY:
            self.metrics.crashes.labels(pool.record.model, pool.id).inc()
            pool.log.event(f"replica {replica.id} crashed (exit code {replica.process.returncode})")
            await self._stop(pool, replica, failed="crashed")

    async def _ready(self, pool: Pool, replica: Replica, started: float) -> None:
        replica.state = ReplicaState.READY
        pool.start_failures = 0
        replica.timings.started = started
        phases = replica.timings.split()
        cold = phases.get("total", time.monotonic() - started)
        pool.last_cold_start = phases
        self.metrics.cold_start.labels(pool.record.model, pool.id).observe(cold)
        self.store.execute(
            "UPDATE replicas SET status = ?, ready_at = ? WHERE id = ?",
            (ReplicaState.READY.value, self.clock(), replica.id),
        )
        detail = ", ".join(f"{k} {v:.3f}s" for k, v in phases.items() if k != "total")
        pool.log.event(f"replica {replica.id} ready in {cold:.3f}s ({detail})")
        self._set_status(pool, DeploymentStatus.ACTIVE)
        await pool.notify()

    async def _stop(self, pool: Pool, replica: Replica, failed: str | None = None) -> None:
        if replica.state is ReplicaState.STOPPED or replica.state is ReplicaState.FAILED:
            return
        replica.state = ReplicaState.STOPPING
        await replica.stop(self.settings.stop_grace_seconds)
        await self._finish(pool, replica, failed=failed)

    async def _finish(self, pool: Pool, replica: Replica, failed: str | None) -> None:
        end = self.clock()
        replica.state = ReplicaState.FAILED if failed else ReplicaState.STOPPED
        self.ledger.bill_interval(_owner(pool.record, replica.id), replica.requested_at, end)
        self.store.execute(
            "UPDATE replicas SET status = ?, stopped_at = ?, last_seen_at = ? WHERE id = ?",
            (replica.state.value, end, end, replica.id),
        )
        pool.replicas.pop(replica.id, None)
        shutil.rmtree(replica.workdir, ignore_errors=True)
        if failed and failed != "crashed" and not pool.deleted:
            pool.start_failures += 1
            if pool.start_failures >= self.settings.start_failure_limit and not pool.ready():
                pool.failure = (
                    f"replica {failed} {pool.start_failures} times in a row; "
                    f"see `trussd logs {pool.id}`"
                )
                self._set_status(pool, DeploymentStatus.FAILED, pool.failure)
                pool.log.event(f"deployment failed: {pool.failure}")
        elif not failed:
            pool.log.event(f"replica {replica.id} stopped")
        if not pool.running() and pool.record.status is DeploymentStatus.ACTIVE:
            self._set_status(pool, DeploymentStatus.SCALED_TO_ZERO)
        self._gauge(pool)
        await pool.notify()
        self.kick()

    def _set_status(self, pool: Pool, status: DeploymentStatus, error: str | None = None) -> None:
        if pool.deleted:
            return
        if set_status(self.store, pool.id, status, error):
            pool.record = pool.record.model_copy(update={"status": status, "error": error})
            pool.log.event(f"status {status.value}")

    # -- metering --------------------------------------------------------------------------
    def meter(self) -> int:
        """Bill every running replica up to now and record that it was seen (crash safety)."""
        now, added = self.clock(), 0
        for pool in list(self.pools.values()):
            for replica in list(pool.replicas.values()):
                added += self.ledger.bill_interval(
                    _owner(pool.record, replica.id), replica.requested_at, now
                )
                self.store.execute(
                    "UPDATE replicas SET last_seen_at = ? WHERE id = ?", (now, replica.id)
                )
        return added


def _replica_id_of(proc: Path, ids: set[str]) -> str | None:
    """The stale replica id a process belongs to: its name (a zygote fork sets it) or its
    environment (an exec'ed replica, and every process it started, e.g. an engine)."""
    try:
        comm = (proc / "comm").read_text().strip()
        if comm in ids:
            return comm
        for entry in (proc / "environ").read_bytes().split(b"\0"):
            if entry.startswith(REPLICA_ID_ENV.encode() + b"="):
                found = entry.split(b"=", 1)[1].decode(errors="replace")
                return found if found in ids else None
    except OSError:
        return None
    return None


def _kill_replica_processes(ids: set[str]) -> set[str]:
    """Kill every live process of these replicas; returns the ids that still had one."""
    if not ids:
        return set()
    killed: dict[int, str] = {}
    containers: list[str] = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            replica_id = _replica_id_of(proc, ids)
            if replica_id is not None and _running(int(proc.name)):
                with contextlib.suppress(OSError):
                    cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                    containers += filter(None, [leftover_container(cmdline.split("\0"))])
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(proc.name), signal.SIGKILL)
                killed[int(proc.name)] = replica_id
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_running(pid) for pid in killed):
        time.sleep(0.02)
    for container in containers:  # an image replica's container, once nothing runs in it
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False, timeout=60)
    return set(killed.values())


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"  # a zombie has already stopped
