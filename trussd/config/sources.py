"""Where weights and data come from: ``model_cache``, ``weights`` and ``external_data``."""

from __future__ import annotations

import enum
from typing import Annotated, Any

from pydantic import Field, RootModel, StringConstraints, field_validator, model_validator

from trussd.config.auth import WeightsAuth
from trussd.config.base import ConfigModel
from trussd.config.problems import FieldProblem

__all__ = [
    "CacheInternal",
    "ExternalData",
    "ExternalDataItem",
    "ModelCache",
    "ModelRepo",
    "ModelRepoSourceKind",
    "Weights",
    "WeightsSource",
]

NonEmpty = Annotated[str, StringConstraints(min_length=1)]

_CLOUD_SCHEMES = ("s3://", "gs://", "azure://", "r2://", "cw://")
_SCHEMES = (*_CLOUD_SCHEMES, "hf://", "https://")


class ModelRepoSourceKind(enum.StrEnum):
    HF = "hf"
    GCS = "gcs"
    S3 = "s3"
    AZURE = "azure"


class ModelRepo(ConfigModel):
    """One repository of weights fetched into the model cache."""

    repo_id: NonEmpty = Field(description="Hub id (`org/model`) or bucket path of the weights.")
    revision: str = Field(
        default="", description="Branch, tag or commit; required with `use_volume`."
    )
    allow_patterns: list[str] | None = Field(
        default=None, description="Only files matching these globs, e.g. `['*.safetensors']`."
    )
    ignore_patterns: list[str] | None = Field(
        default=None, description="Skip files matching these globs, e.g. `['*.pth']`."
    )
    volume_folder: NonEmpty | None = Field(
        default=None, description="Folder under `/app/model_cache` (required with `use_volume`)."
    )
    use_volume: bool = Field(
        description="`true`: fetched at start into a cache volume; `false`: baked into the image."
    )
    kind: ModelRepoSourceKind = Field(
        default=ModelRepoSourceKind.HF, description="`hf`, `gcs`, `s3` or `azure`."
    )
    runtime_secret_name: str = Field(
        default="hf_access_token", description="Secret holding the access token."
    )

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str) -> str:
        if len(value) == 1:
            raise ValueError("revision must be empty or at least 2 characters")
        return value

    @model_validator(mode="before")
    @classmethod
    def _volume_needs(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("use_volume"):
            return data
        kind = data.get("kind")
        if kind in (None, ModelRepoSourceKind.HF.value) and not data.get("revision"):
            raise FieldProblem(
                f"`revision` is required for `use_volume: true` Hugging Face repos "
                f"(`{data.get('repo_id')}`)",
                field=("revision",),
                hint="pin a commit sha, e.g. `revision: 0123abcd...`",
            )
        if not data.get("volume_folder"):
            raise FieldProblem(
                "`volume_folder` is required for `use_volume: true` repos",
                field=("volume_folder",),
                hint="add e.g. `volume_folder: llama`",
            )
        return data


class ModelRepoCacheInternal(ModelRepo):
    use_volume: bool = Field(default=False, description="Legacy; as in `model_cache`.")


class ModelCache(RootModel[list[ModelRepo]]):
    """Deprecated in Truss in favour of ``weights``; still read."""

    root: list[ModelRepo] = Field(default_factory=list)

    @property
    def models(self) -> list[ModelRepo]:
        return self.root


class CacheInternal(RootModel[list[ModelRepoCacheInternal]]):
    root: list[ModelRepoCacheInternal] = Field(default_factory=list)

    @property
    def models(self) -> list[ModelRepoCacheInternal]:
        return self.root


def check_source_uri(value: str) -> str:
    """A weights ``source`` URI: a known scheme and a non-empty path, revisions only for hf://."""
    supported = ", ".join(sorted(_SCHEMES))
    if "://" not in value:
        raise ValueError(f"source `{value}` has no URI scheme; start it with one of {supported}")
    scheme = value.split("://")[0] + "://"
    if scheme not in _SCHEMES:
        raise ValueError(f"unsupported source scheme `{scheme}`; use one of {supported}")
    rest = value[len(scheme) :]
    if not rest or rest.startswith("/"):
        example = {"hf://": "hf://owner/repo", "https://": "https://host/path"}.get(
            scheme, f"{scheme}bucket/path"
        )
        raise ValueError(f"source `{value}` has no path; expected e.g. `{example}`")
    if scheme in _CLOUD_SCHEMES and "@" in rest:
        raise ValueError(f"source `{value}`: `@revision` is only valid for hf:// sources")
    return value


class WeightsSource(ConfigModel):
    """One weights source, mounted read-only into the replica."""

    source: NonEmpty = Field(
        description="URI: `hf://owner/repo[@revision]`, `s3://`, `gs://`, `azure://`, `r2://`, "
        "`cw://` (bucket/path) or `https://host/path`."
    )
    mount_location: NonEmpty = Field(description="Absolute path the weights appear at.")
    auth: WeightsAuth | None = Field(default=None, description="Credentials for the source.")
    auth_secret_name: str | None = Field(
        default=None, description="Secret with credentials (or `auth.auth_secret_name`, not both)."
    )
    allow_patterns: list[str] | None = Field(
        default=None, description="Only files matching these globs, e.g. `['*.safetensors']`."
    )
    ignore_patterns: list[str] | None = Field(
        default=None, description="Skip files matching these globs, e.g. `['*.md']`."
    )

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source_uri(value)

    @field_validator("mount_location")
    @classmethod
    def _mount(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(
                f"mount_location `{value}` must be an absolute path, e.g. `/models/llm`"
            )
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> WeightsSource:
        if self.auth_secret_name and self.auth and self.auth.auth_secret_name:
            raise FieldProblem(
                "auth_secret_name is set both here and in `auth`",
                field=("auth_secret_name",),
                hint="keep only one of them",
            )
        return self

    @property
    def is_huggingface(self) -> bool:
        return self.source.startswith("hf://")


class Weights(RootModel[list[WeightsSource]]):
    """Weight sources (Truss's replacement for ``model_cache``)."""

    root: list[WeightsSource] = Field(default_factory=list)

    @property
    def sources(self) -> list[WeightsSource]:
        return self.root

    @model_validator(mode="after")
    def _unique_mounts(self) -> Weights:
        seen: set[str] = set()
        for index, item in enumerate(self.root):
            if item.mount_location in seen:
                raise FieldProblem(
                    f"two weights sources mount at `{item.mount_location}`",
                    field=(index, "mount_location"),
                    hint="give each source its own mount_location",
                )
            seen.add(item.mount_location)
        return self


class ExternalDataItem(ConfigModel):
    """A remote file downloaded into the data folder at start."""

    url: NonEmpty = Field(description="URL of the file to download.")
    local_data_path: NonEmpty = Field(description="Path under the data folder to write it to.")
    backend: str = Field(default="http_public", description="Download backend.")
    name: str | None = Field(default=None, description="Optional label of the download.")


class ExternalData(RootModel[list[ExternalDataItem]]):
    """Files outside the truss, made available under the data folder."""

    root: list[ExternalDataItem] = Field(default_factory=list)

    @property
    def items(self) -> list[ExternalDataItem]:
        return self.root
