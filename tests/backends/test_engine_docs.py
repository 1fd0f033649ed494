"""docs/engines.md's metrics table says what each adapter really maps."""

from __future__ import annotations

from pathlib import Path

import pytest

from trussd.backends.base import EngineAdapter
from trussd.backends.sglang import SglangBackend
from trussd.backends.trtllm import TrtllmBackend
from trussd.backends.vllm import VllmBackend

DOC = Path(__file__).resolve().parents[2] / "docs" / "engines.md"


def _rows() -> dict[str, str]:
    """Normalised metric name → its row of the metrics table."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `trussd_engine_"):
            name = line.split("`")[1].split("{")[0]
            rows[name.removesuffix("_total")] = line
    return rows


@pytest.mark.parametrize("adapter", [VllmBackend(), SglangBackend(), TrtllmBackend()])
def test_every_mapped_engine_metric_is_in_the_table(adapter: EngineAdapter) -> None:
    rows = _rows()
    for engine_name, normalised in adapter.metric_names().items():
        assert normalised in rows, f"{normalised} has no row in docs/engines.md"
        row = rows[normalised]
        # counters are documented as exposed, with `_total`
        assert f"`{engine_name}`" in row or f"`{engine_name}_total`" in row, (
            f"{adapter.name}: `{engine_name}` is not in the row of {normalised}"
        )


def test_the_trtllm_metrics_path_and_options_file_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "/prometheus/metrics" in text
    assert "return_perf_metrics" in text
    assert "enable_iter_perf_stats" in text
    assert "check_args" in text
