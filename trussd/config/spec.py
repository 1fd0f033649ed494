"""``TrussSpec``: the one resolved, frozen description of a truss that every consumer takes."""

from __future__ import annotations

import enum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from trussd.config.diagnostics import Diagnostic
from trussd.config.sections import DeploymentConfig, EngineConfig
from trussd.config.truss_config import TrussConfig


class TrussKind(enum.StrEnum):
    CUSTOM = "custom"  # a Model class in model/model.py
    ENGINE = "engine"  # an LLM served by an engine backend (engine: or trt_llm:)
    DOCKER_SERVER = "docker_server"  # the user's own HTTP server in the image


class TrussSpec(BaseModel):
    """Everything downstream needs, resolved once. Nothing downstream re-reads YAML.

    Paths are absolute. ``engine`` is set for engine trusses (from ``engine:``, or derived
    from Truss's ``trt_llm:`` section); ``config`` keeps every field as written.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    root: Path
    config_path: Path
    config: TrussConfig
    config_hash: str
    kind: TrussKind
    model_name: str
    model_dir: Path
    model_file: Path
    model_class_name: str
    has_model_class: bool
    data_dir: Path
    packages_dir: Path
    external_package_dirs: tuple[Path, ...]
    requirements: tuple[str, ...]
    secret_names: tuple[str, ...]
    engine: EngineConfig | None
    deployment: DeploymentConfig
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def python_version(self) -> str:
        """Dotted version of the image's Python, e.g. ``3.11``."""
        return self.config.canonical_python_version

    @property
    def served_model_name(self) -> str:
        """The name OpenAI clients pass as ``model``."""
        if self.engine and self.engine.served_model_name:
            return self.engine.served_model_name
        return self.model_name

    @property
    def startup_seconds(self) -> int:
        """How long a replica may take to load: health_checks, else the engine's, else the
        deployment's cold start."""
        configured = self.config.runtime.health_checks.startup_threshold_seconds
        if configured:
            return configured
        if self.engine is not None:
            return self.engine.startup_timeout_seconds
        return self.deployment.cold_start_timeout_seconds

    def engine_model_path(self) -> str | None:
        """The engine's ``model``: a local path resolved against the truss, else as written."""
        if self.engine is None:
            return None
        candidate = Path(self.engine.model)
        local = candidate if candidate.is_absolute() else self.root / candidate
        if self.engine.model.startswith((".", "/")) or local.exists():
            return str(local.resolve())
        return self.engine.model
