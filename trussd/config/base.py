"""The base of every config.yaml model: unknown keys are kept (and reported), values frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """A section of config.yaml.

    Unknown keys are accepted at parse time and reported afterwards as warnings with a
    suggestion (errors under ``--strict``): Truss itself accepts unknown keys so that older
    servers can read newer configs, and an existing truss must keep validating.
    """

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        protected_namespaces=(),
        use_enum_values=False,
        validate_default=True,
    )
