"""``trussd up``, ``push``, ``deployments``, ``usage`` and ``logs``."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from trussd.errors import TrussdError

__all__ = ["deployments", "logs", "push", "up", "usage"]

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Turn trussd's errors into one clean line (and exit code 1) instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TrussdError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


_remote = click.option(
    "--remote", envvar="TRUSSD_REMOTE", help="Control plane URL (TRUSSD_REMOTE)."
)
_api_key = click.option("--api-key", envvar="TRUSSD_API_KEY", help="API key (TRUSSD_API_KEY).")
_json = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _client(remote: str | None, api_key: str | None) -> Any:
    from trussd.control.client import ControlClient

    return ControlClient(remote, api_key)


# -- up ------------------------------------------------------------------------------------
@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path(".trussd"),
    show_default=True,
    help="Database, uploads, unpacked deployments, logs.",
)
@click.option(
    "--database-url",
    envvar="TRUSSD_DATABASE_URL",
    help="sqlite:///PATH (default DATA_DIR/trussd.db) or postgresql://...",
)
@click.option(
    "--price-table",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="YAML price table (micro-dollars per minute per instance type).",
)
@click.option(
    "--replica-command",
    envvar="TRUSSD_REPLICA_COMMAND",
    help="Replica command template with {truss_dir} and {port} (default: trussd serve).",
)
@click.option(
    "--zygote/--no-zygote",
    default=True,
    show_default=True,
    help="Fork replicas from a process that has the server imported (faster cold starts).",
)
@_friendly
def up(
    host: str,
    port: int,
    data_dir: Path,
    database_url: str | None,
    price_table: Path | None,
    replica_command: str | None,
    zygote: bool,
) -> None:
    """Run the control plane: API, local runtime with scale to zero, metering."""
    import uvicorn

    from trussd.control.app import create_app
    from trussd.control.controlplane import ControlPlane
    from trussd.control.settings import ControlSettings

    settings = ControlSettings(
        data_dir=data_dir.resolve(),
        database_url=database_url,
        price_table=price_table,
        replica_command=replica_command,
        zygote=zygote,
    )
    plane = ControlPlane(settings)
    key = plane.bootstrap()
    if key is not None:
        click.echo(f"admin API key (shown once; store it now): {key.secret}")
    click.echo(f"trussd control plane on http://{host}:{port} (data in {settings.data_dir})")
    config = uvicorn.Config(
        create_app(plane),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=15,
    )
    uvicorn.Server(config).run()


# -- push ----------------------------------------------------------------------------------
def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


@click.command()
@click.argument("truss_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@_remote
@_api_key
@click.option("--promote", is_flag=True, help="Make this the model's production deployment.")
@click.option("--wait", is_flag=True, help="Stream status and logs until ready or failed.")
@click.option("--max-file-size", default=512, show_default=True, type=int, help="MiB per file.")
@click.option(
    "--image",
    default=None,
    help="Run replicas from this image, built on the control plane's machine with "
    "`trussd image build` (admin key).",
)
@_friendly
def push(
    truss_dir: Path,
    remote: str | None,
    api_key: str | None,
    promote: bool,
    wait: bool,
    max_file_size: int,
    image: str | None,
) -> None:
    """Package TRUSS_DIR, upload it and create a deployment."""
    from trussd.config import validate_truss
    from trussd.control.packaging import collect_files, pack

    report = validate_truss(truss_dir)
    if not report.ok or report.spec is None:
        for diagnostic in report.errors:
            click.echo(f"  {diagnostic}", err=True)
        raise click.ClickException(f"{truss_dir} is not a valid truss (run `trussd validate`)")
    spec = report.spec
    client = _client(remote, api_key)
    files = collect_files(spec.root, max_file_bytes=max_file_size * 1024**2)
    total = sum(f.size for f in files)
    click.echo(
        f"packaging {spec.model_name} ({spec.kind.value}): {len(files)} files, {_size(total)}"
    )
    for item in files[:40]:
        click.echo(f"  {item.rel}  {_size(item.size)}")
    if len(files) > 40:
        click.echo(f"  ... and {len(files) - 40} more")
    with tempfile.TemporaryDirectory(prefix="trussd-push-") as tmp:
        package = pack(spec.root, files, Path(tmp) / "truss.tar.gz")
        click.echo(f"archive sha256:{package.sha256[:16]}… {_size(package.size)}")
        if client.has_blob(package.sha256):
            click.echo("already uploaded (same content); skipping upload")
        else:
            _upload(client, package)
    record = client.create_deployment(package.sha256, promote, image)
    base = client.remote + f"/models/{record['model']}"
    role = "production" if record["is_production"] else "not production (use --promote)"
    click.echo(f"deployment {record['id']}: {record['model']} v{record['version']}, {role}")
    if record["is_production"]:
        click.echo(f"  predict:      POST {base}/predict")
        click.echo(f"  openai base:  {base}/v1")
    click.echo(f"  this version: POST {client.remote}{record['urls']['predict']}")
    if wait:
        sys.exit(_wait(client, record["id"]))


def _upload(client: Any, package: Any) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress("uploading", BarColumn(), DownloadColumn(), TransferSpeedColumn()) as bar:
        task = bar.add_task("upload", total=package.size)
        client.upload_blob(package.sha256, package.path, lambda n: bar.advance(task, n))


def _wait(client: Any, deployment_id: str, timeout: float = 3600) -> int:
    offset, status, deadline = 0, "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        data, offset = client.logs(deployment_id, offset)
        if data:
            click.echo(data.decode(errors="replace"), nl=False)
        record = client.json("GET", f"/v1/deployments/{deployment_id}")
        if record["status"] != status:
            status = record["status"]
            click.echo(f"status: {status}")
        if status in ("ACTIVE", "SCALED_TO_ZERO"):
            return 0
        if status == "FAILED":
            click.echo(f"deployment failed: {record.get('error')}", err=True)
            return 1
        time.sleep(0.5)
    click.echo("timed out waiting for the deployment", err=True)
    return 1


# -- deployments --------------------------------------------------------------------------
@click.group()
def deployments() -> None:
    """List, show, promote and delete deployments."""


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = [max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    for row in rows:
        lines.append(
            "  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True))
        )
    return "\n".join(lines)


@deployments.command("list")
@_remote
@_api_key
@_json
@_friendly
def deployments_list(remote: str | None, api_key: str | None, as_json: bool) -> None:
    """Every deployment of your tenant with its model, status and ready replicas."""
    items = _client(remote, api_key).json("GET", "/v1/deployments")["deployments"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        item["production"] = "yes" if item["is_production"] else ""
    cols = ["id", "model", "version", "status", "ready_replicas", "production", "instance_type"]
    click.echo(_table(items, cols))


@deployments.command("show")
@click.argument("deployment_id")
@_remote
@_api_key
@_json
@_friendly
def deployments_show(
    deployment_id: str, remote: str | None, api_key: str | None, as_json: bool
) -> None:
    item = _client(remote, api_key).json("GET", f"/v1/deployments/{deployment_id}")
    if as_json:
        click.echo(json.dumps(item, indent=2))
        return
    for key, value in item.items():
        click.echo(f"{key}: {json.dumps(value) if isinstance(value, dict | list) else value}")


@deployments.command("promote")
@click.argument("deployment_id")
@_remote
@_api_key
@_json
@_friendly
def deployments_promote(
    deployment_id: str, remote: str | None, api_key: str | None, as_json: bool
) -> None:
    item = _client(remote, api_key).json("POST", f"/v1/deployments/{deployment_id}/promote")
    click.echo(
        json.dumps(item, indent=2) if as_json else f"{item['id']} is production for {item['model']}"
    )


@deployments.command("delete")
@click.argument("deployment_id")
@_remote
@_api_key
@_json
@_friendly
def deployments_delete(
    deployment_id: str, remote: str | None, api_key: str | None, as_json: bool
) -> None:
    """Stop the deployment's replicas and remove it (its usage stays in the ledger)."""
    item = _client(remote, api_key).json("DELETE", f"/v1/deployments/{deployment_id}")
    click.echo(json.dumps(item) if as_json else f"deleted {item['id']}")


