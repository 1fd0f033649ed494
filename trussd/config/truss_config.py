"""The whole of ``config.yaml``: every Truss field (same names, defaults and rules) plus trussd's sections."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from trussd.config.base import ConfigModel
from trussd.config.build import BaseImage, Build, DockerServer, check_secret_name
from trussd.config.resources import Resources
from trussd.config.runtime import Runtime
from trussd.config.sections import DeploymentConfig, EngineConfig
from trussd.config.sources import ExternalData, ModelCache, Weights
from trussd.config.trt_llm import TrtLlm

SUPPORTED_PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
_PY_TAGS = {f"py{v.replace('.', '')}": v for v in SUPPORTED_PYTHON_VERSIONS}


class TrussConfig(ConfigModel):
    """A truss's ``config.yaml``. An existing truss needs none of trussd's sections."""

    model_name: str | None = Field(default=None, description="Name of the model.")
    model_metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free-form metadata; the whole config reaches the model."
    )
    description: str | None = Field(default=None, description="What the model does.")
    examples_filename: str = Field(default="examples.yaml", description="File with example inputs.")
    data_dir: str = Field(default="data", description="Folder of data files, passed to the Model.")
    external_data: ExternalData | None = Field(
        default=None, description="Files downloaded into the data folder at start."
    )
    external_package_dirs: list[str] = Field(
        default_factory=list, description="Package folders outside the truss, added to the path."
    )
    python_version: str = Field(
        default="py313", description="Python of the image: py39 … py314."
    )
    base_image: BaseImage | None = Field(default=None, description="Custom base image.")
    requirements_file: str | None = Field(
        default=None, description="requirements.txt, pyproject.toml or uv.lock (not with `requirements`)."
    )
    requirements: list[str] = Field(
        default_factory=list, description="pip requirements (not with `requirements_file`)."
    )
    system_packages: list[str] = Field(default_factory=list, description="apt packages of the image.")
    environment_variables: dict[str, str] = Field(
        default_factory=dict, description="Environment of the server; values are strings."
    )
    secrets: dict[str, str | None] = Field(
        default_factory=dict,
        description="Secret names the model uses, each mapped to a placeholder (never a real value).",
    )
    resources: Resources = Field(default_factory=Resources, description="CPU, memory, GPUs.")
    runtime: Runtime = Field(default_factory=Runtime, description="Server runtime settings.")
    build: Build = Field(default_factory=Build, description="Build settings.")
    build_commands: list[str] = Field(
        default_factory=list, description="Shell commands run while the image is built."
    )
    docker_server: DockerServer | None = Field(
        default=None, description="Run your own HTTP server instead of a Model class."
    )
    model_cache: ModelCache = Field(
        default_factory=ModelCache, description="Weights fetched into the model cache (not with `weights`)."
    )
    weights: Weights = Field(default_factory=Weights, description="Weight sources (not with `model_cache`).")
    bdn: dict[str, Any] = Field(default_factory=dict, description="Baseten-only volume settings (ignored).")
    trt_llm: TrtLlm | None = Field(default=None, description="TensorRT-LLM engine section.")
    training_checkpoints: dict[str, Any] | None = Field(default=None, description="Checkpoints to load.")
    bis_llm: dict[str, Any] | None = Field(default=None, description="Baseten-only (ignored).")
    # Legacy fields, kept with Truss's defaults.
    input_type: str = "Any"
    model_framework: str = "custom"
    model_type: str = "Model"
    model_module_dir: str = Field(default="model", description="Folder of the Model class.")
    model_class_filename: str = Field(default="model.py", description="File of the Model class.")
    model_class_name: str = Field(default="Model", description="Name of the Model class.")
    bundled_packages_dir: str = Field(default="packages", description="Folder of bundled packages.")
    use_local_src: bool = False
    cache_internal: ModelCache = Field(default_factory=ModelCache)
    live_reload: bool = Field(default=False, description="Truss `watch` hot reload.")
    apply_library_patches: bool = True
    spec_version: str = "2.0"
    # trussd's sections.
    engine: EngineConfig | None = Field(default=None, description="trussd: serve an LLM through an engine.")
    deployment: DeploymentConfig = Field(
        default_factory=DeploymentConfig, description="trussd: replicas, scale to zero, tenant."
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "hf_cache" in data:
            data = dict(data)
            cached = data.pop("hf_cache")
            data.setdefault("model_cache", cached or [])
        if isinstance(data, dict) and data.get("cache_internal") is None:
            data = {**data, "cache_internal": []}
        return data

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _stringify_env(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            str(k): str(v).lower() if isinstance(v, bool) else ("" if v is None else str(v))
            for k, v in value.items()
        }

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for name in value:
            check_secret_name(name)
        return value

    @field_validator("python_version")
    @classmethod
    def _python_version(cls, value: str) -> str:
        if value not in _PY_TAGS:
            valid = ", ".join(_PY_TAGS)
            raise ValueError(f"`{value}` is not a supported python_version; use one of {valid}")
        return value

    @model_validator(mode="after")
    def _exclusive(self) -> TrussConfig:
        if self.requirements and self.requirements_file:
            raise ValueError(
                "set either `requirements` or `requirements_file`, not both "
                "(move the list into the file, or drop `requirements_file`)"
            )
        if self.model_cache.models and self.weights.sources:
            raise ValueError("set either `model_cache` or `weights`, not both")
        if self.runtime.remote_ssh.enabled and self.docker_server and self.docker_server.run_as_user_id:
            raise ValueError("`runtime.remote_ssh.enabled` does not work with `docker_server.run_as_user_id`")
        return self

    @property
    def canonical_python_version(self) -> str:
        """``py311`` → ``3.11``."""
        return _PY_TAGS[self.python_version]
