"""Command-line flags from config values, and a probe that runs code in an engine's interpreter.

Flags. Each adapter first sets the flags it derives from typed ``engine:`` fields, then the
user's ``engine.args`` on top, so a key in ``args`` replaces the typed value instead of
producing the flag twice. Values render as:

    True       → bare flag             {enforce-eager: true}     → --enforce-eager
    False      → --no-<flag> (vLLM's BooleanOptionalAction) or omitted (store_true flags)
    None       → omitted
    list/tuple → one flag, many values {ignore-patterns: [a, b]} → --ignore-patterns a b
                 (a flag that parses JSON, like vLLM's --allowed-origins, takes a string: '["a"]')
    dict       → JSON text             {hf-overrides: {x: 1}}    → --hf-overrides '{"x": 1}'
    other      → str(value)

Keys are spelled the engine's way (``style``): vLLM and SGLang use dashes, trtllm-serve
underscores; the user may write either. Flags trussd itself must control (the engine's host,
port and model) are refused in ``args`` with a ConfigError.

``render_flags`` is the one-call form for a plain mapping (dashes, false omitted).
``set_typed_flags`` sets the typed ``engine:`` fields vLLM and SGLang share (dtype, context
length, tensor parallelism, quantization, memory fraction) under each engine's names.

``probe`` runs a small script in an engine's own interpreter (``environments`` finds it), e.g.
the engine's argument parser on a command line, and returns its exit code and output: the
engine is never imported into trussd.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from trussd.config.sections import EngineConfig
from trussd.errors import ConfigError, EngineError

__all__ = [
    "ArgCheck",
    "FalseStyle",
    "FlagSet",
    "FlagStyle",
    "ProbeResult",
    "TypedFlagNames",
    "flag_name",
    "parse_check_output",
    "probe",
    "render_flags",
    "set_typed_flags",
]


class FlagStyle(StrEnum):
    DASH = "dash"  # --max-model-len
    UNDERSCORE = "underscore"  # --max_seq_len


class FalseStyle(StrEnum):
    NEGATE = "negate"  # --no-flag (argparse BooleanOptionalAction)
    OMIT = "omit"  # store_true flags: false is the default


def flag_name(key: str, style: FlagStyle) -> str:
    """``enforce_eager``/``enforce-eager`` → ``--enforce-eager`` (or ``--enforce_eager``)."""
    bare = key.lstrip("-")
    bare = bare.replace("_", "-") if style is FlagStyle.DASH else bare.replace("-", "_")
    return f"--{bare}"


class FlagSet:
    """An ordered set of flags; setting a flag again drops its earlier value (and its negation)."""

    def __init__(
        self,
        style: FlagStyle,
        false_style: FalseStyle,
        reserved: Iterable[str] = (),
    ) -> None:
        self.style = style
        self.false_style = false_style
        self._reserved = {flag_name(name, style) for name in reserved}
        self._flags: dict[str, list[str] | None] = {}

    def set(self, key: str, value: Any) -> None:
        """Set one flag from a config value (see the module docstring for how values render)."""
        name = flag_name(key, self.style)
        self._flags.pop(name, None)
        self._flags.pop(self._negated(name), None)
        if value is None:
            return
        if value is True:
            self._flags[name] = None
        elif value is False:
            if self.false_style is FalseStyle.NEGATE:
                self._flags[self._negated(name)] = None
        elif isinstance(value, list | tuple):
            self._flags[name] = [_scalar(item) for item in value]
        else:
            self._flags[name] = [_scalar(value)]

    def update_from_args(self, args: Mapping[str, Any]) -> None:
        """Apply the user's ``engine.args``, refusing the flags trussd controls."""
        for key, value in args.items():
            name = flag_name(str(key), self.style)
            if name in self._reserved:
                raise ConfigError(
                    f"engine.args may not set `{key}`: trussd sets the engine's "
                    f"{', '.join(sorted(n.lstrip('-') for n in self._reserved))} itself"
                )
            self.set(str(key), value)

    def argv(self) -> list[str]:
        out: list[str] = []
        for name, values in self._flags.items():
            out.append(name)
            if values is not None:
                out.extend(values)
        return out

    def _negated(self, name: str) -> str:
        sep = "-" if self.style is FlagStyle.DASH else "_"
        return f"--no{sep}{name[2:]}"


@dataclass(frozen=True)
class TypedFlagNames:
    """How an engine spells the flags of the typed ``engine:`` fields it shares with others."""

    max_model_len: str
    tensor_parallel_size: str
    gpu_memory_utilization: str


def set_typed_flags(flags: FlagSet, engine: EngineConfig, names: TypedFlagNames) -> None:
    """dtype (unless auto), context length, tensor parallelism (unless 1), quantization and
    the memory fraction, in that order; an unset field sets no flag."""
    if engine.dtype != "auto":
        flags.set("dtype", engine.dtype)
    flags.set(names.max_model_len, engine.max_model_len)
    if engine.tensor_parallel_size != 1:
        flags.set(names.tensor_parallel_size, engine.tensor_parallel_size)
    flags.set("quantization", engine.quantization)
    flags.set(names.gpu_memory_utilization, engine.gpu_memory_utilization)


def render_flags(
    flags: Mapping[str, Any],
    style: FlagStyle = FlagStyle.DASH,
    false_style: FalseStyle = FalseStyle.OMIT,
) -> list[str]:
    """``{"device": "cpu", "batching": True}`` → ``["--device", "cpu", "--batching"]``."""
    out = FlagSet(style, false_style)
    for key, value in flags.items():
        out.set(str(key), value)
    return out.argv()


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


@dataclass(frozen=True)
class ProbeResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ArgCheck:
    """The verdict of an engine's own argument parser on a command line.

    ``parsed`` is the parser's namespace (JSON-able values) when it accepted the line, so a
    test can see that ``--tp-size 2`` landed in ``tp_size`` and not in some other option.
    """

    ok: bool
    returncode: int
    message: str
    argv: tuple[str, ...]
    parsed: Mapping[str, Any] = field(default_factory=dict)


def parse_check_output(result: ProbeResult, argv: Iterable[str]) -> ArgCheck:
    """An ArgCheck from a check script that prints its namespace as JSON on its last line."""
    if result.returncode != 0:
        return ArgCheck(False, result.returncode, _error_line(result.stderr), tuple(argv))
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else "{}"
    try:
        parsed = json.loads(last)
    except json.JSONDecodeError:
        parsed = {}
    return ArgCheck(True, 0, "ok", tuple(argv), parsed if isinstance(parsed, dict) else {})


def _error_line(stderr: str) -> str:
    """argparse's ``prog: error: ...`` line, else the last line of a traceback."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if ": error:" in line:
            return line
    return lines[-1] if lines else "the parser failed without a message"


def probe(python: Path, code: str, argv: Iterable[str] = (), timeout: float = 120.0) -> ProbeResult:
    """Run ``python -c code argv...`` in an engine's interpreter, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    try:
        done = subprocess.run(
            [str(python), "-c", code, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise EngineError(
            f"engine interpreter {python} does not exist",
            hint="fix TRUSSD_<ENGINE>_PYTHON or run the matching `make setup-<engine>`",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"{python} did not answer within {timeout:.0f} s") from exc
    return ProbeResult(done.returncode, done.stdout, done.stderr)
