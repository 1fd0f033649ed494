"""Backend name → adapter. Adapters are imported on use, so naming one costs nothing."""

from __future__ import annotations

import importlib

from trussd.backends.base import Backend
from trussd.errors import ConfigError

__all__ = ["BACKENDS", "get_backend"]

#: name → "module:class". The names are those of `engine.backend` (plus `docker_server`).
BACKENDS: dict[str, str] = {
    "vllm": "trussd.backends.vllm:VllmBackend",
    "sglang": "trussd.backends.sglang:SglangBackend",
    "trtllm": "trussd.backends.trtllm:TrtllmBackend",
    "transformers": "trussd.backends.transformers:TransformersBackend",
    "docker_server": "trussd.backends.custom_server:DockerServerBackend",
}


def get_backend(name: str) -> Backend:
    """A fresh adapter for ``name``; ConfigError for an unknown name."""
    target = BACKENDS.get(name)
    if target is None:
        raise ConfigError(f"unknown engine backend `{name}`; known: {', '.join(sorted(BACKENDS))}")
    module_name, attr = target.split(":")
    backend = getattr(importlib.import_module(module_name), attr)()
    if not isinstance(backend, Backend):
        raise TypeError(f"{target} does not implement the Backend protocol")
    return backend
