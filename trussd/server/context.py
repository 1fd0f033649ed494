"""``ServerContext``: what every route module of one app shares, on ``app.state.ctx``.

Other modules (the engine front, future route modules) build on it instead of on globals:

- ``ctx.gate`` — the concurrency gate. EVERY inference route (Truss predict, OpenAI routes,
  routes proxied to an engine) runs inside it::

      async with ctx.gate.slot():            # waits in the bounded queue, or raises Overloaded
          ...                                 # (503 + Retry-After via trussd.server.errors)

  A streamed response takes ``slot = await ctx.gate.acquire()`` and calls
  ``slot.release()`` (idempotent) when its last chunk has gone or the client went away.
  ``trussd.server.streaming.run_until_disconnect`` cancels work when the client disconnects.
- ``ctx.metrics`` — ``ServerMetrics``: a per-app ``CollectorRegistry`` (``ctx.metrics.registry``;
  register extra collectors there), request count/latency by route+status, in-flight, queue
  depth, model state (``ctx.metrics.set_model_state``). ``GET /metrics`` renders it.
- ``ctx.add_readiness_hook(name, hook)`` — ``hook`` is an async callable returning a
  ``Readiness``. ``GET /v1/models/model`` is 200 only when every hook says ready; otherwise
  503 with the first not-ready hook's state and error.
- ``ctx.on_startup(fn)`` / ``ctx.on_shutdown(fn)`` — async callables run by the app's lifespan
  (startup in order, shutdown in reverse order). Startup hooks must return quickly: start
  slow work (loading a model, launching an engine) as a background task.
- ``ctx.spec``, ``ctx.settings``, ``ctx.predict_concurrency``, ``ctx.streaming_read_timeout``.
- ``ctx.model`` — the ``ModelWrapper`` for a CUSTOM truss, else None.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trussd.config.spec import TrussSpec
from trussd.server.gate import ConcurrencyGate
from trussd.server.metrics import ServerMetrics
from trussd.server.settings import ServerSettings

if TYPE_CHECKING:
    from trussd.model_wrapper.wrapper import ModelWrapper

__all__ = ["Hook", "Readiness", "ReadinessHook", "ServerContext"]

logger = logging.getLogger("trussd.server")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    state: str
    error: str | None = None


Hook = Callable[[], Awaitable[None]]
ReadinessHook = Callable[[], Awaitable[Readiness]]


class ServerContext:
    def __init__(self, spec: TrussSpec, settings: ServerSettings) -> None:
        self.spec = spec
        self.settings = settings
        runtime = spec.config.runtime
        self.predict_concurrency = settings.predict_concurrency or runtime.predict_concurrency
        self.streaming_read_timeout = float(
            settings.streaming_read_timeout or runtime.streaming_read_timeout
        )
        self.metrics = ServerMetrics()
        self.gate = ConcurrencyGate(
            self.predict_concurrency,
            max_queue=settings.max_queue,
            queue_timeout=settings.queue_timeout_seconds,
            retry_after_seconds=settings.retry_after_seconds,
        )
        # Read at scrape time: nothing to update on the hot path.
        self.metrics.in_flight.set_function(lambda: float(self.gate.in_flight))
        self.metrics.queue_depth.set_function(lambda: float(self.gate.queued))
        self.gate.on_reject(lambda reason: self.metrics.rejected.labels(reason).inc())
        self.model: ModelWrapper | None = None
        self._readiness: list[tuple[str, ReadinessHook]] = []
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []
        #: Background tasks started by hooks; kept here so they are not garbage-collected.
        self.tasks: set[asyncio.Task[object]] = set()
        self.event_loop: str | None = None

    def add_readiness_hook(self, name: str, hook: ReadinessHook) -> None:
        self._readiness.append((name, hook))

    def on_startup(self, hook: Hook) -> None:
        self._startup.append(hook)

    def on_shutdown(self, hook: Hook) -> None:
        self._shutdown.append(hook)

    def spawn(self, coro: Coroutine[Any, Any, object], name: str) -> asyncio.Task[object]:
        """Run ``coro`` in the background for the app's lifetime (cancelled at shutdown)."""
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def readiness(self) -> tuple[Readiness, dict[str, Readiness]]:
        """Overall readiness (all hooks ready) and each hook's answer."""
        answers: dict[str, Readiness] = {}
        first_bad: Readiness | None = None
        for name, hook in self._readiness:
            try:
                answer = await hook()
            except Exception as exc:  # a broken hook means not ready, never a 500
                logger.exception("readiness hook %s raised", name)
                answer = Readiness(False, "UNKNOWN", f"readiness check {name} raised: {exc}")
            answers[name] = answer
            if not answer.ready and first_bad is None:
                first_bad = answer
        if first_bad is not None:
            return first_bad, answers
        if not answers:
            return Readiness(True, "READY"), answers
        return Readiness(True, "READY"), answers

    async def run_startup(self) -> None:
        self.event_loop = self.metrics.record_event_loop()
        for hook in self._startup:
            await hook()

    async def run_shutdown(self) -> None:
        for hook in reversed(self._shutdown):
            try:
                await hook()
            except Exception:
                logger.exception("shutdown hook failed")
        for task in list(self.tasks):
            task.cancel()
