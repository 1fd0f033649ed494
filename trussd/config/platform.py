"""Sections for Baseten's platform (``bdn``, ``bis_llm``, ``training_checkpoints``).

trussd validates them exactly as Truss does, so that a truss written for Baseten keeps
validating, but it does not act on them.
"""

from __future__ import annotations

import enum
import re
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from trussd.config.base import ConfigModel
from trussd.config.problems import FieldProblem

__all__ = ["BISLLM", "BDNConfig", "CheckpointList"]

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
_IDENT = r"[^/:@\x00]+"
_BDN_SOURCE = re.compile(
    rf"bdn:(?P<namespace>{_IDENT})/(?P<volume>{_IDENT})"
    rf"(?::(?P<tag>{_IDENT})|@(?:b3:)?(?P<digest>[0-9a-fA-F]+))?"
)


def _identifier(kind: str, value: str) -> None:
    if not value:
        raise ValueError(f"BDN {kind} must not be empty")
    if len(value) > 256:
        raise ValueError(f"BDN {kind} must be at most 256 characters")
    if "/" in value or ".." in value or "\0" in value:
        raise ValueError(f"invalid BDN {kind} `{value}`")


def _check_bdn_source(value: str) -> str:
    if not value.startswith("bdn:"):
        raise ValueError(f"volume source `{value}` must use the `bdn:` scheme")
    match = _BDN_SOURCE.fullmatch(value)
    if match is None:
        raise ValueError(
            f"invalid BDN volume source `{value}`; expected bdn:namespace/volume[:tag|@digest]"
        )
    _identifier("namespace", match.group("namespace"))
    _identifier("volume", match.group("volume"))
    if match.group("tag"):
        _identifier("tag", match.group("tag"))
    digest = match.group("digest")
    if digest and not 12 <= len(digest) <= 64:
        raise ValueError("BDN digest must have between 12 and 64 hexadecimal characters")
    return value


class BDNVolumeMount(ConfigModel):
    """A BDN volume mounted into the replica."""

    source: NonEmpty = Field(description="Volume reference, e.g. `bdn:weights/llama-8b:prod`.")
    path: NonEmpty = Field(description="Absolute mount path (not `/`, no `..`).")
    include: list[str] = Field(
        default_factory=list, description="Relative globs to mount; empty: all."
    )
    exclude: list[str] = Field(default_factory=list, description="Relative globs to leave out.")

    @field_validator("include", "exclude")
    @classmethod
    def _globs(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            parts = pattern.removesuffix("/").split("/")
            if (
                not pattern
                or pattern != pattern.strip()
                or pattern.startswith("/")
                or "\\" in pattern
                or "\0" in pattern
                or any(part in {"", ".", ".."} for part in parts)
            ):
                raise ValueError(
                    f"mount filter `{pattern}` must be a non-empty relative glob "
                    "without `.`/`..` segments or backslashes"
                )
        return patterns

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return _check_bdn_source(value)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("mount path must not contain null bytes")
        path = PurePosixPath(value)
        if not path.is_absolute():
            raise ValueError(f"mount path `{value}` must be absolute (start with /)")
        if path == PurePosixPath("/"):
            raise ValueError("mount path must not be `/`")
        if ".." in path.parts:
            raise ValueError(f"mount path `{value}` must not contain `..`")
        return str(path)


class BDNAccessGrant(enum.StrEnum):
    PULL = "pull"
    PUSH = "push"
    TAG = "tag"
    INSPECT = "inspect"
    DELETE = "delete"


class BDNAccess(ConfigModel):
    """Operations granted in one BDN namespace."""

    namespace: NonEmpty = Field(description="BDN namespace.")
    grants: list[BDNAccessGrant] = Field(
        min_length=1, description="`pull`, `push`, `tag`, `inspect` and/or `delete`."
    )

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        _identifier("namespace", value)
        return value

    @field_validator("grants")
    @classmethod
    def _unique(cls, grants: list[BDNAccessGrant]) -> list[BDNAccessGrant]:
        if len(grants) != len(set(grants)):
            raise ValueError("BDN access grants must be unique within a namespace")
        return grants


class BDNHotload(ConfigModel):
    enabled: bool = Field(default=False, description="Load BDN data while the deployment runs.")


class BDNConfig(ConfigModel):
    """Baseten Delivery Network volumes (Baseten only; validated, not used by trussd)."""

    mounts: list[BDNVolumeMount] = Field(default_factory=list, description="Volumes to mount.")
    access: list[BDNAccess] = Field(default_factory=list, description="Namespace access grants.")
    hotload: BDNHotload = Field(default_factory=BDNHotload, description="Hot-loading settings.")

    @field_validator("mounts")
    @classmethod
    def _unique_paths(cls, mounts: list[BDNVolumeMount]) -> list[BDNVolumeMount]:
        seen: set[str] = set()
        for mount in mounts:
            if mount.path in seen:
                raise ValueError(f"two BDN volumes mount at `{mount.path}`")
            seen.add(mount.path)
        return mounts

    @field_validator("access")
    @classmethod
    def _unique_namespaces(cls, access: list[BDNAccess]) -> list[BDNAccess]:
        names = [entry.namespace for entry in access]
        if len(names) != len(set(names)):
            raise ValueError("BDN access namespaces must be unique")
        return access


class AutoscalingMetric(BaseModel):
    name: str = Field(description="Metric name.")
    target: float = Field(description="Target value per replica.")


class AdditionalAutoscalingConfig(BaseModel):
    metrics: list[AutoscalingMetric] = Field(description="Metric targets for autoscaling.")


class BISLLM(ConfigModel):
    """Baseten's BIS LLM stack (Baseten only; validated, not used by trussd)."""

    config: dict[str, Any] | None = Field(default=None, description="Stack options.")
    version: str = Field(default="", description="Stack version.")
    additional_autoscaling_config: AdditionalAutoscalingConfig | None = Field(
        default=None, description="Extra autoscaling metrics."
    )


class TrainingArtifactReference(ConfigModel):
    training_job_id: str = Field(description="Training job the artifacts belong to.")
    paths: list[str] = Field(default_factory=list, description="Files to fetch (`*`, `?` allowed).")


class CheckpointList(ConfigModel):
    """Checkpoints of a training job to deploy."""

    download_folder: str = Field(
        default="/tmp/training_checkpoints", description="Folder the checkpoints are fetched to."
    )
    artifact_references: list[TrainingArtifactReference] = Field(
        default_factory=list, description="Training-job artifacts to fetch."
    )
    loops_checkpoint_ids: list[str] = Field(
        default_factory=list, description="Loops checkpoint ids (not with artifact_references)."
    )

    @model_validator(mode="after")
    def _no_mixing(self) -> CheckpointList:
        if self.artifact_references and self.loops_checkpoint_ids:
            raise FieldProblem(
                "set either `artifact_references` or `loops_checkpoint_ids`, not both",
                field=("loops_checkpoint_ids",),
            )
        return self
