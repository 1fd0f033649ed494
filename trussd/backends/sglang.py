"""SGLang: ``python -m sglang.launch_server`` from SGLang's own environment, metrics on.

Which Python: ``environments.find_engine_environment("sglang", "sglang")`` —
``TRUSSD_SGLANG_PYTHON``, else trussd's own interpreter if SGLang imports there. SGLang needs
CUDA kernels to serve; on a CPU machine its argument parser still imports (``make setup-sglang``),
which is what ``check_args`` and the ``sglang`` test tier use.

Flags (dashes; SGLang's booleans are store_true, so ``false`` in ``engine.args`` is omitted):

    engine.model                  --model-path         engine.quantization     --quantization
    spec.served_model_name        --served-model-name  gpu_memory_utilization  --mem-fraction-static
    engine.max_model_len          --context-length     enable_prefix_caching: false
    engine.tensor_parallel_size   --tp-size                               --disable-radix-cache
    engine.dtype (unless auto)    --dtype              (always)           --enable-metrics
    engine.args                   --flag value, replacing a typed flag of that name

``--enable-metrics`` is always on: the front reads ``sglang:*`` from ``/metrics`` to publish
the normalised ``trussd_engine_*`` metrics.
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

__all__ = ["CHECK_SCRIPT", "SglangBackend"]

_MODULE = "sglang.launch_server"

#: Runs in SGLang's interpreter: its own ServerArgs parser, as ``prepare_server_args`` builds
#: it, on argv; prints the parsed namespace as JSON. argparse exits 2 with a usage message.
CHECK_SCRIPT = """
import argparse, json, sys
from sglang.srt.server_args import ServerArgs
parser = argparse.ArgumentParser(prog="sglang.launch_server")
ServerArgs.add_cli_args(parser)
args = parser.parse_args(sys.argv[1:])
print(json.dumps(vars(args), default=str))
"""

# SGLang's Prometheus families (counters without `_total`, as the text parser reports them).
_METRICS: dict[str, str] = {
    "sglang:num_running_reqs": "trussd_engine_requests_running",
    "sglang:num_queue_reqs": "trussd_engine_requests_waiting",
    "sglang:time_to_first_token_seconds": "trussd_engine_time_to_first_token_seconds",
    "sglang:inter_token_latency_seconds": "trussd_engine_inter_token_latency_seconds",
    "sglang:e2e_request_latency_seconds": "trussd_engine_e2e_request_latency_seconds",
    "sglang:prompt_tokens": "trussd_engine_prompt_tokens",
    "sglang:generation_tokens": "trussd_engine_generation_tokens",
    "sglang:token_usage": "trussd_engine_kv_cache_usage_ratio",
}


_TYPED = TypedFlagNames("context-length", "tp-size", "mem-fraction-static")


class SglangBackend(EnvironmentAdapter):
    name: ClassVar[str] = "sglang"
    module: ClassVar[str | None] = "sglang"
    distributions: ClassVar[tuple[str, ...]] = ("sglang",)
    install_hint: ClassVar[str] = (
        "SGLang serves on NVIDIA/AMD GPUs: give it its own environment "
        "(`python -m venv V && V/bin/pip install 'sglang[all]'`) and set "
        "TRUSSD_SGLANG_PYTHON=V/bin/python; `make setup-sglang` installs only its argument parser"
    )

    def plan(self, spec: TrussSpec, port: int) -> LaunchPlan:
        env = self.require_environment()
        model = spec.engine_model_path() or ""
        return LaunchPlan(
            argv=(env.python, "-m", _MODULE, *self.flags(spec, port)),
            port=port,
            env={"HF_HUB_OFFLINE": "1"} if Path(model).exists() else {},
            health_path="/health",
            metrics_path="/metrics",
            served_model_name=spec.served_model_name,
        )

    def flags(self, spec: TrussSpec, port: int) -> list[str]:
        """Every flag after ``-m sglang.launch_server``."""
        engine = spec.engine
        model = spec.engine_model_path()
        if engine is None or model is None:
            raise ConfigError(f"{spec.root} has no `engine:` section to serve with SGLang")
        reserved = ("model-path", "served-model-name", "host", "port", "enable-metrics")
        flags = FlagSet(FlagStyle.DASH, FalseStyle.OMIT, reserved=reserved)
        flags.set("model-path", model)
        flags.set("served-model-name", spec.served_model_name)
        flags.set("host", "127.0.0.1")
        flags.set("port", port)
        flags.set("enable-metrics", True)
        set_typed_flags(flags, engine, _TYPED)
        if engine.enable_prefix_caching is False:
            flags.set("disable-radix-cache", True)  # the radix (prefix) cache is on by default
        flags.update_from_args(engine.args)
        return flags.argv()

    def check_args(self, spec: TrussSpec, port: int = 30000, timeout: float = 180.0) -> ArgCheck:
        """SGLang's own ServerArgs parser on the flags this truss would launch with."""
        return self.run_parser(CHECK_SCRIPT, self.flags(spec, port), timeout)

    def metric_names(self) -> Mapping[str, str]:
        return _METRICS
