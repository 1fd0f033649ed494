"""Settings of one control plane (``trussd up``)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from trussd.control.replica import CommandFactory, default_command

__all__ = ["ControlSettings"]


class ControlSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_dir: Path
    database_url: str | None = Field(default=None, description="sqlite:///PATH or postgresql://...")
    price_table: Path | None = Field(
        default=None, description="YAML price table; built-in when unset."
    )
    max_upload_bytes: int = Field(default=2 * 1024**3, description="Largest pushed archive.")
    max_unpacked_bytes: int = Field(default=8 * 1024**3, description="Largest truss once unpacked.")
    max_archive_members: int = 100_000
    tick_seconds: float = Field(
        default=0.25, description="Autoscaler period (it also wakes on demand)."
    )
    meter_seconds: float = Field(default=10.0, description="How often running replicas are billed.")
    stop_grace_seconds: float = 10.0
    start_failure_limit: int = Field(
        default=2, description="Failed starts in a row that fail a deployment."
    )
    zygote: bool = Field(
        default=True,
        description="Fork `trussd serve` replicas from a pre-imported process (faster cold "
        "starts); only with the default replica command.",
    )
    replica_command: str | None = Field(
        default=None,
        description="Command template for a replica with {truss_dir} and {port}; "
        "default `python -m trussd.cli.main serve`.",
    )

    def command_factory(self) -> CommandFactory:
        if not self.replica_command:
            return default_command
        template = shlex.split(self.replica_command)

        def command(truss_dir: Path, port: int) -> Sequence[str]:
            return [part.format(truss_dir=truss_dir, port=port) for part in template]

        return command

    @property
    def deployments_dir(self) -> Path:
        return self.data_dir / "deployments"

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def replicas_dir(self) -> Path:
        return self.data_dir / "replicas"
