"""The machine-readable form of a validation, as ``trussd validate --json`` prints it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from trussd.config.diagnostics import Diagnostic

__all__ = ["EngineChoice", "ValidationReportModel"]


class EngineChoice(BaseModel):
    """The engine backend an engine truss would run on, and why."""

    backend: str = Field(description="Chosen backend, e.g. `vllm`.")
    reason: str = Field(description="Why it was chosen, e.g. `auto: A100:2, no trt_llm section`.")


class ValidationReportModel(BaseModel):
    """Outcome of ``trussd validate``."""

    path: str = Field(description="The truss folder that was validated.")
    valid: bool = Field(description="True when there are no errors.")
    strict: bool = Field(description="Whether unknown keys counted as errors.")
    kind: str | None = Field(default=None, description="`custom`, `engine` or `docker_server`.")
    model_name: str | None = Field(default=None, description="Resolved model name.")
    error_count: int = Field(description="Number of errors.")
    warning_count: int = Field(description="Number of warnings.")
    diagnostics: list[Diagnostic] = Field(description="Every problem, in file order.")
    engine: EngineChoice | None = Field(default=None, description="Engine selection, if any.")
