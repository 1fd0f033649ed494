"""The price table: integer micro-dollars per replica-minute for each instance type.

A YAML (or JSON) file mapping instance types to prices::

    prices:            # micro-dollars per minute (1_000_000 = $1)
      cpu: 1000
      T4: 10500
      H100: 108300
      "H100:8": 866400
    default: 1000      # any type not listed

Integers keep sums exact; prices are copied into each ledger row when it is written, so a new
table never rewrites what was already billed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from trussd.config.spec import TrussSpec
from trussd.errors import ConfigError

__all__ = ["DEFAULT_PRICES", "PriceTable", "instance_type_of", "load_price_table"]

DEFAULT_PRICES: dict[str, int] = {
    "cpu": 1_000,
    "T4": 10_520,
    "L4": 14_170,
    "A10G": 20_200,
    "A100": 66_670,
    "H100": 108_330,
    "H200": 125_000,
    "B200": 166_670,
}


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prices: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    default: int = Field(default=DEFAULT_PRICES["cpu"], ge=0)

    def price(self, instance_type: str) -> int:
        """Exact type first; ``H100:4`` falls back to 4 * ``H100``; anything else to ``default``."""
        if instance_type in self.prices:
            return self.prices[instance_type]
        name, _, count = instance_type.partition(":")
        if name in self.prices and count.isdigit():
            return self.prices[name] * int(count)
        return self.default


def load_price_table(path: Path | None) -> PriceTable:
    if path is None:
        return PriceTable()
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load(path.read_text())
        table = PriceTable.model_validate(data or {})
    except Exception as exc:  # YAML and validation errors both mean a bad file
        raise ConfigError(f"invalid price table {path}: {exc}") from exc
    if any(value < 0 for value in table.prices.values()):
        raise ConfigError(f"invalid price table {path}: prices must be non-negative integers")
    return table


def instance_type_of(spec: TrussSpec) -> str:
    """``resources.instance_type`` when set, else the accelerator (``H100:2``), else ``cpu``."""
    resources = spec.config.resources
    if resources.instance_type:
        return resources.instance_type
    acc = resources.accelerator
    if acc.accelerator is not None and acc.count > 0:
        return acc.accelerator.value if acc.count == 1 else f"{acc.accelerator.value}:{acc.count}"
    return "cpu"
