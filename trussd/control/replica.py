"""One replica: a ``trussd serve`` process on a private loopback port, and its lifecycle.

States and their legal moves::

    STARTING ──► READY ──► STOPPING ──► STOPPED
        │          │
        └──────────┴──► FAILED   (exited on its own, or never became ready in time)

A replica runs in its own process group (so engine children die with it), in its own working
folder, with an environment stripped of every ``TRUSSD_*`` variable of the control plane (keys,
database URL, other secrets) plus only the secrets its config names. On Linux it is also
asked to die with the control plane (``PR_SET_PDEATHSIG``), so a killed control plane leaves
no orphans even before the next start reconciles.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx

from trussd.control.logs import DeploymentLog
from trussd.control.zygote import die_with_parent
from trussd.server.upstream import UpstreamClient

if TYPE_CHECKING:
    from trussd.control.zygote import Zygote

__all__ = [
    "REPLICA_ID_ENV",
    "CommandFactory",
    "Replica",
    "ReplicaState",
    "ReplicaTimings",
    "default_command",
    "free_port",
    "image_command",
    "leftover_container",
    "replica_env",
]

REPLICA_ID_ENV = "TRUSSD_REPLICA_ID"
READINESS_PATH = "/v1/models/model"
CommandFactory = Callable[[Path, int], Sequence[str]]


class ProcessHandle(Protocol):
    """What the runtime needs of a replica process (asyncio's Process, or a zygote's fork)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


class ReplicaState(enum.StrEnum):
    STARTING = "STARTING"
    READY = "READY"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


def default_command(truss_dir: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trussd.cli.main",
        "serve",
        str(truss_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_RUN_IMAGE = "import sys; from trussd.deploy.image.runner import main; sys.exit(main())"


def image_command(image: str, secrets: dict[str, str], replica_id: str) -> CommandFactory:
    """The image runner (what `trussd image run IMAGE` does) on the replica's port. The
    container sees only the variables named here: the replica's own secrets and its id (by
    which a restarted control plane finds what is left of it). Only their names are on the
    command line, where any local user could read them; the values come from the replica's
    environment (``replica_env``)."""
    names = sorted({REPLICA_ID_ENV, *secrets})
    env_args = [arg for name in names for arg in ("--env-name", name)]

    def command(truss_dir: Path, port: int) -> list[str]:
        del truss_dir  # the truss is inside the image
        run = [sys.executable, "-c", _RUN_IMAGE, "--port", str(port)]
        return [*run, *env_args, "--", image]

    return command


def leftover_container(cmdline: Sequence[str]) -> str | None:
    """The buildah working container a killed image replica leaves behind: named in its
    ``buildah run [options] CONTAINER -- command`` process (the runner removes it only when it
    is itself stopped, not killed)."""
    if len(cmdline) < 4 or Path(cmdline[0]).name != "buildah" or cmdline[1] != "run":
        return None
    if "--" not in cmdline:
        return None
    end = cmdline.index("--")
    return cmdline[end - 1] if end >= 3 else None


def replica_env(replica_id: str, workdir: Path, secrets: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRUSSD_", "TRUSS_SECRET_"))}
    env.update(secrets)
    env[REPLICA_ID_ENV] = replica_id
    env["TMPDIR"] = str(workdir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _load_failed(response: httpx.Response) -> bool:
    """A 503 readiness answer whose state says loading will not succeed (``LOAD_FAILED``)."""
    if response.status_code != 503:
        return False
    try:
        state = str(response.json().get("state", ""))
    except ValueError:
        return False
    return state.upper() in ("LOAD_FAILED", "FAILED")


@dataclass
class ReplicaTimings:
    """Seconds from the request for a replica: process spawned, alive (``GET /``), ready."""

    started: float | None = None
    spawned: float | None = None
    alive: float | None = None
    ready: float | None = None

    def split(self) -> dict[str, float]:
        """Phases in seconds: ``spawn`` (fork/exec), ``boot`` (interpreter, imports, listening),
        ``load`` (the model's load, an engine's start), ``total``."""
        marks = [self.started, self.spawned, self.alive, self.ready]
        if any(m is None for m in marks):
            return {}
        t0, t1, t2, t3 = (float(m) for m in marks)  # type: ignore[arg-type]
        return {"spawn": t1 - t0, "boot": t2 - t1, "load": t3 - t2, "total": t3 - t0}


@dataclass
class Replica:
    id: str
    deployment: str
    workdir: Path
    port: int = 0
    state: ReplicaState = ReplicaState.STARTING
    requested_at: float = field(default_factory=time.time)
    inflight: int = 0
    process: ProcessHandle | None = None
    timings: ReplicaTimings = field(default_factory=ReplicaTimings)
    exit_code: int | None = None
    upstream: UpstreamClient | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def spawn(
        self,
        command: CommandFactory,
        truss_dir: Path,
        env: dict[str, str],
        log: DeploymentLog,
        zygote: Zygote | None = None,
    ) -> None:
        """Start the process: forked from ``zygote`` when given, else ``command`` exec'ed."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        if zygote is not None:
            argv = [str(truss_dir), "--host", "127.0.0.1", "--port", str(self.port)]
            self.process = await zygote.spawn(argv, str(self.workdir), env, str(log.path), self.id)
        else:
            fd = log.open_for_process()
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *command(truss_dir, self.port),
                    cwd=self.workdir,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=fd,
                    stderr=fd,
                    start_new_session=True,
                    preexec_fn=die_with_parent if sys.platform == "linux" else None,
                )
            finally:
                os.close(fd)
        self.timings.spawned = time.monotonic()
        # Never resent: a request a replica died of would kill the next replica too.
        self.upstream = UpstreamClient(
            "127.0.0.1", self.port, name=f"replica {self.id}", resend_unanswered=False, max_idle=64
        )

    async def wait_ready(self, client: httpx.AsyncClient, timeout: float) -> str | None:
        """Poll liveness then readiness until 200; returns None when ready, else why not."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                return f"exited with code {self.process.returncode} before it was ready"
            path = READINESS_PATH if self.timings.alive else "/"
            try:
                response = await client.get(self.base_url + path, timeout=2.0)
            except httpx.HTTPError:
                response = None
            if response is not None and _load_failed(response):
                return "failed to load the model"
            if response is not None and response.status_code == 200:
                if path == "/":
                    self.timings.alive = time.monotonic()
                    continue
                self.timings.ready = time.monotonic()
                return None
            # Short polls: cold start is measured in milliseconds of this loop.
            await asyncio.sleep(0.01 if self.timings.alive is None else 0.02)
        return f"not ready after {timeout:.0f}s"

    def signal_group(self, sig: int) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    async def stop(self, grace: float = 10.0) -> None:
        if self.upstream is not None:
            self.upstream.close()
        if self.process is None:
            return
        self.signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            self.signal_group(signal.SIGKILL)
            await self.process.wait()
        # Children of the server (an engine) may outlive it; the group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.exit_code = self.process.returncode
