"""The whole of ``config.yaml``: every Truss field (same names, defaults, rules), trussd's own."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from trussd.config.base import ANY_SCALAR, ConfigModel, nullable
from trussd.config.build import BaseImage, Build, DockerServer
from trussd.config.platform import BISLLM, BDNConfig, CheckpointList
from trussd.config.problems import FieldProblem
from trussd.config.resources import Resources
from trussd.config.runtime import Runtime
from trussd.config.sections import DeploymentConfig, EngineConfig
from trussd.config.sources import CacheInternal, ExternalData, ModelCache, Weights
from trussd.config.trt_llm_stack import TrtLlm, check_trt_llm_resources

__all__ = ["SUPPORTED_PYTHON_VERSIONS", "TrussConfig"]

SUPPORTED_PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
_PY_TAGS = {f"py{v.replace('.', '')}": v for v in SUPPORTED_PYTHON_VERSIONS}


class TrussConfig(ConfigModel):
    """A truss's ``config.yaml``. An existing truss needs none of trussd's sections."""

    legacy_keys: ClassVar[frozenset[str]] = frozenset({"hf_cache"})

    model_name: str | None = Field(default=None, description="Name of the model.")
    model_metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form metadata (e.g. `example_model_input`, `tags`); the whole config "
        "reaches the model.",
    )
    description: str | None = Field(default=None, description="What the model does.")
    examples_filename: str = Field(default="examples.yaml", description="File with example inputs.")
    data_dir: str = Field(default="data", description="Folder of data files, passed to the Model.")
    external_data: ExternalData | None = Field(
        default=None, description="Remote files downloaded into the data folder at start."
    )
    external_package_dirs: list[str] = Field(
        default_factory=list, description="Package folders outside the truss, added to the path."
    )
    python_version: str = Field(
        default="py313", description="Python of the image: `py39` (deprecated) … `py314`."
    )
    base_image: BaseImage | None = Field(default=None, description="Custom base image.")
    requirements_file: str | None = Field(
        default=None,
        description="requirements.txt, pyproject.toml or uv.lock (not with `requirements`).",
    )
    requirements: list[str] = Field(
        default_factory=list, description="pip requirements (not with `requirements_file`)."
    )
    system_packages: list[str] = Field(
        default_factory=list, description="apt packages installed in the image."
    )
    environment_variables: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": ANY_SCALAR},
        description="Environment of the server; values become strings (`true`/`false` for "
        "booleans). Never put secret values here.",
    )
    secrets: dict[str, str | None] = Field(
        default_factory=dict,
        description="Secret names the model reads, each mapped to `null` or a placeholder "
        "(never the real value).",
    )
    resources: Resources = Field(default_factory=Resources, description="CPU, memory and GPUs.")
    runtime: Runtime = Field(default_factory=Runtime, description="Model server runtime settings.")
    build: Build = Field(default_factory=Build, description="Build settings.")
    build_commands: list[str] = Field(
        default_factory=list,
        description="Shell commands run while the image is built, after the requirements.",
    )
    docker_server: DockerServer | None = Field(
        default=None, description="Run your own HTTP server instead of a Model class."
    )
    model_cache: ModelCache = Field(
        default_factory=ModelCache,
        description="Deprecated in favour of `weights`: repositories fetched into the model cache.",
    )
    weights: Weights = Field(
        default_factory=Weights, description="Weight sources (not with `model_cache`)."
    )
    bdn: BDNConfig = Field(
        default_factory=BDNConfig, description="Baseten volume mounts (validated, not used)."
    )
    trt_llm: TrtLlm | None = Field(default=None, description="TensorRT-LLM engine section.")
    training_checkpoints: CheckpointList | None = Field(
        default=None, description="Training checkpoints to deploy (Baseten)."
    )
    bis_llm: BISLLM | None = Field(
        default=None, description="Baseten's BIS LLM stack (validated, not used)."
    )
    # Legacy and internal fields, kept with Truss's defaults.
    input_type: str = Field(default="Any", description="Legacy; ignored.")
    model_framework: str = Field(default="custom", description="Legacy; ignored.")
    model_type: str = Field(default="Model", description="Legacy; ignored.")
    model_module_dir: str = Field(default="model", description="Folder of the Model class.")
    model_class_filename: str = Field(default="model.py", description="File of the Model class.")
    model_class_name: str = Field(default="Model", description="Name of the Model class.")
    bundled_packages_dir: str = Field(
        default="packages", description="Folder of packages bundled with the truss."
    )
    use_local_src: bool = Field(default=False, description="Legacy; ignored.")
    cache_internal: CacheInternal = Field(
        default_factory=CacheInternal,
        json_schema_extra=nullable,
        description="Internal; repositories cached at build.",
    )
    live_reload: bool = Field(default=False, description="Reload model code on change (`watch`).")
    apply_library_patches: bool = Field(
        default=True, description="Apply Truss's library patches (ignored by trussd)."
    )
    spec_version: str = Field(default="2.0", description="Version of the config format.")
    # trussd's sections.
    engine: EngineConfig | None = Field(
        default=None, description="trussd: serve an LLM through an engine backend."
    )
    deployment: DeploymentConfig = Field(
        default_factory=DeploymentConfig, description="trussd: replicas, scale to zero, tenant."
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "hf_cache" in data and "model_cache" not in data:
            data["model_cache"] = data.pop("hf_cache") or []
        if data.get("cache_internal", ...) is None:
            data["cache_internal"] = []
        return data

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _stringify_env(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {
            k: str(v).lower() if isinstance(v, bool) else ("" if v is None else str(v))
            for k, v in value.items()
        }

    @field_validator("python_version")
    @classmethod
    def _python_version(cls, value: str) -> str:
        if value not in _PY_TAGS:
            raise ValueError(
                f"`{value}` is not a supported python_version; use one of {', '.join(_PY_TAGS)}"
            )
        return value

    @model_validator(mode="after")
    def _exclusive(self) -> TrussConfig:
        if self.requirements and self.requirements_file:
            raise FieldProblem(
                "set either `requirements` or `requirements_file`, not both",
                field=("requirements_file",),
                hint="move the list into the file, or drop `requirements_file`",
            )
        if self.model_cache.models and self.weights.sources:
            raise FieldProblem(
                "set either `model_cache` or `weights`, not both",
                field=("model_cache",),
                hint="move the repositories to `weights` (model_cache is deprecated)",
            )
        if (
            self.runtime.remote_ssh.enabled
            and self.docker_server is not None
            and self.docker_server.run_as_user_id is not None
        ):
            raise FieldProblem(
                "`runtime.remote_ssh.enabled` does not work with `docker_server.run_as_user_id`",
                field=("runtime", "remote_ssh", "enabled"),
                hint="SSH needs the default user; drop one of the two",
            )
        if self.trt_llm is not None:
            check_trt_llm_resources(self.trt_llm, self.resources)
        return self

    @property
    def canonical_python_version(self) -> str:
        """``py311`` → ``3.11``."""
        return _PY_TAGS[self.python_version]
