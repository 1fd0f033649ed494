"""The supervisor against a real (fake) engine process: health, logs, restarts, stop, orphans."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backends.helpers import alive, fake_plan, free_port, read_pids, wait_dead
from trussd.backends.base import LaunchPlan
from trussd.backends.state import EngineState, IllegalTransition, check_transition
from trussd.backends.supervisor import EngineSupervisor, RestartPolicy

FAST = RestartPolicy(
    startup_timeout=20, backoff_initial=0.05, backoff_max=0.2, health_interval=0.2, stop_grace=3
)


def test_transitions_are_checked() -> None:
    check_transition(EngineState.STARTING, EngineState.READY)
    with pytest.raises(IllegalTransition):
        check_transition(EngineState.READY, EngineState.STARTING)
    with pytest.raises(IllegalTransition):
        check_transition(EngineState.FAILED, EngineState.READY)


@pytest.mark.e2e
async def test_ready_logs_and_clean_stop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trussd.engine")
    pid_file = tmp_path / "pids"
    sup = EngineSupervisor(
        fake_plan(None, "--worker", "--pid-file", str(pid_file)), name="fake", policy=FAST
    )
    seen: list[EngineState] = []
    sup.on_state(seen.append)
    sup.start()
    assert (
        await sup.wait_for(EngineState.READY, EngineState.FAILED, timeout=30) is EngineState.READY
    )
    engine, worker = read_pids(pid_file, 2)
    assert sup.engine_pid == engine
    await sup.stop()
    assert sup.state is EngineState.STOPPED
    assert seen == [EngineState.STARTING, EngineState.READY, EngineState.STOPPED]
    assert wait_dead([engine, worker]) == []
    assert any("[engine:fake] fake-engine: ready" in r.getMessage() for r in caplog.records)


@pytest.mark.e2e
async def test_crash_restarts_with_backoff(tmp_path: Path) -> None:
    sup = EngineSupervisor(fake_plan(), name="fake", policy=FAST)
    sup.start()
    try:
        await sup.wait_for(EngineState.READY, timeout=30)
        first = sup.engine_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await sup.wait_for(EngineState.RESTARTING, timeout=30)
        assert "exited with status 137" in (sup.last_error or "")
        await sup.wait_for(EngineState.READY, timeout=30)
        assert sup.restarts == 1
        assert sup.generation == 2
        assert sup.engine_pid not in (None, first)
    finally:
        await sup.stop()


@pytest.mark.e2e
async def test_engine_that_never_starts_ends_failed() -> None:
    sup = EngineSupervisor(fake_plan(None, "--exit-at-start", "3"), name="fake", policy=FAST)
    sup.start()
    try:
        assert await sup.wait_for(EngineState.FAILED, timeout=30) is EngineState.FAILED
        assert "exited with status 3" in (sup.last_error or "")
        assert "failing at start" in (sup.last_error or "")
        assert "gave up after 3 failed starts" in (sup.last_error or "")
    finally:
        await sup.stop()
    assert sup.state is EngineState.STOPPED


@pytest.mark.e2e
async def test_startup_timeout_counts_as_failed_start() -> None:
    policy = RestartPolicy(
        startup_timeout=0.5, backoff_initial=0.05, max_failed_starts=1, stop_grace=2
    )
    sup = EngineSupervisor(fake_plan(None, "--start-delay", "60"), name="fake", policy=policy)
    sup.start()
    try:
        await sup.wait_for(EngineState.FAILED, timeout=30)
        assert "not healthy within 0.5 s" in (sup.last_error or "")
    finally:
        await sup.stop()


@pytest.mark.e2e
async def test_hung_engine_is_restarted() -> None:
    """A READY engine that stops answering (SIGSTOP) fails its health checks and is replaced."""
    policy = RestartPolicy(
        startup_timeout=20, backoff_initial=0.05, health_interval=0.2, probe_timeout=0.3,
        unhealthy_after=2, stop_grace=0.5,
    )  # fmt: skip
    sup = EngineSupervisor(fake_plan(), name="fake", policy=policy)
    sup.start()
    try:
        await sup.wait_for(EngineState.READY, timeout=30)
        hung = sup.engine_pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)
        await sup.wait_for(EngineState.RESTARTING, timeout=30)
        assert "failed 2 health checks" in (sup.last_error or "")
        await sup.wait_for(EngineState.READY, timeout=30)
        assert wait_dead([hung]) == []
    finally:
        await sup.stop()


@pytest.mark.e2e
async def test_missing_command_fails_with_its_reason() -> None:
    plan = LaunchPlan(argv=("/nonexistent/engine", "serve"), port=free_port())
    sup = EngineSupervisor(plan, name="missing", policy=FAST)
    sup.start()
    try:
        await sup.wait_for(EngineState.FAILED, timeout=30)
        assert "exited with status 127" in (sup.last_error or "")
        assert "cannot start /nonexistent/engine" in (sup.last_error or "")
    finally:
        await sup.stop()


_KILLED_PARENT = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from tests.backends.helpers import fake_plan
    from trussd.backends.supervisor import EngineSupervisor
    from trussd.backends.state import EngineState

    async def main():
        sup = EngineSupervisor(fake_plan(None, "--worker", "--pid-file", {pids!r}), name="fake")
        sup.start()
        await sup.wait_for(EngineState.READY, timeout=30)
        print("READY", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


@pytest.mark.e2e
def test_no_orphans_when_trussd_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves trussd no chance to clean up: the reaper must take the engine down."""
    pids = tmp_path / "pids"
    root = str(Path(__file__).resolve().parents[2])
    script = _KILLED_PARENT.format(root=root, pids=str(pids))
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            assert parent.stdout.readline().strip() == "READY"
            engine, worker = read_pids(pids, 2)
            assert alive(engine)
            assert alive(worker)
        finally:
            parent.kill()
            parent.wait()
    assert wait_dead([engine, worker]) == []


def test_free_port_is_usable() -> None:
    assert 0 < free_port() < 65536
