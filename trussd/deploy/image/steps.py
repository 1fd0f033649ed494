"""One Dockerfile instruction with a name a person understands and the fix when it fails.

A builder reports a failure as the instruction text it was running; ``find_step`` maps that
text back to the step, so an error says "user requirements failed: check `requirements`"
instead of a 300-character ``RUN`` line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Step", "find_step", "normalise_instruction"]


@dataclass(frozen=True)
class Step:
    #: what the step does, in words ("user requirements")
    title: str
    #: the instruction exactly as written in the Dockerfile (continuation lines included)
    instruction: str
    #: how to fix it when it fails
    hint: str = ""
    #: a comment line written above the instruction
    comment: str = ""

    def render(self) -> str:
        head = f"# {self.comment}\n" if self.comment else ""
        return head + self.instruction


def normalise_instruction(text: str) -> str:
    """One line, single spaces: how builders echo an instruction in their logs."""
    return re.sub(r"\s+", " ", text.replace("\\\n", " ")).strip()


def _common_prefix(a: str, b: str) -> int:
    pairs = enumerate(zip(a, b, strict=False))
    return next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))


def find_step(steps: Sequence[Step], reported: str) -> Step | None:
    """The step whose instruction the builder reported (it may re-space or shorten it)."""
    wanted = normalise_instruction(reported).removesuffix("...").rstrip()
    if not wanted:
        return None
    best: Step | None = None
    best_length = 0
    for step in steps:
        text = normalise_instruction(step.instruction)
        if text == wanted:
            return step
        length = _common_prefix(text, wanted)
        if length > best_length:
            best, best_length = step, length
    # Every RUN step starts alike (the CA mount): only a near-whole match names a step.
    return best if best_length >= 0.9 * len(wanted) else None
