"""A lean HTTP/1.1 keep-alive client for the one hop from trussd to its engine.

Every generated token crosses this hop, so it is built for that: an asyncio ``Protocol`` per
connection, the C parser ``httptools`` (chunked decoding included), body chunks handed over
as they arrive, a pool of idle connections, and no per-chunk task, timeout object or
abstraction layer. (httpx spent ~100 µs of Python per chunk here; this spends a few.) It
speaks only to a loopback engine: no TLS, redirects, proxies or cookies.

Errors are translated here, once: no connection → ``EngineUnavailable``; the connection lost
during a request → ``EngineCrashed``; no data within the read timeout → ``RequestTimeout``.
A pooled connection found closed before any answer arrived is retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Iterable
from typing import cast

import httptools

from trussd.errors import EngineCrashed, EngineUnavailable, RequestTimeout

__all__ = ["EngineClient", "EngineResponse"]

_HIGH_WATER = 1 << 20  # buffered bytes before the engine socket is paused (a slow client)


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.head: asyncio.Future[None] = self.loop.create_future()
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.received = False
        self.arrivals = 0
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.complete:
            return
        if exc is None and self.head.done() and not self._framed():
            # An HTTP/1.0-style body (neither length nor chunks) ends when the connection does.
            self.complete = True
            self._wake()
            return
        self._fail(exc or ConnectionResetError("the engine closed the connection"))

    def _framed(self) -> bool:
        return b"content-length" in self.headers or b"transfer-encoding" in self.headers

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if not self.head.done():
            self.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.arrivals += 1
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    # helpers
    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        self.error = exc
        if not self.head.done():
            self.head.set_exception(exc)
            self.head.exception()  # mark retrieved: nobody may be waiting yet
        self._wake()

    def take(self) -> bytes:
        data = b"".join(self.chunks) if len(self.chunks) > 1 else self.chunks[0]
        self.chunks.clear()
        if self.buffered > _HIGH_WATER and self.transport is not None:
            self.transport.resume_reading()
        self.buffered = 0
        return data

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Silence:
    """Fails ``conn`` with TimeoutError when no body arrived during a whole ``period``."""

    __slots__ = ("_conn", "_handle", "_period", "_seen")

    def __init__(self, conn: _Connection, period: float) -> None:
        self._conn = conn
        self._period = period
        self._seen = conn.arrivals
        self._handle = conn.loop.call_later(period, self._check)

    def _check(self) -> None:
        conn = self._conn
        if conn.complete or conn.error is not None:
            return
        if conn.arrivals == self._seen and not conn.chunks:
            conn._fail(TimeoutError())
            return
        self._seen = conn.arrivals
        self._handle = conn.loop.call_later(self._period, self._check)

    def cancel(self) -> None:
        self._handle.cancel()


class EngineResponse:
    """An engine's answer: status and headers now, the body as it arrives."""

    __slots__ = ("_client", "_conn", "headers", "status")

    def __init__(self, client: EngineClient, conn: _Connection) -> None:
        self._client = client
        self._conn: _Connection | None = conn
        self.status = conn.status
        self.headers = conn.headers

    @property
    def streaming(self) -> bool:
        """An event stream, or a body of unknown length: pass it on chunk by chunk."""
        return (
            self.headers.get(b"content-type", b"").startswith(b"text/event-stream")
            or b"content-length" not in self.headers
        )

    async def stream(self, read_timeout: float | None = None) -> AsyncIterator[bytes]:
        """Body chunks as they arrive (several arrivals are joined when the reader lags).

        ``read_timeout`` bounds the silence between two arrivals. It is checked by one timer
        per period rather than armed per chunk: a stream costs one timer, not one per token.
        """
        conn = self._conn
        if conn is None:
            return
        loop = conn.loop
        timer = _Silence(conn, read_timeout) if read_timeout else None
        try:
            while True:
                if conn.chunks:
                    yield conn.take()
                    continue
                if conn.complete:
                    return
                if conn.error is not None:
                    if isinstance(conn.error, TimeoutError):
                        raise RequestTimeout(
                            f"no data from the engine within {read_timeout:g} s"
                        ) from None
                    raise EngineCrashed(f"the engine failed during the response: {conn.error!r}")
                conn.waiter = loop.create_future()
                try:
                    await conn.waiter
                finally:
                    conn.waiter = None
        finally:
            if timer is not None:
                timer.cancel()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.stream()])

    def close(self) -> None:
        """Give the connection back (whole answer read, keep-alive) or drop it."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if conn.complete and conn.keep_alive and not conn.closed and conn.error is None:
            self._client._release(conn)
        else:
            conn.close()


class EngineClient:
    """Requests to ``host:port`` over a pool of keep-alive connections."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self._idle: list[_Connection] = []
        self._host_header = f"{host}:{port}".encode()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop), self.host, self.port
                )
        except (OSError, TimeoutError) as exc:
            raise EngineUnavailable(
                f"the engine is not accepting connections ({exc.__class__.__name__})"
            ) from exc
        return conn

    def _release(self, conn: _Connection) -> None:
        self._idle.append(conn)

    def _encode(
        self, method: str, path: str, headers: Iterable[tuple[bytes, bytes]], body: bytes | None
    ) -> bytes:
        lines = [f"{method} {path} HTTP/1.1".encode(), b"host: " + self._host_header]
        lines += [name + b": " + value for name, value in headers]
        lines.append(b"content-length: " + str(len(body or b"")).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")

    async def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[bytes, bytes]] = (),
        body: bytes | None = None,
    ) -> EngineResponse:
        """Send a request; return once the status line and headers are in."""
        payload = self._encode(method, path, headers, body)
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue
            response = await self._exchange(conn, payload, retry=True)
            if response is not None:
                return response
        response = await self._exchange(await self._connect(), payload, retry=False)
        if response is None:
            raise EngineUnavailable("the engine closed the connection at once")
        return response

    async def _exchange(
        self, conn: _Connection, payload: bytes, *, retry: bool
    ) -> EngineResponse | None:
        conn._reset()
        if conn.closed or conn.transport is None:
            return None
        conn.transport.write(payload)
        try:
            await conn.head
        except asyncio.CancelledError:
            conn.close()
            raise
        except Exception as exc:
            conn.close()
            if retry and not conn.received:
                return None  # a stale pooled connection: the engine never saw the request
            raise EngineCrashed(f"the engine failed before answering: {exc!r}") from exc
        return EngineResponse(self, conn)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
