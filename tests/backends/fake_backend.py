"""A Backend that launches tests/backends/fake_engine.py: the seam for front tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from tests.backends.helpers import fake_plan
from trussd.backends.base import EngineAdapter, LaunchPlan
from trussd.config.spec import TrussSpec

ENGINE_NAME = "/engine/internal/name"
EXTRA_ARGS: list[str] = []


class FakeBackend(EngineAdapter):
    name: ClassVar[str] = "fake"
    command: ClassVar[str | None] = "sh"

    def plan(self, spec: TrussSpec, port: int) -> LaunchPlan:
        return fake_plan(port, *EXTRA_ARGS, model=ENGINE_NAME)


class FakeMetricsBackend(FakeBackend):
    """The fake engine with vLLM-style /metrics, mapped the way the vLLM adapter maps them."""

    def plan(self, spec: TrussSpec, port: int) -> LaunchPlan:
        return fake_plan(port, "--metrics", "vllm", *EXTRA_ARGS, model=ENGINE_NAME)

    def metric_names(self) -> Mapping[str, str]:
        return {
            "vllm:num_requests_running": "trussd_engine_requests_running",
            "vllm:num_requests_waiting": "trussd_engine_requests_waiting",
            "vllm:generation_tokens": "trussd_engine_generation_tokens",
            "vllm:time_to_first_token_seconds": "trussd_engine_time_to_first_token_seconds",
        }
