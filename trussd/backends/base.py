"""The one small protocol every engine adapter implements.

Like an HTTP transport, an adapter has one required method — ``plan``: turn the resolved
spec into the exact process to launch. Everything else (readiness path, metric names, request
adaptation, install check) has a default in ``EngineAdapter`` that an adapter overrides only
where its engine differs. Adapters never import their engine at module import time: engines
are huge, optional and often absent (SGLang and TensorRT-LLM cannot run on a CPU machine).

For adapter authors (the rest of ``trussd.backends`` builds on these):

- ``LaunchPlan.served_model_name`` is the name the *engine* knows the model by; the front maps
  the public name (``spec.served_model_name``) to it and back. ``predict_path`` is where
  ``/predict`` is forwarded.
- ``LaunchPlan.env`` is added on top of trussd's environment and ``environment_variables``.
- ``argv[0]`` should be an interpreter from ``environments.find_engine_environment`` (engines
  may live in their own venv: ``TRUSSD_<NAME>_PYTHON``), never a bare command on PATH;
  ``EnvironmentAdapter`` does that lookup, the install guard and ``run_parser`` (the engine's
  own argument parser on a command line) for an adapter that sets ``module``/``distributions``.
- ``flags.render_flags`` turns ``engine.args`` into command-line flags.
- ``metric_names`` maps an engine's Prometheus family name (as the text parser reports it:
  counters without ``_total``) to a name from ``metrics.NORMALISED``.
- Register the adapter in ``registry.BACKENDS``.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from trussd.backends.environments import EngineEnvironment, find_engine_environment
from trussd.backends.flags import ArgCheck, parse_check_output, probe
from trussd.config.spec import TrussSpec
from trussd.errors import EngineNotInstalled

__all__ = ["Backend", "EngineAdapter", "EnvironmentAdapter", "LaunchPlan"]


@dataclass(frozen=True)
class LaunchPlan:
    """Exactly what trussd runs for an engine: argv, extra environment, where it answers."""

    argv: tuple[str, ...]
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    health_path: str = "/health"
    metrics_path: str | None = "/metrics"
    served_model_name: str = ""
    cwd: Path | None = None
    #: where ``/predict`` on the truss goes (a docker_server's ``predict_endpoint``)
    predict_path: str = "/v1/chat/completions"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@runtime_checkable
class Backend(Protocol):
    """An engine trussd can launch and front."""

    name: ClassVar[str]

    def plan(self, spec: TrussSpec, port: int) -> LaunchPlan:
        """The process to start for ``spec``, listening on ``port`` on loopback."""
        ...

    def check_installed(self) -> None:
        """Raise EngineNotInstalled, with an install hint, if the engine is absent."""
        ...

    def metric_names(self) -> Mapping[str, str]:
        """Engine metric name → trussd's normalised name (``trussd_engine_*``)."""
        ...

    def adapt_request(self, body: dict[str, Any], plan: LaunchPlan) -> dict[str, Any]:
        """Rewrite an OpenAI request body for this engine (e.g. the served model name)."""
        ...


class EngineAdapter:
    """Defaults shared by the adapters; subclasses set the class attributes and ``plan``."""

    name: ClassVar[str] = ""
    #: A module whose presence means the engine is installed (checked without importing it).
    module: ClassVar[str | None] = None
    #: Or a command on PATH.
    command: ClassVar[str | None] = None
    install_hint: ClassVar[str] = ""

    def plan(self, spec: TrussSpec, port: int) -> LaunchPlan:
        raise NotImplementedError

    def is_installed(self) -> bool:
        if self.module is not None and importlib.util.find_spec(self.module) is not None:
            return True
        return self.command is not None and shutil.which(self.command) is not None

    def check_installed(self) -> None:
        if not self.is_installed():
            raise EngineNotInstalled(
                f"engine `{self.name}` is not installed", hint=self.install_hint
            )

    def metric_names(self) -> Mapping[str, str]:
        return {}

    def adapt_request(self, body: dict[str, Any], plan: LaunchPlan) -> dict[str, Any]:
        if plan.served_model_name and "model" in body:
            return {**body, "model": plan.served_model_name}
        return body


class EnvironmentAdapter(EngineAdapter):
    """An engine run from its own interpreter: installed when ``find_engine_environment``
    finds ``module`` (with one of ``distributions``) there."""

    distributions: ClassVar[tuple[str, ...]] = ()

    def environment(self) -> EngineEnvironment | None:
        return find_engine_environment(self.name, self.module or self.name, self.distributions)

    def is_installed(self) -> bool:
        return self.environment() is not None

    def require_environment(self) -> EngineEnvironment:
        """The engine's environment, or EngineNotInstalled with the install hint."""
        env = self.environment()
        if env is None:
            raise EngineNotInstalled(
                f"engine `{self.name}` is not installed", hint=self.install_hint
            )
        return env

    def run_parser(self, script: str, argv: list[str], timeout: float) -> ArgCheck:
        """``script`` (the engine's own argument parser) on ``argv``, in the engine's
        interpreter."""
        env = self.require_environment()
        return parse_check_output(probe(Path(env.python), script, argv, timeout=timeout), argv)
