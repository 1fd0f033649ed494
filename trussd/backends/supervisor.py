"""Runs an engine as a supervised child process: start, wait for health, restart, stop.

The engine runs under ``_reaper.py`` in a session and process group of its own, with its own
environment (trussd's, then the truss's ``environment_variables``, then the plan's). The
supervisor:

- waits for ``plan.health_path`` to answer 200, at most ``startup_timeout`` seconds;
- forwards every line the engine prints to the ``trussd.engine`` logger with a prefix
  (``[engine:vllm] ...``) and keeps the last lines for error messages;
- restarts the engine with exponential backoff when it exits or stops answering its health
  check; a run of ``max_failed_starts`` starts that never became healthy ends in FAILED;
- stops it with SIGTERM, then SIGKILL after ``stop_grace`` seconds. The reaper does the same
  when trussd dies without stopping it (``PR_SET_PDEATHSIG``), so no engine is orphaned.

Its state (``EngineState``) is what the server's readiness reports.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from trussd.backends.base import LaunchPlan
from trussd.backends.state import EngineState, check_transition
from trussd.config.spec import TrussSpec

__all__ = ["EngineSupervisor", "RestartPolicy", "engine_environment"]

logger = logging.getLogger("trussd.engine")
_REAPER = Path(__file__).with_name("_reaper.py")
_PROBE_INTERVAL = 0.2


@dataclass(frozen=True)
class RestartPolicy:
    startup_timeout: float = 900.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    #: consecutive starts that never became healthy before giving up (FAILED)
    max_failed_starts: int = 3
    #: READY for this long resets the backoff
    stable_after: float = 60.0
    health_interval: float = 5.0
    #: seconds one health check may take (a hung engine fails it)
    probe_timeout: float = 5.0
    #: consecutive failed health checks of a READY engine before it is restarted
    unhealthy_after: int = 3
    stop_grace: float = 10.0


def engine_environment(spec: TrussSpec, plan: LaunchPlan) -> dict[str, str]:
    """The engine's environment: trussd's, the truss's variables, then the plan's."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in spec.config.environment_variables.items()})
    env.update(plan.env)
    env["PYTHONUNBUFFERED"] = "1"  # log lines arrive as they are written
    return env


