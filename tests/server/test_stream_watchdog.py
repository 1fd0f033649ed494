"""The streaming watchdog timer dies with its stream, however the stream ends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from trussd.server.streaming import StreamResponse

TIMEOUT = 0.05


class _Stream:
    """One chunk, then either an error or a wait that only a cancel ends."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.calls = 0
        self.blocked = asyncio.Event()

    async def next_batch(self) -> list[Any]:
        self.calls += 1
        if self.calls == 1:
            return ["chunk0"]
        if self.fail:
            raise RuntimeError("model broke")
        self.blocked.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        return None


async def _run(stream: _Stream, hang_up: asyncio.Event) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    response = StreamResponse(
        stream,
        encode=lambda chunk: f"{chunk}\n".encode(),
        encode_error=lambda exc: json.dumps({"error": str(exc)}).encode(),
        media_type="text/plain",
        timeout=TIMEOUT,
    )
    call = asyncio.ensure_future(response({"type": "http"}, receive, send))
    if not stream.fail:
        await asyncio.wait_for(stream.blocked.wait(), 10)
        hang_up.set()
    await asyncio.wait_for(call, 10)
    return sent


@pytest.mark.parametrize("fail", [True, False], ids=["model-error", "client-disconnect"])
async def test_watchdog_does_not_fire_after_the_stream_ended(fail: bool) -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        sent = await _run(_Stream(fail), asyncio.Event())
        # the watchdog would fire one timeout after the last chunk; give it several
        waited = asyncio.Event()
        loop.call_later(TIMEOUT * 6, waited.set)
        await asyncio.wait_for(waited.wait(), 10)
    finally:
        loop.set_exception_handler(previous)
    assert errors == []
    bodies = [m.get("body") for m in sent[1:]]
    assert bodies[0] == b"chunk0\n"
    if fail:
        assert b"model broke" in bodies[1]
