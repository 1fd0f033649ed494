"""Run request work until it finishes or the client goes away, whichever comes first.

The work runs in the request's own task (no extra task per request on the hot path). A
watcher that waits for ``http.disconnect`` is started only when the work is still running
after ``watch_after`` seconds, so quick requests never pay for it; when the client has gone,
the watcher cancels the request task, the cancellation unwinds through the work's own
``try/finally`` blocks (which release what they hold), and ClientDisconnected is raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from starlette.types import Receive

__all__ = [
    "WATCH_AFTER_SECONDS",
    "ClientDisconnected",
    "run_until_disconnect",
    "wait_for_disconnect",
]

T = TypeVar("T")

#: How long a request runs before its client connection is watched for a hang-up.
WATCH_AFTER_SECONDS = 0.1


class ClientDisconnected(Exception):
    """Internal signal: the client left; answered with 499 that nobody reads."""


async def wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class _Watch:
    """Starts the disconnect watcher late, and cancels ``task`` if the client leaves."""

    __slots__ = ("gone", "handle", "receive", "task", "watcher")

    def __init__(self, receive: Receive, task: asyncio.Task[Any], delay: float) -> None:
        self.receive = receive
        self.task = task
        self.gone = False
        self.watcher: asyncio.Task[None] | None = None
        self.handle: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            delay, self._start
        )

    def _start(self) -> None:
        self.handle = None
        self.watcher = asyncio.ensure_future(wait_for_disconnect(self.receive))
        self.watcher.add_done_callback(self._fired)

    def _fired(self, watcher: asyncio.Future[None]) -> None:
        if not watcher.cancelled() and watcher.exception() is None:
            self.gone = True
            self.task.cancel()

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        if self.watcher is not None:
            self.watcher.remove_done_callback(self._fired)
            self.watcher.cancel()


async def run_until_disconnect(
    receive: Receive,
    work: Coroutine[Any, Any, T],
    on_abandoned: Callable[[T], None] | None = None,
    *,
    watch_after: float = WATCH_AFTER_SECONDS,
) -> T:
    """Await ``work``; if the client disconnects first, cancel it and raise ClientDisconnected.

    ``receive`` must have delivered the whole body already. Cancellation is delivered inside
    ``work`` (at the await it is suspended on), so its own ``except``/``finally`` blocks free
    what it holds. A finished ``work`` always returns its result, so ``on_abandoned`` is
    never called; it stays in the signature for callers written against the first version.
    """
    del on_abandoned
    task = asyncio.current_task()
    assert task is not None
    watch = _Watch(receive, task, watch_after)
    try:
        return await work
    except asyncio.CancelledError:
        if not watch.gone:
            raise
        task.uncancel()
        raise ClientDisconnected("client disconnected") from None
    finally:
        watch.stop()
