"""``trussd serve DIR``: the model server in the foreground."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["serve"]


@click.command()
@click.argument("truss_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=int, help="Port (0 picks a free one)."
)
@click.option(
    "--predict-concurrency", type=int, default=None, help="Override runtime.predict_concurrency."
)
@click.option("--json-logs/--text-logs", default=None, help="One JSON object per log line.")
@click.option("--access-log/--no-access-log", default=None, help="Log one line per request.")
def serve(
    truss_dir: Path,
    host: str,
    port: int,
    predict_concurrency: int | None,
    json_logs: bool | None,
    access_log: bool | None,
) -> None:
    """Serve the truss in TRUSS_DIR (no container)."""
    from trussd.server.entry import serve_truss

    overrides: dict[str, object] = {}
    if predict_concurrency is not None:
        overrides["predict_concurrency"] = predict_concurrency
    if json_logs is not None:
        overrides["json_logs"] = json_logs
    if access_log is not None:
        overrides["access_log"] = access_log
    code = serve_truss(truss_dir, host, port, overrides)
    if code:
        sys.exit(code)
