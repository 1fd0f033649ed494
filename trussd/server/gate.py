"""The concurrency gate: at most ``limit`` inference requests run at once; the rest wait.

Waiters queue in arrival order (a bounded deque of futures). A full queue, or a wait longer
than ``queue_timeout``, raises ``Overloaded`` (503 with Retry-After): nothing is dropped
silently. A waiter whose client goes away is cancelled and leaves the queue; a slot handed
to a waiter that was cancelled at the same moment is passed on, so slots never leak.

A slot is either used as ``async with gate.slot(): ...`` or taken with ``await
gate.acquire()`` and released later with ``slot.release()`` (idempotent), which is how a
streamed response keeps its slot until the last chunk has gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from types import TracebackType

from trussd.errors import Overloaded

__all__ = ["ConcurrencyGate", "Slot"]

_Observer = Callable[[int, int], None]


class Slot:
    __slots__ = ("_gate", "_released")

    def __init__(self, gate: ConcurrencyGate) -> None:
        self._gate = gate
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._gate._release()


class _SlotContext:
    __slots__ = ("_gate", "_slot")

    def __init__(self, gate: ConcurrencyGate) -> None:
        self._gate = gate
        self._slot: Slot | None = None

    async def __aenter__(self) -> Slot:
        self._slot = await self._gate.acquire()
        return self._slot

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._slot is not None:
            self._slot.release()


class ConcurrencyGate:
    def __init__(
        self,
        limit: int,
        *,
        max_queue: int = 1024,
        queue_timeout: float = 600.0,
        retry_after_seconds: int = 1,
    ) -> None:
        if limit < 1:
            raise ValueError("the concurrency limit must be at least 1")
        self.limit = limit
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.retry_after_seconds = retry_after_seconds
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        #: Highest number of slots ever held at once (tests check it never exceeds ``limit``).
        self.peak_in_flight = 0
        #: Called with (in_flight, queued) after every change; the metrics hook in here.
        self._observers: list[_Observer] = []
        #: Called with "queue_full" or "queue_timeout" when a request is refused.
        self._on_reject: list[Callable[[str], None]] = []

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def observe(self, observer: _Observer) -> None:
        self._observers.append(observer)

    def on_reject(self, callback: Callable[[str], None]) -> None:
        self._on_reject.append(callback)

    def _rejected(self, reason: str) -> None:
        for callback in self._on_reject:
            callback(reason)

    def slot(self) -> _SlotContext:
        return _SlotContext(self)

    async def acquire(self) -> Slot:
        if self._in_flight < self.limit and not self._waiters:
            self._in_flight += 1
            if self._in_flight > self.peak_in_flight:
                self.peak_in_flight = self._in_flight
            self._notify()
            return Slot(self)
        if len(self._waiters) >= self.max_queue:
            self._rejected("queue_full")
            raise Overloaded(
                f"server busy: {self._in_flight} requests running and {len(self._waiters)} waiting",
                retry_after_seconds=self.retry_after_seconds,
            )
        return await self._wait()

    async def _wait(self) -> Slot:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._notify()
        try:
            async with asyncio.timeout(self.queue_timeout):
                await fut
        except BaseException as exc:
            if fut.done() and not fut.cancelled():
                self._release()  # granted at the moment we gave up: pass it on
            else:
                fut.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
                self._notify()
            if isinstance(exc, TimeoutError):
                self._rejected("queue_timeout")
                raise Overloaded(
                    f"no free slot within {self.queue_timeout:g} s",
                    retry_after_seconds=self.retry_after_seconds,
                ) from None
            raise
        # The releaser handed its slot over: in_flight already counts us.
        return Slot(self)

    def _release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                self._notify()
                return
        self._in_flight -= 1
        self._notify()

    def _notify(self) -> None:
        for observer in self._observers:
            observer(self._in_flight, len(self._waiters))
