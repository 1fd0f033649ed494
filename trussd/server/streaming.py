"""``StreamResponse``: sends a model's ChunkStream as it is produced.

- Every batch of ready chunks is written at once (no buffering; the loops set TCP_NODELAY).
- ``timeout`` seconds without a chunk (``runtime.streaming_read_timeout``) ends the stream
  with a ``RequestTimeout`` error.
- An error after the headers went out is sent in the stream: an ``error`` event for SSE, a
  final ``{"error": ...}`` JSON line for raw streams; the body then ends well-formed (the final
  empty chunk goes out), so clients read the error instead of a broken connection.
- A client disconnect stops the generator; the concurrency ``slot`` is released when the
  stream ends for any reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from trussd.errors import RequestTimeout
from trussd.model_wrapper.streams import ChunkStream
from trussd.server.disconnect import wait_for_disconnect
from trussd.server.errors import log_exception
from trussd.server.gate import Slot
from trussd.server.metrics import ServerMetrics

__all__ = ["StreamResponse"]

logger = logging.getLogger("trussd.server")

Encoder = Callable[[Any], bytes]
ErrorEncoder = Callable[[BaseException], bytes]


class StreamResponse(Response):
    def __init__(
        self,
        stream: ChunkStream,
        *,
        encode: Encoder,
        encode_error: ErrorEncoder,
        media_type: str,
        timeout: float,
        slot: Slot | None = None,
        done: bytes | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.stream = stream
        self.encode = encode
        self.encode_error = encode_error
        self.media_type = media_type
        self.timeout = timeout
        self.slot = slot
        self.done = done
        self.metrics = metrics
        self.status_code = 200
        self.background: BackgroundTask | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", (self.media_type or "text/plain").encode()),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),  # tell nginx-like proxies not to buffer
        ]
        task = asyncio.current_task()
        assert task is not None
        gone = False

        def on_disconnect(_: asyncio.Future[None]) -> None:
            nonlocal gone
            if not _.cancelled():
                gone = True
                task.cancel()

        watcher = asyncio.ensure_future(wait_for_disconnect(receive))
        watcher.add_done_callback(on_disconnect)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await self._pump(send)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            task.uncancel()
            logger.info("client disconnected during a stream; stopped the model's generator")
        finally:
            watcher.remove_done_callback(on_disconnect)
            watcher.cancel()
            await self.stream.aclose()
            if self.slot is not None:
                self.slot.release()

    async def _pump(self, send: Send) -> bool:
        """Send every chunk; return True when the stream ended with an error."""
        encode = self.encode
        chunks = self.metrics.stream_chunks if self.metrics is not None else None
        sent_done = False
        try:
            async with asyncio.timeout(None) as deadline:
                watchdog = _Watchdog(deadline, self.timeout)
                # stopped however the loop ends (model error, client disconnect): a timer left
                # behind would fire on the finished Timeout and the loop would log a RuntimeError
                try:
                    while True:
                        try:
                            batch = await self.stream.next_batch()
                        except StopAsyncIteration:
                            break
                        watchdog.progress()
                        body = b"".join([encode(chunk) for chunk in batch])
                        if self.done is not None and body.endswith(self.done):
                            sent_done = True
                        if body:
                            await send(
                                {"type": "http.response.body", "body": body, "more_body": True}
                            )
                        if chunks is not None:
                            chunks.inc(len(batch))
                finally:
                    watchdog.stop()
        except TimeoutError:
            exc = RequestTimeout(
                f"no chunk from the model within {self.timeout:g} s (streaming_read_timeout)"
            )
            log_exception(exc, "stream")
            await self._send_error(send, exc)
            return True
        except Exception as exc:
            log_exception(exc, "stream")
            await self._send_error(send, exc)
            return True
        if self.done is not None and not sent_done:
            await send({"type": "http.response.body", "body": self.done, "more_body": True})
        return False

    async def _send_error(self, send: Send, exc: BaseException) -> None:
        await send(
            {"type": "http.response.body", "body": self.encode_error(exc), "more_body": True}
        )


class _Watchdog:
    """``streaming_read_timeout`` without a timer per chunk: one timer, re-armed lazily to
    the last chunk's time + timeout; when it finds no progress, it expires ``deadline``."""

    __slots__ = ("deadline", "handle", "last", "loop", "timeout")

    def __init__(self, deadline: asyncio.Timeout, timeout: float) -> None:
        self.deadline = deadline
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()
        self.handle: asyncio.TimerHandle | None = self.loop.call_at(
            self.last + timeout, self._check
        )

    def progress(self) -> None:
        self.last = self.loop.time()

    def _check(self) -> None:
        due = self.last + self.timeout
        if self.loop.time() >= due:
            self.handle = None
            self.deadline.reschedule(self.loop.time())
        else:
            self.handle = self.loop.call_at(due, self._check)

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
