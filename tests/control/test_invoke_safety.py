"""The invocation path against hostile or impatient clients: no request smuggling through a
percent-encoded path, HEAD answered at once, and a client that leaves frees its replica."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from trussd.control import api_invoke
from trussd.server.upstream import UpstreamClient, _Connection

from .conftest import ADMIN_KEY, FIXTURES, Harness
from .test_runtime import wait_for

pytestmark = pytest.mark.e2e

SMUGGLE = "/models/echo/v1/x%20HTTP/1.1%0d%0aHost:%20a%0d%0a%0d%0aGET%20/v1/injected"


def _scope(method: str, raw_path: str) -> dict[str, Any]:
    from urllib.parse import unquote

    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", f"Api-Key {ADMIN_KEY}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def _call(
    h: Harness, method: str, raw_path: str, body: bytes = b"", gone: asyncio.Event | None = None
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await (gone or asyncio.Event()).wait()
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await h.client.app(_scope(method, raw_path), receive, send)  # type: ignore[arg-type]
    return sent


def _ready(h: Harness) -> Any:
    dep = h.push(FIXTURES / "control-echo", promote=True)["id"]
    pool = h.plane.runtime.pools[dep]
    wait_for(lambda: pool.ready(), "a ready replica")
    return pool


def test_a_percent_encoded_path_reaches_the_replica_still_encoded(
    make_harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness()
    _ready(h)
    targets: list[str] = []
    original = api_invoke.send_request

    async def recording(replica: Any, method: str, target: str, *rest: Any) -> Any:
        targets.append(target)
        return await original(replica, method, target, *rest)

    monkeypatch.setattr(api_invoke, "send_request", recording)
    sent = h.client.portal.call(_call, h, "GET", SMUGGLE)  # type: ignore[union-attr]
    assert sent[0]["status"] == 404  # one request, for one odd but harmless path
    assert targets == [SMUGGLE.removeprefix("/models/echo")]


def test_head_is_answered_at_once_and_frees_its_slot(make_harness: Any) -> None:
    h = make_harness()
    pool = _ready(h)

    async def head() -> list[dict[str, Any]]:
        async with asyncio.timeout(30):  # without the fix it waits for a body forever
            return await _call(h, "HEAD", "/models/echo/v1/models")

    sent = h.client.portal.call(head)  # type: ignore[union-attr]
    assert sent[0]["type"] == "http.response.start"
    assert sent[-1].get("more_body", False) is False
    assert pool.inflight == 0


def test_a_client_that_leaves_while_the_replica_works_cancels_the_request(
    make_harness: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness()
    pool = _ready(h)
    connections: list[_Connection] = []
    original = UpstreamClient._connect

    async def recording(self: UpstreamClient) -> _Connection:
        conn = await original(self)
        connections.append(conn)
        return conn

    monkeypatch.setattr(UpstreamClient, "_connect", recording)
    for replica in pool.ready():
        assert replica.upstream is not None
        replica.upstream.close()  # so the request below opens a connection we can watch
        replica.upstream._closed = False

    async def scenario() -> list[dict[str, Any]]:
        gone = asyncio.Event()
        body = json.dumps({"sleep": 600}).encode()
        task = asyncio.create_task(_call(h, "POST", "/models/echo/predict", body, gone))
        async with asyncio.timeout(60):
            while pool.inflight == 0 or not connections:
                await asyncio.sleep(0.02)
        gone.set()
        async with asyncio.timeout(30):  # without the fix: until the model wakes up
            return await task

    sent = h.client.portal.call(scenario)  # type: ignore[union-attr]
    assert not any(m["type"] == "http.response.start" for m in sent)
    assert pool.inflight == 0
    assert [c.closed for c in connections] == [True]
