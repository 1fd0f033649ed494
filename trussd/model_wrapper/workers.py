"""``WorkerPool``: the threads that run a Model's sync methods.

Lighter than ``loop.run_in_executor``: one C-implemented ``SimpleQueue`` to the workers and
one ``call_soon_threadsafe`` back, with no ``concurrent.futures.Future`` in between (that
chain costs more than the echo model it runs). Threads are started on demand up to ``size``
and live as long as the pool. A caller that stops waiting (a cancelled request) does not stop
the thread: Python cannot interrupt one; its result is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["WorkerPool"]

T = TypeVar("T")

_Job = tuple[Callable[[], Any], "asyncio.Future[Any] | None", "asyncio.AbstractEventLoop | None"]


def _resolve(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class WorkerPool:
    def __init__(self, size: int, name: str = "trussd-model") -> None:
        self.size = size
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1  # that idle worker will take the job
                return
            if len(self._threads) >= self.size or self._closed:
                return  # the job waits for the next free worker
            thread = threading.Thread(
                target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, fut, loop = job
            try:
                result, ok = fn(), True
            except BaseException as exc:
                result, ok = exc, False
            if fut is not None and loop is not None and not fut.done():
                # RuntimeError: the loop is closed, so nobody is waiting any more
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, fut, ok, result)
            with self._lock:
                self._idle += 1

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in a worker with the caller's contextvars; await its result."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()
        self._jobs.put((lambda: context.run(fn, *args), fut, loop))
        self._ensure_worker()
        return await fut

    def submit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` in a worker without waiting for it (the caller reports its outcome)."""
        context = contextvars.copy_context()
        self._jobs.put((lambda: context.run(fn), None, None))
        self._ensure_worker()

    def shutdown(self) -> None:
        """Let the workers finish their current job and exit; queued jobs still run first."""
        with self._lock:
            self._closed = True
            count = len(self._threads)
        for _ in range(count):
            self._jobs.put(None)
