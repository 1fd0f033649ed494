"""A lean HTTP/1.1 keep-alive client for the hot hops: front → engine, control plane → replica.

Every generated token crosses these hops, so the client is built for them: an asyncio
``Protocol`` per connection, the C parser ``httptools`` (chunked decoding included), body
chunks handed over as they arrive, a pool of idle connections, one write per request (head
and body together) on a TCP_NODELAY socket, and no per-chunk task, timeout object or
abstraction layer. (httpx spent ~100 µs of Python per chunk and about a millisecond per
request here; this spends a few µs.) It speaks only to loopback peers: no TLS, redirects,
proxies or cookies.

Errors are translated here, once, so a caller can tell what is safe to retry:

- ``EngineUnavailable``: nothing was sent (the connection was refused or timed out);
- ``EngineCrashed``: the connection was lost or the answer was malformed after the request
  was sent, before or during the response;
- ``RequestTimeout``: no data within the read timeout a stream was given.

A pooled connection the peer closed while idle is never written to. One that dies after the
write but before a single byte came back is either the peer's idle close racing the request
(resent once on a fresh connection when ``resend_unanswered``) or the peer dying of the
request: a caller that cannot tell them apart and must not hand a deadly request to the next
peer turns resending off and gets ``EngineCrashed``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Iterable
from typing import cast

import httptools

from trussd.errors import EngineCrashed, EngineUnavailable, InputError, RequestTimeout

__all__ = ["UpstreamClient", "UpstreamResponse"]

_HIGH_WATER = 1 << 20  # buffered bytes before the socket is paused (a slow client)
# A space or control byte in a request line or header name, or CR/LF/NUL in a header value,
# would let a caller's input end the request early and smuggle a second one after it.
_BAD_TOKEN = re.compile(rb"[\x00-\x20\x7f]")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head: asyncio.Future[None] = self.loop.create_future()
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.keep_alive = False
        self.received = False
        self.arrivals = 0
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        #: the request was HEAD: the answer has no body, whatever its headers say
        self.head_request = False
        self.bodyless = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # asyncio and uvloop set it too; a token must never wait on Nagle
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self.bodyless:
            return  # a body-less answer ended at its head; nothing after it is ours
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)
            self.close()

    def eof_received(self) -> bool:
        # Marked now, not when connection_lost runs a loop turn later: an idle connection the
        # peer has closed must never be picked for the next request.
        self.closed = True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.complete:
            return
        if exc is None and self.head.done() and not self._framed() and self.error is None:
            # An HTTP/1.0-style body (neither length nor chunks) ends when the connection does.
            self.complete = True
            self._wake()
            return
        self._fail(exc or ConnectionResetError("the peer closed the connection"))

    def _framed(self) -> bool:
        return any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.head_request or self.status < 200 or self.status in (204, 304):
            # httptools cannot be told the request was HEAD: it would wait for the
            # content-length bytes that never come. The answer ends here, and the connection
            # is not reused (the parser's state is no longer trustworthy).
            self.complete = True
            self.keep_alive = False
            self.bodyless = True
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
        # still valid inside the callback; a body-less answer's connection is never reused
        self.keep_alive = self.parser.should_keep_alive() and not self.bodyless
        self._wake()

    # helpers
    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
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


class UpstreamResponse:
    """An answer: status and headers (lowercased names, in order) now, the body as it arrives.

    End with ``close()`` (gives a fully read keep-alive connection back to the pool, else
    drops it); ``abort()`` drops it at once from anywhere, so the peer sees a disconnect.
    """

    __slots__ = ("_client", "_conn", "headers", "status")

    def __init__(self, client: UpstreamClient, conn: _Connection) -> None:
        self._client = client
        self._conn: _Connection | None = conn
        self.status = conn.status
        self.headers = conn.headers

    def header(self, name: bytes, default: bytes = b"") -> bytes:
        """The first value of header ``name`` (lowercase), else ``default``."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    @property
    def streaming(self) -> bool:
        """An event stream, or a body of unknown length: pass it on chunk by chunk."""
        return self.header(b"content-type").startswith(b"text/event-stream") or not any(
            name == b"content-length" for name, _ in self.headers
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
                    raise self._error(conn.error, read_timeout)
                conn.waiter = loop.create_future()
                try:
                    await conn.waiter
                finally:
                    conn.waiter = None
        finally:
            if timer is not None:
                timer.cancel()

    def _error(self, error: BaseException, read_timeout: float | None) -> Exception:
        name = self._client.name
        if isinstance(error, TimeoutError):
            return RequestTimeout(f"no data from {name} within {read_timeout:g} s")
        return EngineCrashed(f"{name} failed during the response: {error!r}")

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

    def abort(self) -> None:
        """Drop the connection now (the client left); a reader still waiting gets EngineCrashed."""
        conn = self._conn
        if conn is not None and not conn.complete:
            conn._fail(ConnectionAbortedError("aborted by the caller"))
            conn.close()


class UpstreamClient:
    """Requests to ``host:port`` over a pool of keep-alive connections.

    ``name`` words the errors ("the engine", "replica r1a2b"); ``resend_unanswered`` and the
    pool's ``max_idle`` (None: as many as were in use at once) are the callers' policies.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str = "the upstream",
        connect_timeout: float = 10.0,
        resend_unanswered: bool = True,
        max_idle: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.name = name
        self.connect_timeout = connect_timeout
        self.resend_unanswered = resend_unanswered
        self.max_idle = max_idle
        self._idle: list[_Connection] = []
        self._closed = False
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
                f"{self.name} is not accepting connections ({exc.__class__.__name__})"
            ) from exc
        return conn

    def _release(self, conn: _Connection) -> None:
        if self._closed or (self.max_idle is not None and len(self._idle) >= self.max_idle):
            conn.close()
        else:
            self._idle.append(conn)

    def _encode(
        self, method: str, path: str, headers: Iterable[tuple[bytes, bytes]], body: bytes | None
    ) -> bytes:
        line = f"{method} {path} HTTP/1.1".encode("latin-1", "replace")
        if _BAD_TOKEN.search(method.encode("latin-1", "replace")) or _BAD_TOKEN.search(
            path.encode("latin-1", "replace")
        ):
            raise InputError(
                f"request target {path!r} contains a space or control character",
                hint="percent-encode spaces and control characters in the URL",
            )
        lines = [line, b"host: " + self._host_header]
        for name, value in headers:
            if not name or _BAD_TOKEN.search(name) or b":" in name or _BAD_VALUE.search(value):
                raise InputError(f"header {name!r} has a forbidden character in its name or value")
            lines.append(name + b": " + value)
        lines.append(b"content-length: " + str(len(body or b"")).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")

    async def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[bytes, bytes]] = (),
        body: bytes | None = None,
    ) -> UpstreamResponse:
        """Send a request; return once the status line and headers are in."""
        payload = self._encode(method, path, headers, body)
        head = method.upper() == "HEAD"
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue  # the peer closed it while idle: never send on it
            response = await self._exchange(conn, payload, head, resend=self.resend_unanswered)
            if response is not None:
                return response
        response = await self._exchange(await self._connect(), payload, head, resend=False)
        if response is None:
            raise EngineUnavailable(f"{self.name} closed the connection at once")
        return response

    async def _exchange(
        self, conn: _Connection, payload: bytes, head: bool, *, resend: bool
    ) -> UpstreamResponse | None:
        conn._reset()
        conn.head_request = head
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
            if resend and not conn.received:
                return None  # most likely the peer's idle close raced the request
            raise EngineCrashed(f"{self.name} failed before answering: {exc!r}") from exc
        return UpstreamResponse(self, conn)

    def close(self) -> None:
        """Close the idle connections; those in use close when their response does."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
