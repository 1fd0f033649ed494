"""``trussd init DIR [--backend …] [--name NAME]``: a new truss that validates as written."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import click

from trussd.cli.init_templates import BACKENDS, render_truss

__all__ = ["init"]


def _default_name(directory: Path) -> str:
    name = re.sub(r"[^a-zA-Z0-9._-]+", "-", directory.resolve().name).strip("-.")
    return name or "my-model"


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="custom",
    show_default=True,
    help="`custom`: a Model class in model/model.py; otherwise an LLM served by that engine.",
)
@click.option("--name", default=None, help="Model name (default: the folder's name).")
def init(directory: Path, backend: str, name: str | None) -> None:
    """Create a new truss in DIR (which must be missing or empty)."""
    if directory.exists() and not directory.is_dir():
        click.echo(f"error: {directory} exists and is not a folder; choose another path")
        sys.exit(1)
    if directory.is_dir() and any(directory.iterdir()):
        click.echo(f"error: {directory} is not empty; nothing was written (choose a new folder)")
        sys.exit(1)
    model_name = name or _default_name(directory)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._ -]*", model_name):
        click.echo(f"error: model name `{model_name}` may use letters, digits, `.`, `_`, `-` only")
        sys.exit(1)
    files = render_truss(backend, model_name)
    try:
        for relative, text in files.items():
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"error: cannot write {directory}: {exc.strerror or exc}")
        sys.exit(1)
    click.echo(f"created {backend} truss `{model_name}` in {directory}:")
    for relative in files:
        click.echo(f"  {relative}")
    click.echo(f"next: trussd validate {shlex.quote(str(directory))}")
