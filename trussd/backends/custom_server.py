"""A ``docker_server`` truss: the user's own HTTP server, started and supervised by trussd.

Truss runs ``start_command`` in the image and proxies to ``server_port``; trussd does the same
with its own supervisor, so the server gets the same readiness, restarts, limits and metrics
as an engine. The server listens on the port the config names (not one trussd picks), and
``/predict`` goes to ``predict_endpoint``; OpenAI routes pass through with ``model`` unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

from trussd.backends.base import EngineAdapter, LaunchPlan
from trussd.config.spec import TrussSpec
from trussd.errors import ConfigError

__all__ = ["DockerServerBackend"]


def _route(path: str) -> str:
    return path if path.startswith("/") else "/" + path


class DockerServerBackend(EngineAdapter):
    name: ClassVar[str] = "docker_server"
    command: ClassVar[str | None] = "sh"
    install_hint: ClassVar[str] = "a POSIX shell runs `start_command`"

    def plan(self, spec: TrussSpec, port: int) -> LaunchPlan:
        server = spec.config.docker_server
        if server is None:
            raise ConfigError(f"{spec.root} has no `docker_server:` section")
        if not server.start_command:
            raise ConfigError(
                "`docker_server.start_command` is not set (`no_build: true`); the image's own "
                "entrypoint starts that server, so `trussd serve` cannot",
            )
        return LaunchPlan(
            # A shell, as in Truss: start commands use `&&`, variables and redirections.
            argv=("/bin/sh", "-c", server.start_command),
            port=server.server_port,
            health_path=_route(server.readiness_endpoint),
            metrics_path=None,
            served_model_name="",
            cwd=spec.root,
            predict_path=_route(server.predict_endpoint),
        )

    def adapt_request(self, body: dict[str, Any], plan: LaunchPlan) -> dict[str, Any]:
        return body
