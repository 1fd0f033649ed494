"""Where weights and data come from: ``model_cache``, ``weights`` and ``external_data``."""

from __future__ import annotations

import enum

from pydantic import Field, RootModel, field_validator, model_validator

from trussd.config.base import ConfigModel


class ModelRepoSourceKind(str, enum.Enum):
    HF = "hf"
    GCS = "gcs"
    S3 = "s3"
    AZURE = "azure"


class ModelRepo(ConfigModel):
    repo_id: str = Field(min_length=1, description="Hub id or bucket URL of the weights.")
    revision: str = Field(default="", description="Revision (branch, tag or commit).")
    allow_patterns: list[str] | None = Field(default=None, description="Only files matching these globs.")
    ignore_patterns: list[str] | None = Field(default=None, description="Skip files matching these globs.")
    volume_folder: str | None = Field(default=None, description="Folder under the model cache.")
    use_volume: bool = Field(default=False, description="Mount from a shared volume (needs volume_folder).")
    kind: ModelRepoSourceKind = Field(default=ModelRepoSourceKind.HF, description="Source kind.")
    runtime_secret_name: str = Field(default="hf_access_token", description="Secret with the access token.")

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str) -> str:
        if len(value) == 1:
            raise ValueError("revision must be empty or at least 2 characters")
        return value

    @model_validator(mode="after")
    def _volume(self) -> ModelRepo:
        if self.use_volume and not self.volume_folder:
            raise ValueError("`use_volume: true` needs `volume_folder`")
        return self


class ModelCache(RootModel[list[ModelRepo]]):
    root: list[ModelRepo] = Field(default_factory=list)

    @property
    def models(self) -> list[ModelRepo]:
        return self.root


class WeightsSource(ConfigModel):
    source: str = Field(
        min_length=1,
        description="`hf://org/repo@rev`, `s3://bucket/path`, `gs://…`, `azure://…` or `https://…`.",
    )
    mount_location: str = Field(min_length=1, description="Absolute path the weights appear at.")
    auth_secret_name: str | None = Field(default=None, description="Secret with credentials.")
    allow_patterns: list[str] | None = None
    ignore_patterns: list[str] | None = None

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        schemes = ("hf://", "s3://", "gs://", "azure://", "https://", "http://", "r2://")
        if not value.startswith(schemes):
            raise ValueError(
                f"`{value}` has no known scheme; start it with one of {', '.join(schemes)}"
            )
        return value

    @field_validator("mount_location")
    @classmethod
    def _mount(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"mount_location `{value}` must be an absolute path, e.g. `/models/llm`")
        return value


class Weights(RootModel[list[WeightsSource]]):
    root: list[WeightsSource] = Field(default_factory=list)

    @property
    def sources(self) -> list[WeightsSource]:
        return self.root

    @model_validator(mode="after")
    def _unique_mounts(self) -> Weights:
        seen: set[str] = set()
        for item in self.root:
            if item.mount_location in seen:
                raise ValueError(f"two weights sources mount at `{item.mount_location}`")
            seen.add(item.mount_location)
        return self


class ExternalDataItem(ConfigModel):
    url: str = Field(min_length=1, description="URL to download at start.")
    local_data_path: str = Field(min_length=1, description="Path under the data folder.")
    backend: str = Field(default="http_public", description="Download backend.")
    name: str | None = Field(default=None, description="Optional label.")


class ExternalData(RootModel[list[ExternalDataItem]]):
    root: list[ExternalDataItem] = Field(default_factory=list)