class EngineSupervisor:
    def __init__(
        self,
        plan: LaunchPlan,
        *,
        name: str,
        env: Mapping[str, str] | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.plan = plan
        self.name = name
        self.policy = policy or RestartPolicy()
        self._env = dict(env) if env is not None else {**os.environ, **plan.env}
        self.state = EngineState.STOPPED
        self.last_error: str | None = None
        self.restarts = 0
        #: bumped on every launch; a request that saw generation N knows N died if it changes
        self.generation = 0
        self.log_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._waiters: list[asyncio.Future[None]] = []
        self._pump_task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[EngineState], None]] = []

    # ----------------------------------------------------------------- state
    def on_state(self, listener: Callable[[EngineState], None]) -> None:
        self._listeners.append(listener)

    def _set(self, state: EngineState, error: str | None = None) -> None:
        check_transition(self.state, state)
        self.state = state
        if error is not None or state is EngineState.READY:
            self.last_error = error
        logger.info("[engine:%s] state %s%s", self.name, state.value, f": {error}" if error else "")
        for listener in self._listeners:
            listener(state)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, *states: EngineState, timeout: float | None = None) -> EngineState:
        """Wait until the state is one of ``states``; TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            while self.state not in states:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter
        return self.state

    @property
    def pid(self) -> int | None:
        """The reaper's pid (the direct child)."""
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def engine_pid(self) -> int | None:
        """The engine's own pid (the reaper's child), on Linux."""
        if self.pid is None:
            return None
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    # ----------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Launch the engine in the background; watch ``state`` or ``wait_for`` READY."""
        if self._task is not None:
            raise RuntimeError("the engine supervisor is already running")
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"engine-{self.name}")

    async def stop(self) -> None:
        """Stop the engine (TERM, then KILL) and the supervision loop; idempotent."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._proc is not None:
            await self._terminate(self._proc)
        if self.state is not EngineState.STOPPED:
            self._set(EngineState.STOPPED)

    async def _run(self) -> None:
        failed_starts = 0
        streak = 0
        timeout = self.policy.probe_timeout
        async with httpx.AsyncClient(base_url=self.plan.base_url, timeout=timeout) as probe:
            while not self._stop.is_set():
                self._set(EngineState.STARTING)
                try:
                    proc = await self._spawn()
                except OSError as exc:
                    self._set(EngineState.FAILED, f"cannot start the engine: {exc}")
                    return
                outcome = await self._until_ready(proc, probe)
                ready_at = asyncio.get_running_loop().time()
                if outcome == "ready":
                    failed_starts = 0
                    self._set(EngineState.READY)
                    outcome = await self._watch(proc, probe)
                    stable = (
                        asyncio.get_running_loop().time() - ready_at >= self.policy.stable_after
                    )
                    streak = 0 if stable else streak
                else:
                    failed_starts += 1
                await self._terminate(proc)
                if self._stop.is_set():
                    return
                await self._drain_logs()
                error = self._describe(outcome, proc)
                if failed_starts >= self.policy.max_failed_starts:
                    self._set(
                        EngineState.FAILED, f"{error}; gave up after {failed_starts} failed starts"
                    )
                    return
                streak += 1
                self.restarts += 1
                self._set(EngineState.RESTARTING, error)
                delay = min(
                    self.policy.backoff_initial * 2 ** (streak - 1), self.policy.backoff_max
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)

    async def _drain_logs(self) -> None:
        """Let the log pump read the engine's last words (they explain the failure)."""
        if self._pump_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._pump_task), 2.0)

    def _describe(self, outcome: str, proc: asyncio.subprocess.Process) -> str:
        tail = " | ".join(list(self.log_tail)[-3:])
        if outcome == "exited":
            text = f"the engine exited with status {proc.returncode}"
        elif outcome == "timeout":
            text = f"the engine was not healthy within {self.policy.startup_timeout:g} s"
        else:
            text = f"the engine failed {self.policy.unhealthy_after} health checks"
        return f"{text} (last output: {tail})" if tail else text

    # ------------------------------------------------------------- process
    async def _spawn(self) -> asyncio.subprocess.Process:
        self.generation += 1
        self.log_tail.clear()
        argv = [sys.executable, "-I", str(_REAPER), str(os.getpid()), f"{self.policy.stop_grace:g}"]
        argv += ["--", *self.plan.argv]
        logger.info("[engine:%s] starting: %s", self.name, " ".join(self.plan.argv))
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self._env,
            cwd=str(self.plan.cwd) if self.plan.cwd else None,
            start_new_session=True,
        )
        self._proc = proc
        assert proc.stdout is not None
        self._pump_task = asyncio.get_running_loop().create_task(
            self._pump(proc.stdout), name=f"engine-log-{self.name}"
        )
        return proc

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        """Forward output line by line; progress bars (``\\r``) count as lines too."""
        pending = b""
        while chunk := await stream.read(65536):
            pending += chunk
            *lines, pending = pending.replace(b"\r", b"\n").split(b"\n")
            for raw in lines:
                self._log_line(raw)
        if pending:
            self._log_line(pending)

    def _log_line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip()
        if line:
            self.log_tail.append(line)
            logger.info("[engine:%s] %s", self.name, line)

    async def _probe(self, probe: httpx.AsyncClient) -> bool:
        try:
            response = await probe.get(self.plan.health_path)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _wait_exit(self, proc: asyncio.subprocess.Process, seconds: float) -> bool:
        """True when the process exited (or a stop was asked) within ``seconds``."""
        waiters = {asyncio.ensure_future(proc.wait()), asyncio.ensure_future(self._stop.wait())}
        done, pending = await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        return bool(done)

    async def _until_ready(self, proc: asyncio.subprocess.Process, probe: httpx.AsyncClient) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.startup_timeout
        while True:
            if self._stop.is_set():
                return "stopped"
            if proc.returncode is not None:
                return "exited"
            if await self._probe(probe):
                return "ready"
            if loop.time() >= deadline:
                return "timeout"
            await self._wait_exit(proc, _PROBE_INTERVAL)

    async def _watch(self, proc: asyncio.subprocess.Process, probe: httpx.AsyncClient) -> str:
        failures = 0
        while True:
            if await self._wait_exit(proc, self.policy.health_interval):
                return "stopped" if self._stop.is_set() else "exited"
            failures = 0 if await self._probe(probe) else failures + 1
            if failures >= self.policy.unhealthy_after:
                return "unhealthy"

    async def _terminate(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is not None:
            return
        engine_pid = self.engine_pid
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)  # the reaper TERMs the engine's group, then KILLs
        try:
            await asyncio.wait_for(proc.wait(), self.policy.stop_grace + 5.0)
        except TimeoutError:
            logger.warning("[engine:%s] did not stop in time; killing it", self.name)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            if engine_pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(engine_pid, signal.SIGKILL)
            await proc.wait()
