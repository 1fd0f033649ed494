"""A validation failure that knows which field it is about.

Cross-field rules run in model validators, where pydantic can only blame the whole model.
Raising ``FieldProblem`` instead of a bare ``ValueError`` lets the diagnostics point at the
field (and its YAML line) the rule is really about, and carry a fix.
"""

from __future__ import annotations

__all__ = ["FieldProblem"]


class FieldProblem(ValueError):
    """``field`` is a path relative to the raising model, e.g. ``("build", "max_seq_len")``."""

    def __init__(self, message: str, *, field: tuple[str | int, ...] = (), hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint
