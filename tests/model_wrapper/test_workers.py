from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from trussd.model_wrapper.workers import WorkerPool

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


async def test_runs_in_a_worker_thread_with_the_callers_context() -> None:
    pool = WorkerPool(2)
    var.set("request-1")
    name, value = await pool.run(lambda: (threading.current_thread().name, var.get()))
    assert name.startswith("trussd-model-")
    assert value == "request-1"
    pool.shutdown()


async def test_exceptions_come_back() -> None:
    pool = WorkerPool(1)

    def boom() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError, match="x"):
        await pool.run(boom)
    assert await pool.run(lambda: 5) == 5  # the worker survived
    pool.shutdown()


async def test_never_more_threads_than_size_and_all_jobs_run() -> None:
    pool = WorkerPool(3)
    lock = threading.Lock()
    running = 0
    peak = 0

    def job(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        return i

    results = await asyncio.gather(*[pool.run(job, i) for i in range(30)])
    assert results == list(range(30))
    assert peak <= 3
    assert len(pool._threads) <= 3
    pool.shutdown()


async def test_a_cancelled_caller_does_not_break_the_pool() -> None:
    pool = WorkerPool(1)
    release = threading.Event()
    task = asyncio.ensure_future(pool.run(release.wait, 10))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    assert await pool.run(lambda: "next") == "next"
    pool.shutdown()
