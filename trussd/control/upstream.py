"""A minimal keep-alive HTTP/1.1 client to one replica, for the hot invocation path.

httpx costs about a millisecond per request on these machines; a request to a replica needs
only this: write one buffer (head and body together, so Nagle never holds the body back), parse
the answer with httptools (the parser uvicorn uses), hand body chunks on as they arrive, and put
the connection back in a small idle pool when the replica kept it open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httptools

__all__ = ["UpstreamClosed", "UpstreamPool", "UpstreamResponse"]

_READ = 65536
_IDLE_MAX = 64


class UpstreamClosed(Exception):
    """The connection ended before a complete response; ``received_nothing``: not one byte came."""

    def __init__(self, message: str, *, received_nothing: bool) -> None:
        super().__init__(message)
        self.received_nothing = received_nothing


@dataclass
class _Parsed:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    headers_done: bool = False
    done: bool = False
    keep_alive: bool = False
    parser: httptools.HttpResponseParser | None = None

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        # Asked here: llhttp forgets it once the message is complete.
        self.keep_alive = bool(self.parser and self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class UpstreamResponse:
    """Status and headers at once; the body through ``chunks()``; then ``close()``."""

    def __init__(
        self,
        pool: UpstreamPool,
        conn: _Connection,
        parser: httptools.HttpResponseParser,
        state: _Parsed,
        status: int,
    ) -> None:
        self._pool, self._conn, self._parser, self._state = pool, conn, parser, state
        self.status = status
        self.headers = state.headers
        self._finished = False

    @property
    def streaming(self) -> bool:
        return not any(name == b"content-length" for name, _ in self.headers)

    async def chunks(self) -> AsyncIterator[bytes]:
        state = self._state
        while True:
            if state.chunks:
                pending, state.chunks = state.chunks, []
                for chunk in pending:
                    yield chunk
            if state.done:
                self._finished = True
                return
            data = await self._conn.reader.read(_READ)
            if not data:
                raise UpstreamClosed(
                    "replica closed the connection mid-response", received_nothing=False
                )
            self._parser.feed_data(data)

    def abort(self) -> None:
        """Drop the connection now (the client left): the replica sees a disconnect."""
        self._conn.close()
        self._finished = False

    def close(self) -> None:
        keep = self._finished and self._state.keep_alive
        self._pool.release(self._conn, keep)


class UpstreamPool:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._idle: list[_Connection] = []
        self._closed = False

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=_READ)
        return _Connection(reader, writer)

    def release(self, conn: _Connection, keep: bool) -> None:
        if keep and not self._closed and len(self._idle) < _IDLE_MAX:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        self._closed = True
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    async def request(
        self, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> UpstreamResponse:
        """Send and read the head. Raises ConnectionError (nothing sent) or UpstreamClosed."""
        head = [
            f"{method} {target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"content-length: {len(body)}\r\n".encode()
        ]
        head += [name + b": " + value + b"\r\n" for name, value in headers]
        payload = b"".join(head) + b"\r\n" + body
        while self._idle:
            conn = self._idle.pop()
            if conn.reader.at_eof() or conn.writer.is_closing():
                conn.close()  # the replica closed it while idle: never send on it
                continue
            # Sent on a reused connection, a request is never sent again: the replica may have
            # died of it, and a retry would kill the next one too. The caller gets a 502.
            return await self._exchange(conn, payload)
        return await self._exchange(await self._connect(), payload)

    async def _exchange(self, conn: _Connection, payload: bytes) -> UpstreamResponse:
        state = _Parsed()
        parser = httptools.HttpResponseParser(state)
        state.parser = parser
        received = False
        try:
            conn.writer.write(payload)
            while not state.headers_done:
                data = await conn.reader.read(_READ)
                if not data:
                    raise UpstreamClosed(
                        "replica closed the connection", received_nothing=not received
                    )
                received = True
                parser.feed_data(data)
        except (UpstreamClosed, OSError):
            conn.close()
            raise
        except httptools.HttpParserError as exc:
            conn.close()
            raise UpstreamClosed(
                f"malformed response from replica: {exc}", received_nothing=False
            ) from exc
        return UpstreamResponse(self, conn, parser, state, int(parser.get_status_code()))
