"""The ``trussd`` command. Each subcommand lives in its own module and is imported on use,
so that ``trussd validate`` does not pay for importing the server or the control plane."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from trussd import __version__

# command name → "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "init": "trussd.cli.init_cmd:init",
    "validate": "trussd.cli.validate_cmd:validate",
    "serve": "trussd.cli.serve_cmd:serve",
    "predict": "trussd.cli.predict_cmd:predict",
    "image": "trussd.cli.image_cmd:image",
    "manifests": "trussd.cli.manifests_cmd:manifests",
    "up": "trussd.cli.control_cmd:up",
    "push": "trussd.cli.control_cmd:push",
    "deployments": "trussd.cli.control_cmd:deployments",
    "usage": "trussd.cli.control_cmd:usage",
    "logs": "trussd.cli.control_cmd:logs",
    "keys": "trussd.cli.keys_cmd:keys",
    "secrets": "trussd.cli.keys_cmd:secrets",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # command not built yet
            raise
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command

    @staticmethod
    def _available(name: str) -> bool:
        module_name = COMMANDS[name].split(":")[0]
        return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="trussd")
def cli() -> None:
    """trussd: validate, serve, build, deploy and meter Truss-compatible models."""


def main() -> None:
    cli(prog_name="trussd")


if __name__ == "__main__":
    main()
    sys.exit(0)
