"""``trussd predict``: call a running model server and print what it answers, as it arrives."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import click

__all__ = ["predict", "stream_error"]

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_REMOTE = "http://127.0.0.1:8000"  # the control plane of `trussd up`


def _predict_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return url.rstrip("/") + "/predict"
    return url


def target(
    url: str | None, model: str | None, remote: str | None, api_key: str | None
) -> tuple[str, dict[str, str]]:
    """(URL to POST, extra headers): a model server directly, or a pushed model through the
    control plane (``/models/<model>/predict`` with the API key)."""
    if model is None:
        return _predict_url(url or DEFAULT_URL), {}
    if url is not None:
        raise click.UsageError("give either --url (a model server) or --model (a pushed model)")
    if not api_key:
        raise click.UsageError("--model needs an API key: pass --api-key or set TRUSSD_API_KEY")
    base = (remote or DEFAULT_REMOTE).rstrip("/")
    return f"{base}/models/{model}/predict", {"authorization": f"Api-Key {api_key}"}


def _body(data: str | None, file: Path | None) -> bytes:
    if data is not None and file is not None:
        raise click.UsageError("give either -d/--data or -f/--file, not both")
    raw = file.read_bytes() if file is not None else (data if data is not None else "")
    text = raw.decode() if isinstance(raw, bytes) else raw
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        return b""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"the input is not valid JSON: {exc}") from None
    return text.encode()


@click.command()
@click.option("-d", "--data", help="JSON input (`-` reads stdin).")
@click.option(
    "-f",
    "--file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File with JSON input.",
)
@click.option("--url", default=None, help=f"Model server or full route URL [{DEFAULT_URL}].")
@click.option("--model", default=None, help="A pushed model's name: call it via the control plane.")
@click.option("--remote", envvar="TRUSSD_REMOTE", default=None, help="Control plane URL (--model).")
@click.option("--api-key", envvar="TRUSSD_API_KEY", default=None, help="API key (--model).")
@click.option("--sse", is_flag=True, help="Ask for Server-Sent Events (Accept: text/event-stream).")
@click.option("--timeout", type=float, default=None, help="Seconds to wait for each chunk.")
def predict(
    data: str | None,
    file: Path | None,
    url: str | None,
    model: str | None,
    remote: str | None,
    api_key: str | None,
    sse: bool,
    timeout: float | None,
) -> None:
    """POST JSON to a model server's predict route and print the answer, streaming."""
    body = _body(data, file)
    where, headers = target(url, model, remote, api_key)
    headers["content-type"] = "application/json"
    if sse:
        headers["accept"] = "text/event-stream"
    _stream_to_stdout(where, body, headers, timeout)


def _stream_to_stdout(
    where: str, body: bytes, headers: dict[str, str], timeout: float | None
) -> None:
    import httpx

    out = sys.stdout.buffer
    try:
        with httpx.stream(
            "POST", where, content=body, headers=headers, timeout=httpx.Timeout(10.0, read=timeout)
        ) as response:
            if response.status_code >= 400:
                response.read()
                click.echo(f"error: HTTP {response.status_code}: {response.text.strip()}", err=True)
                sys.exit(1)
            media_type = response.headers.get("content-type", "")
            tail = b""
            for chunk in response.iter_raw():
                out.write(chunk)
                out.flush()
                tail = (tail + chunk)[-_TAIL_BYTES:]
            if tail and not tail.endswith(b"\n") and out.isatty():
                out.write(b"\n")
    except httpx.HTTPError as exc:
        click.echo(f"error: {type(exc).__name__} talking to {where}: {exc}", err=True)
        sys.exit(1)
    failure = stream_error(tail, media_type)
    if failure is not None:
        out.flush()
        click.echo(f"error: the stream failed: {failure}", err=True)
        sys.exit(1)


_TAIL_BYTES = 64 << 10


def stream_error(tail: bytes, media_type: str) -> str | None:
    """The server's message when a stream ended with its error marker: a last
    ``event: error`` (SSE) or a last line ``{"error": ...}`` (raw stream); else None.
    A plain JSON answer is a model's value, never a stream error."""
    text = tail.decode(errors="replace").rstrip("\n")
    if media_type.startswith("application/json"):
        return None
    if media_type.startswith("text/event-stream"):
        last = text.rsplit("\n\n", 1)[-1]
        if not last.startswith("event: error\n"):
            return None
        text = last.split("data: ", 1)[-1]
    else:
        text = text.rsplit("\n", 1)[-1]
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and set(value) == {"error"}:
        return str(value["error"])
    return None
