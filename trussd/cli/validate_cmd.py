"""``trussd validate DIR [--json] [--strict]``: every problem of a truss, one line each."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from trussd.config import TrussKind, TrussSpec, validate_truss
from trussd.config.report import EngineChoice
from trussd.errors import TrussdError

__all__ = ["validate"]


def engine_choice(spec: TrussSpec) -> EngineChoice | str | None:
    """The backend an engine truss would run on; a message when it cannot be chosen."""
    if spec.kind is not TrussKind.ENGINE:
        return None
    try:
        selection = importlib.import_module("trussd.backends.selection")
    except ModuleNotFoundError as exc:
        if exc.name != "trussd.backends.selection":
            raise
        # TODO(lead): trussd/backends/selection.py is not written yet; once it is, this
        # prints `engine: <backend> (<reason>)` for every engine truss.
        return None
    try:
        chosen = selection.select_backend(spec)
    except TrussdError as exc:
        return f"no engine backend can serve this truss: {exc}"
    backend = getattr(chosen.backend, "value", chosen.backend)
    return EngineChoice(backend=str(backend), reason=str(chosen.reason))


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable JSON report.")
@click.option("--strict", is_flag=True, help="Treat unknown keys as errors.")
def validate(directory: Path, as_json: bool, strict: bool) -> None:
    """Check DIR's config.yaml and folder; exit 0 when valid, 1 when not."""
    report = validate_truss(directory, strict=strict)
    choice = engine_choice(report.spec) if report.ok and report.spec else None
    if as_json:
        model = report.to_model(directory, strict)
        if isinstance(choice, EngineChoice):
            model = model.model_copy(update={"engine": choice})
        click.echo(model.model_dump_json(indent=2))
        sys.exit(0 if report.ok else 1)
    for diagnostic in report.diagnostics:
        click.echo(diagnostic.render())
    if isinstance(choice, EngineChoice):
        click.echo(f"engine: {choice.backend} ({choice.reason})")
    elif isinstance(choice, str):
        click.echo(f"engine: {choice}")
    if report.ok and report.spec:
        warnings = len(report.warnings)
        click.echo(
            f"valid: {directory} ({report.spec.kind.value}, model `{report.spec.model_name}`"
            f", {warnings} warning{'s' if warnings != 1 else ''})"
        )
        sys.exit(0)
    count = len(report.errors)
    click.echo(f"invalid: {directory} ({count} error{'s' if count != 1 else ''})")
    sys.exit(1)
