"""The lean upstream client against scripted asyncio servers: framing, reuse, resends, errors."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from trussd.errors import EngineCrashed, EngineUnavailable, InputError, RequestTimeout
from trussd.server.upstream import UpstreamClient

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


class Scripted:
    """A scripted server whose connections are all closed at the end (no resource warnings)."""

    def __init__(self, server: asyncio.Server, tasks: set[asyncio.Task[None]]) -> None:
        self.server = server
        self.tasks = tasks

    def close(self) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()


async def _serve(handler: Handler) -> tuple[Scripted, int]:
    tasks: set[asyncio.Task[None]] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    return Scripted(server, tasks), server.sockets[0].getsockname()[1]


async def _stop(scripted: Scripted) -> None:
    scripted.close()
    await asyncio.gather(*scripted.tasks, return_exceptions=True)
    await scripted.server.wait_closed()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [c async for c in chunks]


async def test_keep_alive_reuses_one_connection() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                request = await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            body = request.split(b"\r\n\r\n", 1)[1] or b"empty"
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        writer.close()

    server, port = await _serve(handler)
    client = UpstreamClient("127.0.0.1", port)
    for payload in (b"one", b"two", b"three"):
        response = await client.request("POST", "/x", [(b"content-type", b"text/plain")], payload)
        assert (response.status, response.streaming) == (200, False)
        assert await response.read() == payload
        response.close()
    assert connections == 1
    client.close()
    await _stop(server)


async def test_chunks_arrive_as_they_are_written() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                     b"transfer-encoding: chunked\r\n\r\n" + _chunk(b"data: 1\n\n"))  # fmt: skip
        await writer.drain()
        await release.wait()
        writer.write(_chunk(b"data: 2\n\n") + b"0\r\n\r\n")
        await writer.drain()

    server, port = await _serve(handler)
    client = UpstreamClient("127.0.0.1", port)
    response = await client.request("POST", "/s", body=b"{}")
    assert response.streaming
    chunks = response.stream(read_timeout=30)
    assert await chunks.__anext__() == b"data: 1\n\n"  # before the server wrote the rest
    release.set()
    assert await _collect(chunks) == [b"data: 2\n\n"]
    response.close()
    client.close()
    await _stop(server)


async def test_stale_pooled_connection_is_retried_on_a_fresh_one() -> None:
    seen = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        seen += 1
        first = seen == 1
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        if first:  # the pooled connection dies when it is reused, before answering
            await reader.read(1)
            writer.transport.abort()
        else:
            await asyncio.sleep(60)

    server, port = await _serve(handler)
    client = UpstreamClient("127.0.0.1", port)
    async with asyncio.timeout(20):
        first = await client.request("GET", "/")
        assert await first.read() == b"ok"
        first.close()
        second = await client.request("GET", "/")  # the pooled one dies; a new one answers
        assert await second.read() == b"ok"
        second.close()
    assert seen == 2
    client.close()
    await _stop(server)


async def test_errors_are_translated() -> None:
    client = UpstreamClient("127.0.0.1", free_port())
    with pytest.raises(EngineUnavailable):
        await client.request("GET", "/")

    async def crash(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + _chunk(b"a"))
        await writer.drain()
        writer.transport.abort()

    server, port = await _serve(crash)
    crashing = UpstreamClient("127.0.0.1", port)
    response = await crashing.request("GET", "/")
    with pytest.raises(EngineCrashed):
        await _collect(response.stream())
    response.close()
    await _stop(server)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(30)

    server, port = await _serve(silent)
    response = await UpstreamClient("127.0.0.1", port).request("GET", "/")
    with pytest.raises(RequestTimeout):
        await _collect(response.stream(read_timeout=0.2))
    response.close()
    await _stop(server)


async def test_body_until_close_is_complete() -> None:
    async def http10(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b'HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{"a": 1}')
        await writer.drain()
        writer.close()

    server, port = await _serve(http10)
    response = await UpstreamClient("127.0.0.1", port).request("POST", "/predict", body=b"{}")
    assert response.streaming
    assert await response.read() == b'{"a": 1}'
    response.close()
    await _stop(server)


async def test_without_resending_a_request_the_peer_died_of_is_a_crash() -> None:
    """The control plane's policy: a reused connection that dies unanswered is not resent."""
    requests = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        await _read_request(reader)
        requests += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await _read_request(reader)
        requests += 1
        writer.transport.abort()  # dies of the second request without a byte

    server, port = await _serve(handler)
    client = UpstreamClient("127.0.0.1", port, resend_unanswered=False, max_idle=1)
    first = await client.request("POST", "/", body=b"{}")
    assert await first.read() == b"ok"
    first.close()
    with pytest.raises(EngineCrashed):
        await client.request("POST", "/", body=b"{}")
    assert requests == 2
    client.close()
    await _stop(server)