# -- usage -------------------------------------------------------------------------------------
_RELATIVE = re.compile(r"^(\d+)([smhd])$")


def parse_time(value: str | None) -> float | None:
    """Unix seconds, ISO 8601 (UTC unless it says so) or relative: `90m`, `2h`, `7d` ago."""
    if value is None:
        return None
    match = _RELATIVE.fullmatch(value.strip())
    if match:
        scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return time.time() - int(match.group(1)) * scale
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            f"`{value}`: use 2026-11-28T12:00, unix seconds, or 2h / 7d"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


@click.command()
@click.option("--since", help="Start: ISO 8601, unix seconds, or `2h`/`7d` ago.")
@click.option("--until", help="End (exclusive), same forms.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "cloudevents"]),
    default="table",
    show_default=True,
    help="`cloudevents`: one JSON event per minute.",
)
@click.option("--all-tenants", is_flag=True, help="Every tenant (admin keys).")
@_remote
@_api_key
@_friendly
def usage(
    since: str | None,
    until: str | None,
    fmt: str,
    all_tenants: bool,
    remote: str | None,
    api_key: str | None,
) -> None:
    """Billable replica-minutes and their cost per deployment."""
    params: dict[str, Any] = {"all_tenants": all_tenants}
    for name, value in (("since", parse_time(since)), ("until", parse_time(until))):
        if value is not None:
            params[name] = value
    client = _client(remote, api_key)
    if fmt == "cloudevents":
        response = client._request("GET", "/v1/usage/events", params=params)
        click.echo(response.text, nl=False)
        return
    rows = client.json("GET", "/v1/usage", params=params)["usage"]
    cols = ["tenant", "model", "deployment", "instance_type", "minutes", "cost_micros", "cost_usd"]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    else:
        click.echo(_table(rows, cols))
        total = sum(int(r["cost_micros"]) for r in rows)
        click.echo(
            f"total: {sum(int(r['minutes']) for r in rows)} replica-minutes, ${total / 1e6:.6f}"
        )


# -- logs ----------------------------------------------------------------------------------------
@click.command()
@click.argument("deployment_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", type=int, help="Only the last N lines.")
@_remote
@_api_key
@_friendly
def logs(
    deployment_id: str, follow: bool, tail: int | None, remote: str | None, api_key: str | None
) -> None:
    """Print a deployment's logs: its replicas' output and the control plane's events."""
    client = _client(remote, api_key)
    data, offset = client.logs(deployment_id, tail=tail)
    click.echo(data.decode(errors="replace"), nl=False)
    while follow:
        time.sleep(0.5)
        data, offset = client.logs(deployment_id, offset)
        click.echo(data.decode(errors="replace"), nl=False)
