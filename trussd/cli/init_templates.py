"""The files ``trussd init`` writes, per backend."""

from __future__ import annotations

__all__ = ["BACKENDS", "render_truss"]

BACKENDS = ("custom", "vllm", "sglang", "trtllm", "transformers")

_CUSTOM_CONFIG = """\
# A truss: config.yaml plus model/model.py. Every field: docs/config.md
model_name: {name}
python_version: py311
requirements: []          # pip requirements, e.g. ["numpy==2.1.0"]
system_packages: []
environment_variables: {{}}
secrets: {{}}              # names only, e.g. {{hf_access_token: null}}
resources:
  cpu: "1"
  memory: 2Gi
  use_gpu: false
runtime:
  predict_concurrency: 1
"""

_MODEL_PY = '''\
"""The Model class: created once, `load()` once, then `predict()` per request."""

from typing import Any


class Model:
    def __init__(self, **kwargs: Any) -> None:
        # kwargs holds `config` (config.yaml as a dict), `data_dir` and `secrets`.
        self._config = kwargs.get("config")
        self._secrets = kwargs.get("secrets")
        self._model: Any = None

    def load(self) -> None:
        # Load weights here (runs once, before the first request).
        self._model = str.upper

    def predict(self, model_input: Any) -> Any:
        text = model_input.get("text", "") if isinstance(model_input, dict) else str(model_input)
        return {"output": self._model(text)}
'''

_ENGINE_CONFIG = """\
# An LLM served by {backend} behind OpenAI-compatible routes. Every field: docs/config.md
model_name: {name}
resources:
  cpu: "{cpu}"
  memory: {memory}
{accelerator}engine:
  backend: {backend}
  # Weights: a folder in this truss (put config.json, tokenizer and *.safetensors in
  # ./weights), or a hub id such as Qwen/Qwen2.5-0.5B-Instruct.
  model: ./weights
  served_model_name: {name}
  max_model_len: 4096
"""

_TRTLLM_CONFIG = """\
# An LLM served by TensorRT-LLM (Truss's `trt_llm` section). Every field: docs/config.md
model_name: {name}
model_metadata:
  tags: [openai-compatible]
resources:
  cpu: "8"
  memory: 64Gi
  accelerator: H100
trt_llm:
  build:
    base_model: decoder
    # Replace with your model's Hugging Face repo (and add `hf_access_token` to secrets
    # if it is gated).
    checkpoint_repository:
      source: HF
      repo: meta-llama/Llama-3.1-8B-Instruct
    max_seq_len: 8192
    quantization_type: fp8
    tensor_parallel_count: 1
  runtime:
    served_model_name: {name}
"""

_WEIGHTS_NOTE = """\
Put the model here: config.json, the tokenizer files and the *.safetensors weights
(e.g. `huggingface-cli download ORG/MODEL --local-dir weights`), or set `engine.model`
in config.yaml to a hub id instead.
"""

_ENGINES = {
    "vllm": ("8", "32Gi", "A100"),
    "sglang": ("8", "32Gi", "H100"),
    "transformers": ("4", "16Gi", None),
}


def render_truss(backend: str, name: str) -> dict[str, str]:
    """Relative path → file content of a new truss for ``backend``."""
    if backend == "custom":
        return {
            "config.yaml": _CUSTOM_CONFIG.format(name=name),
            "model/__init__.py": "",
            "model/model.py": _MODEL_PY,
        }
    if backend == "trtllm":
        return {"config.yaml": _TRTLLM_CONFIG.format(name=name)}
    cpu, memory, gpu = _ENGINES[backend]
    accelerator = f"  accelerator: {gpu}\n" if gpu else ""
    config = _ENGINE_CONFIG.format(
        backend=backend, name=name, cpu=cpu, memory=memory, accelerator=accelerator
    )
    return {"config.yaml": config, "weights/README.md": _WEIGHTS_NOTE}
