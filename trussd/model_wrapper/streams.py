"""Streams of chunks from a Model's generator, read by the server one batch at a time.

``next_batch()`` returns every chunk that is ready now (at least one) and never waits for
more, so chunks leave as soon as they exist while a burst of ready chunks costs one write.
A sync generator runs in a worker thread that hands chunks over through a deque (bounded:
the thread blocks when the client reads slowly); an async generator runs on the event loop.
Exceptions from user code come out as ``UserCodeError`` chained to the original.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from trussd.errors import UserCodeError
from trussd.model_wrapper.workers import WorkerPool

__all__ = ["AsyncGenStream", "ChunkStream", "ThreadedGenStream", "is_stream", "to_stream"]


class ChunkStream(Protocol):
    async def next_batch(self) -> list[Any]:
        """The chunks ready now (≥1); raises StopAsyncIteration at the end."""
        ...

    async def aclose(self) -> None: ...


def _user_error(exc: BaseException) -> UserCodeError:
    err = UserCodeError(f"the model's stream raised {type(exc).__name__}: {exc}")
    err.__cause__ = exc
    return err


class AsyncGenStream:
    """Runs an async generator in its own task that appends to a deque, so every chunk that
    is ready when the consumer wakes leaves in one write (bounded: the producer waits when
    ``max_buffered`` chunks are pending)."""

    def __init__(self, agen: AsyncIterator[Any], max_buffered: int = 256) -> None:
        self._agen = agen
        self._max = max_buffered
        self._items: deque[Any] = deque()
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._space: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for item in self._agen:
                self._items.append(item)
                waiter = self._waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                if len(self._items) >= self._max:
                    self._space = loop.create_future()
                    await self._space
        except Exception as exc:
            self._error = exc
        finally:
            self._done = True
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def next_batch(self) -> list[Any]:
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = loop.create_task(self._produce())
        while True:
            if self._items:
                batch = list(self._items)
                self._items.clear()
                space = self._space
                if space is not None and not space.done():
                    space.set_result(None)
                return batch
            if self._done:
                if self._error is not None:
                    raise _user_error(self._error) from self._error
                raise StopAsyncIteration
            self._waiter = loop.create_future()
            await self._waiter

    async def aclose(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        elif task is None:
            close = getattr(self._agen, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()


class ThreadedGenStream:
    def __init__(self, gen: Iterator[Any], workers: WorkerPool, max_buffered: int = 256) -> None:
        self._gen = gen
        self._workers = workers
        self._items: deque[Any] = deque()
        self._space = threading.Semaphore(max_buffered)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    def _produce(self) -> None:
        try:
            for item in self._gen:
                while not self._space.acquire(timeout=0.25):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                with self._lock:
                    self._items.append(item)
                    waiter, self._waiter = self._waiter, None
                if waiter is not None:
                    self._wake(waiter)
        except BaseException as exc:
            self._error = exc
        finally:
            if self._stop.is_set():
                close = getattr(self._gen, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        close()
            with self._lock:
                self._done = True
                waiter, self._waiter = self._waiter, None
            if waiter is not None:
                self._wake(waiter)

    def _wake(self, waiter: asyncio.Future[None]) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve, waiter)

    async def next_batch(self) -> list[Any]:
        if not self._started:
            self._started = True
            self._loop = asyncio.get_running_loop()
            self._workers.submit(self._produce)
        while True:
            with self._lock:
                if self._items:
                    batch = list(self._items)
                    self._items.clear()
                    self._space.release(len(batch))
                    return batch
                if self._done:
                    if self._error is not None:
                        raise _user_error(self._error) from self._error
                    raise StopAsyncIteration
                assert self._loop is not None
                waiter = self._waiter = self._loop.create_future()
            await waiter

    async def aclose(self) -> None:
        self._stop.set()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def to_stream(result: Any, workers: WorkerPool) -> ChunkStream | None:
    """A ChunkStream for a generator result, else None."""
    if hasattr(result, "__anext__"):
        return AsyncGenStream(result)
    if (
        hasattr(result, "__next__")
        and hasattr(result, "__iter__")
        and not isinstance(result, str | bytes)
    ):
        return ThreadedGenStream(result, workers)
    return None


def is_stream(value: Any) -> bool:
    return isinstance(value, AsyncGenStream | ThreadedGenStream)