async def test_headers_keep_order_and_repeats_and_abort_ends_the_stream() -> None:
    seen_eof = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
                     b"transfer-encoding: chunked\r\n\r\n" + _chunk(b"x"))  # fmt: skip
        await writer.drain()
        if not await reader.read(1):  # the client aborted: the peer sees a disconnect
            seen_eof.set()

    server, port = await _serve(handler)
    client = UpstreamClient("127.0.0.1", port)
    response = await client.request("GET", "/")
    assert [v for k, v in response.headers if k == b"set-cookie"] == [b"a=1", b"b=2"]
    assert response.header(b"set-cookie") == b"a=1"
    assert response.header(b"content-type", b"none") == b"none"
    chunks = response.stream()
    assert await chunks.__anext__() == b"x"
    response.abort()
    with pytest.raises(EngineCrashed):
        await chunks.__anext__()
    response.close()
    await asyncio.wait_for(seen_eof.wait(), 20)
    client.close()
    await _stop(server)


async def test_connections_are_tcp_nodelay() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        await reader.read(1)

    server, port = await _serve(handler)
    client = UpstreamClient("127.0.0.1", port)
    response = await client.request("GET", "/")
    assert response.status == 204
    conn = response._conn
    assert conn is not None
    assert conn.transport is not None
    sock = conn.transport.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    response.close()
    client.close()
    await _stop(server)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/x HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/injected", []),
        ("/v1/x\nGET", []),
        ("/v1/a b", []),
        ("/v1/x\x7f", []),
        ("/v1/x", [(b"x-evil", b"1\r\nGET /v1/injected HTTP/1.1")]),
        ("/v1/x", [(b"x evil", b"1")]),
        ("/v1/x", [(b"x-evil:", b"1")]),
    ],
)
async def test_a_target_or_header_that_could_smuggle_a_request_is_refused(
    path: str, headers: list[tuple[bytes, bytes]]
) -> None:
    requests: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await _read_request(reader))

    server, port = await _serve(handler)
    client = UpstreamClient("127.0.0.1", port)
    with pytest.raises(InputError):
        await client.request("GET", path, headers)
    assert requests == []  # nothing was sent
    client.close()
    await _stop(server)


async def test_a_percent_encoded_target_and_spaced_header_value_are_sent_as_given() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()

    server, port = await _serve(handler)
    client = UpstreamClient("127.0.0.1", port)
    response = await client.request("GET", "/v1/x%20y?q=%0d", [(b"user-agent", b"a b\tc")])
    assert await response.read() == b"ok"
    response.close()
    assert seen[0].startswith(b"GET /v1/x%20y?q=%0d HTTP/1.1\r\n")
    assert b"user-agent: a b\tc\r\n" in seen[0]
    client.close()
    await _stop(server)


@pytest.mark.parametrize(
    ("method", "head"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n"),
        ("HEAD", b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\ncontent-length: 99\r\n\r\n"),
    ],
)
async def test_a_bodyless_answer_ends_at_its_head_and_its_connection_is_not_reused(
    method: str, head: bytes
) -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(head)
        await writer.drain()
        await asyncio.Event().wait()  # keeps the connection open: no EOF ends the answer

    server, port = await _serve(handler)
    client = UpstreamClient("127.0.0.1", port)
    async with asyncio.timeout(30):  # without the fix this waits for bytes forever
        for _ in range(2):
            response = await client.request(method, "/v1/x")
            assert await response.read() == b""
            response.close()
    assert connections == 2
    client.close()
    await _stop(server)
