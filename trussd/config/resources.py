"""``resources:``: CPU, memory and the accelerator (``H100``, ``H100:8`` or a mapping)."""

from __future__ import annotations

import enum
from typing import Any

from pydantic import (
    Field,
    GetJsonSchemaHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from pydantic_core.core_schema import SerializerFunctionWrapHandler

from trussd.config.base import ConfigModel
from trussd.config.problems import FieldProblem
from trussd.config.quantities import check_cpu, check_memory, cpu_millicores, memory_bytes

__all__ = ["Accelerator", "AcceleratorSpec", "FabricRequirement", "Resources"]


class Accelerator(enum.StrEnum):
    """GPU types, as Truss names them."""

    B10 = "B10"
    T4 = "T4"
    L4 = "L4"
    A10G = "A10G"
    V100 = "V100"
    A100 = "A100"
    A100_40GB = "A100_40GB"
    H100 = "H100"
    H200 = "H200"
    H100_40GB = "H100_40GB"
    B200 = "B200"
    L40S = "L40S"
    RTX_PRO_6000 = "RTX_PRO_6000"
    B300 = "B300"
    GB300 = "GB300"


def _available() -> str:
    return ", ".join(a.value for a in Accelerator)


def parse_accelerator_string(value: str) -> dict[str, Any]:
    """``"H100:8"`` → ``{"accelerator": "H100", "count": 8}``, with a clear error otherwise."""
    parts = value.strip().split(":")
    name = parts[0]
    if not name:
        raise ValueError("accelerator type is empty; write e.g. `H100` or `A10G:2`")
    if name not in Accelerator._value2member_map_:
        upper = name.upper()
        if upper in Accelerator._value2member_map_:
            raise ValueError(f"unsupported accelerator `{name}`; did you mean `{upper}`?")
        raise ValueError(f"unsupported accelerator `{name}`; available: {_available()}")
    if len(parts) > 2:
        raise ValueError(
            f"`{value}` has more than one `:`; write TYPE or TYPE:COUNT, e.g. `H100:8`"
        )
    count = 1
    if len(parts) == 2:
        if not parts[1].isdigit() or int(parts[1]) <= 0:
            raise ValueError(f"invalid GPU count `{parts[1]}` in `{value}`; use a positive integer")
        count = int(parts[1])
    return {"accelerator": name, "count": count}


class AcceleratorSpec(ConfigModel):
    """A GPU type and how many of them one replica gets."""

    accelerator: Accelerator | None = Field(default=None, description="GPU type, e.g. `H100`.")
    count: int = Field(default=1, ge=0, description="GPUs per replica.")

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_accelerator_string(value)
        if value is None:
            return {}
        if isinstance(value, dict | AcceleratorSpec):
            return value
        raise ValueError(
            f"accelerator must be a string like `H100:2` or a mapping, not {type(value).__name__}"
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # Written as a string (`H100:8`) far more often than as a mapping; allow both.
        names = "|".join(a.value for a in Accelerator)
        as_string = {"type": "string", "pattern": f"^({names})(:[1-9][0-9]*)?$"}
        return {"anyOf": [as_string, handler(core_schema), {"type": "null"}]}

    @model_serializer(mode="plain")
    def _as_string(self) -> str | None:
        if self.accelerator is None or self.count <= 0:
            return None
        if self.count > 1:
            return f"{self.accelerator.value}:{self.count}"
        return self.accelerator.value

    @property
    def gpu_count(self) -> int:
        return self.count if self.accelerator is not None else 0


class FabricRequirement(ConfigModel):
    """Network fabric between the nodes of a multi-node replica."""

    use_rdma: bool | None = Field(
        default=None, description="Ask for RDMA networking between nodes."
    )
    preferences: list[str] | None = Field(default=None, description="Preferred fabrics, in order.")

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None}


class Resources(ConfigModel):
    """Compute one replica needs."""

    cpu: str = Field(default="1", description="CPU cores (`2`, `0.5`) or millicores (`500m`).")
    memory: str = Field(
        default="2Gi", description="RAM, a number with a unit: `2Gi`, `512Mi`, `4G`."
    )
    accelerator: AcceleratorSpec = Field(
        default_factory=AcceleratorSpec,
        description="GPU type and count per replica: `A100`, `H100:8`, or {accelerator, count}.",
    )
    use_gpu: bool = Field(
        default=False,
        description="Legacy flag. Truss derives it from `accelerator`; trussd requires an "
        "`accelerator` when it is true instead of silently serving on CPU.",
    )
    instance_type: str | None = Field(
        default=None, description="A full instance SKU, e.g. `L4:4x16`; used for pricing."
    )
    node_count: int | None = Field(
        default=None, ge=1, strict=True, description="Nodes per replica."
    )
    fabric: FabricRequirement | None = Field(default=None, description="Network fabric needs.")

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str) -> str:
        return check_cpu(value)

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        return check_memory(value)

    @model_validator(mode="after")
    def _gpu_needs_accelerator(self) -> Resources:
        if self.use_gpu and self.accelerator.accelerator is None:
            raise FieldProblem(
                "`use_gpu: true` needs an `accelerator`; without one the model would "
                "silently run on CPU",
                field=("use_gpu",),
                hint="add e.g. `accelerator: A10G`, or remove `use_gpu`",
            )
        return self

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # As Truss: optional placement fields appear in a dump only when set.
        data: dict[str, Any] = handler(self)
        for name in ("node_count", "instance_type", "fabric"):
            if not getattr(self, name):
                data.pop(name, None)
        return data

    @property
    def memory_bytes(self) -> int:
        return memory_bytes(self.memory)

    @property
    def cpu_millicores(self) -> int:
        return cpu_millicores(self.cpu)

    @property
    def gpu(self) -> bool:
        return self.accelerator.accelerator is not None
