"""The CPU engine: ``transformers serve --continuous-batching``.

It runs anywhere torch runs (our CI, a laptop), batches concurrent requests with paged
attention, and speaks the OpenAI API. Two of its habits shape the plan:

- The KV cache is bounded (``--cb-num-blocks 512 --cb-block-size 32``, 16k tokens): without
  these flags it sized its cache to the machine and took ~8 GB for a 3 MB model.
- It serves the model under the path it was given and rejects any other ``model`` name, so
  the plan's ``served_model_name`` is that path and the front maps the public name to it.

It has no ``/metrics``; the front measures TTFT, inter-token latency and tokens itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from trussd.backends.base import EngineAdapter, LaunchPlan
from trussd.backends.environments import find_engine_environment
from trussd.backends.flags import FalseStyle, FlagSet, FlagStyle
from trussd.config.spec import TrussSpec
from trussd.errors import ConfigError, EngineNotInstalled

__all__ = ["TransformersBackend"]

# `transformers serve --quantization` knows these; anything else would fail at start.
_QUANTIZATION = {"bnb-4bit", "bnb-8bit"}
_DEFAULT_FLAGS: dict[str, Any] = {
    "continuous-batching": True,
    "cb-num-blocks": 512,
    "cb-block-size": 32,
}


class TransformersBackend(EngineAdapter):
    name: ClassVar[str] = "transformers"
    module: ClassVar[str | None] = "transformers"
    install_hint: ClassVar[str] = (
        "install the CPU engine: pip install 'trussd[cpu]' "
        "(torch==2.13.0 and transformers[serving]==5.24.0)"
    )

    def python(self) -> str | None:
        env = find_engine_environment(self.name, "transformers", ("transformers", "fastapi"))
        if env is None or (not env.external and not env.has("fastapi")):
            return None
        return env.python

    def is_installed(self) -> bool:
        return self.python() is not None

    def plan(self, spec: TrussSpec, port: int) -> LaunchPlan:
        engine = spec.engine
        model = spec.engine_model_path()
        if engine is None or model is None:
            raise ConfigError(f"{spec.root} has no `engine:` section to serve with transformers")
        python = self.python()
        if python is None:
            raise EngineNotInstalled(
                "engine `transformers` is not installed", hint=self.install_hint
            )
        flags = FlagSet(FlagStyle.DASH, FalseStyle.NEGATE, reserved=("host", "port"))
        for key, value in _DEFAULT_FLAGS.items():
            flags.set(key, value)
        flags.set("device", "cuda" if spec.config.resources.accelerator.gpu_count else "cpu")
        flags.set("dtype", engine.dtype)
        if engine.quantization:
            if engine.quantization not in _QUANTIZATION:
                raise ConfigError(
                    f"the transformers engine does not support quantization "
                    f"`{engine.quantization}`; use one of {sorted(_QUANTIZATION)}"
                )
            flags.set("quantization", engine.quantization)
        # engine.args replace the defaults flag by flag (`cb-num-blocks: 1024`).
        flags.update_from_args(engine.args)
        argv = [python, "-m", "transformers.cli.transformers", "serve", model]
        argv += ["--host", "127.0.0.1", "--port", str(port), *flags.argv()]
        env = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"}
        if Path(model).exists():
            # A local folder must never reach for the hub (our machines cannot).
            env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        return LaunchPlan(
            argv=tuple(argv),
            port=port,
            env=env,
            health_path="/health",
            metrics_path=None,
            served_model_name=model,
        )

    def adapt_request(self, body: dict[str, Any], plan: LaunchPlan) -> dict[str, Any]:
        body = super().adapt_request(body, plan)
        if "ignore_eos" in body:
            # It answers 422 to `ignore_eos` (a vLLM extension benchmark clients send); the
            # tiny random model rarely stops early, and max_tokens still bounds the output.
            body = {k: v for k, v in body.items() if k != "ignore_eos"}
        return body
