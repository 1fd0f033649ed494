"""`trussd predict` argument handling (the streaming itself is covered end to end)."""

from __future__ import annotations

import click
import pytest

from trussd.cli.predict_cmd import stream_error, target


def test_default_and_explicit_server_urls() -> None:
    assert target(None, None, None, None) == ("http://127.0.0.1:8080/predict", {})
    assert target("http://h:1/", None, None, None)[0] == "http://h:1/predict"
    assert target("http://h:1/v1/models/model:predict", None, None, None)[0].endswith(":predict")


def test_pushed_model_goes_through_the_control_plane_with_the_key() -> None:
    url, headers = target(None, "echo", "http://cp:8000/", "k1")
    assert url == "http://cp:8000/models/echo/predict"
    assert headers == {"authorization": "Api-Key k1"}


def test_model_needs_a_key_and_excludes_url() -> None:
    with pytest.raises(click.UsageError, match="API key"):
        target(None, "echo", None, None)
    with pytest.raises(click.UsageError, match="either --url"):
        target("http://h:1", "echo", None, "k")


RAW = "application/octet-stream"
SSE = "text/event-stream; charset=utf-8"


@pytest.mark.parametrize(
    ("tail", "media_type", "expected"),
    [
        (b'token0 \n{"error": "Internal Server Error"}\n', RAW, "Internal Server Error"),
        (b"token0 token1 ", RAW, None),
        (b'{"error": "a model value"}', "application/json", None),
        (b'{"error": "x", "detail": 1}\n', RAW, None),
        (b'data: {"i":0}\n\nevent: error\ndata: {"error":"boom"}\n\n', SSE, "boom"),
        (b'data: {"error":"a chunk, not the error event"}\n\n', SSE, None),
        (b"", RAW, None),
    ],
)
def test_stream_error_reads_the_servers_error_marker(
    tail: bytes, media_type: str, expected: str | None
) -> None:
    assert stream_error(tail, media_type) == expected
