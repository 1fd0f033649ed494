"""``trussd image build-context | build | run``: a truss → a serving image → a running server."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from trussd.errors import BuildError, ConfigError, TrussdError

if TYPE_CHECKING:
    from trussd.deploy.image import BuildContext, BuildEvent

__all__ = ["image"]


def _fail(exc: TrussdError) -> NoReturn:
    click.echo(f"error: {exc.message}", err=True)
    for diagnostic in getattr(exc, "diagnostics", []):
        render = getattr(diagnostic, "render", None)
        click.echo(f"  {render() if callable(render) else diagnostic}", err=True)
    if isinstance(exc, BuildError) and exc.log_tail:
        click.echo("--- last lines of the build log ---", err=True)
        click.echo(exc.log_tail, err=True)
        click.echo("---", err=True)
    if exc.hint:
        click.echo(f"fix: {exc.hint}", err=True)
    sys.exit(1)


def _render(truss_dir: Path, base_image: str | None, bake_weights: bool) -> BuildContext:
    from trussd.config import load_truss
    from trussd.deploy.image import ContextOptions, render_context

    spec = load_truss(truss_dir)
    context = render_context(spec, ContextOptions(base_image=base_image, bake_weights=bake_weights))
    for warning in context.warnings:
        click.echo(f"warning: {warning}", err=True)
    return context


@click.group()
def image() -> None:
    """Build and run the serving image of a truss."""


@image.command("build-context")
@click.argument("truss_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--base-image", default=None, help="Build on this image instead.")
@click.option("--bake-weights", is_flag=True, help="Put local weights into the image.")
def build_context(truss_dir: Path, out: Path, base_image: str | None, bake_weights: bool) -> None:
    """Write the build context of TRUSS_DIR (Dockerfile and files) into OUT."""
    from trussd.deploy.image import write_context

    try:
        context = _render(truss_dir, base_image, bake_weights)
        write_context(context, out)
    except (ConfigError, BuildError) as exc:
        _fail(exc)
    click.echo(f"wrote {len(context.files)} files to {out} (context {context.context_hash[:12]})")


def _printer(verbose: bool) -> Callable[[BuildEvent], None]:
    """Step names and cache hits as the build goes; with --verbose, the builder's own log."""

    def show(event: BuildEvent) -> None:
        if event.kind == "clash":
            click.echo(f"warning: {event.line.split('warning: ', 1)[-1]}", err=True)
        elif verbose:
            click.echo(event.line)
        elif event.kind == "step":
            click.echo(f"[{event.index}/{event.total}] {event.title}")
        elif event.kind == "cached":
            click.echo("      cached")

    return show


def _secrets(values: tuple[str, ...]) -> dict[str, Path]:
    result = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise BuildError(
                f"--secret `{value}` is not NAME=FILE",
                step="builder",
                hint="e.g. --secret hf_access_token=~/.hf_token",
            )
        result[name] = Path(path).expanduser()
    return result


@image.command("build")
@click.argument("truss_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--tag", "-t", default=None, help="Image tag (default: localhost/trussd-NAME:CONTEXT)."
)
@click.option(
    "--builder", default="auto", show_default=True, help="auto, docker, podman or buildah."
)
@click.option("--base-image", default=None, help="Build on this image instead.")
@click.option(
    "--ca-cert",
    type=click.Path(path_type=Path),
    default=None,
    envvar="TRUSSD_CA_CERT",
    help="PEM bundle to trust during the build (TLS-intercepting proxies); env TRUSSD_CA_CERT.",
)
@click.option(
    "--secret", "secrets", multiple=True, help="NAME=FILE for build.secret_to_path_mapping."
)
@click.option("--bake-weights", is_flag=True, help="Put local weights into the image.")
@click.option("--no-cache", is_flag=True, help="Rebuild every layer.")
@click.option("--verbose", "-v", is_flag=True, help="Show the builder's whole log.")
def build(
    truss_dir: Path,
    tag: str | None,
    builder: str,
    base_image: str | None,
    ca_cert: Path | None,
    secrets: tuple[str, ...],
    bake_weights: bool,
    no_cache: bool,
    verbose: bool,
) -> None:
    """Build the serving image of TRUSS_DIR."""
    from trussd.deploy.image import build_image, detect_builder

    try:
        chosen = detect_builder(builder)
        context = _render(truss_dir, base_image, bake_weights)
        tag = tag or context.default_tag()
        click.echo(f"building {tag} with {chosen.name} (context {context.context_hash[:12]})")
        result = build_image(
            context,
            chosen,
            tag=tag,
            ca_cert=ca_cert,
            secrets=_secrets(secrets),
            no_cache=no_cache,
            on_event=_printer(verbose),
        )
    except (ConfigError, BuildError) as exc:
        _fail(exc)
    cached = len(result.cached_steps)
    click.echo(f"built {result.tag} ({result.image_id[:12]}; {cached} steps from cache)")


@image.command("run")
@click.argument("tag")
@click.option(
    "--port", "-p", default=8080, show_default=True, type=int, help="Port on this machine."
)
@click.option(
    "--runtime", default="auto", show_default=True, help="auto, docker, podman or buildah."
)
@click.option("--env", "-e", "env", multiple=True, help="KEY=VALUE for the server's environment.")
@click.option(
    "--weights",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder mounted where the image expects its (not baked) weights.",
)
def run(tag: str, port: int, runtime: str, env: tuple[str, ...], weights: Path | None) -> None:
    """Run the image TAG in the foreground, serving on 127.0.0.1:PORT."""
    from trussd.deploy.image import plan_run, run_image

    values = dict(item.partition("=")[::2] for item in env)
    try:
        plan = plan_run(tag, port, runtime=runtime, env=values, weights=weights)
    except BuildError as exc:
        _fail(exc)
    click.echo(f"running {tag} with {plan.runtime} on http://127.0.0.1:{port}", err=True)
    sys.exit(run_image(plan))
