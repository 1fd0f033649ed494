"""Which image a truss is built on, and which Python in it runs what.

- a custom Model: the official slim Python image of ``python_version`` (or ``base_image``);
- an engine truss: the engine's own official serving image, pinned by tag, so the engine runs
  exactly as its authors ship it; the CPU engine (transformers) is installed on slim Python;
- a ``docker_server`` truss: its ``base_image`` (the user's server lives there).

Every choice can be overridden by ``base_image.image`` in config.yaml or ``--base-image``.
"""

from __future__ import annotations

from dataclasses import dataclass

from trussd.backends.selection import Installed, select_backend
from trussd.config.spec import TrussKind, TrussSpec
from trussd.errors import BuildError

__all__ = ["ENGINE_IMAGES", "MIN_SERVER_PYTHON", "BaseChoice", "choose_base", "slim_python_image"]

#: The engines' official serving images, pinned to the versions trussd's adapters were written
#: against. ``python`` is the interpreter the engine is installed in, inside that image.
ENGINE_IMAGES: dict[str, tuple[str, str]] = {
    "vllm": ("vllm/vllm-openai:v0.32.0", "/usr/bin/python3"),
    "sglang": ("lmsysorg/sglang:v0.5.23", "/usr/bin/python3"),
    "trtllm": ("nvcr.io/nvidia/tensorrt-llm/release:1.2.0", "/usr/bin/python3"),
}
#: trussd's server imports the user's Model in its own process, so they share one interpreter.
MIN_SERVER_PYTHON = (3, 11)
#: The CPU engine's own environment inside the image, apart from the server's and the user's.
CPU_ENGINE_VENV = "/opt/engine"


def slim_python_image(version: str) -> str:
    return f"python:{version}-slim-bookworm"


@dataclass(frozen=True)
class BaseChoice:
    image: str
    #: the interpreter trussd's server environment and the user's environment are made from
    python: str
    #: ``vllm`` / ``sglang`` / ``trtllm`` / ``transformers`` for engine trusses, else None
    engine: str | None
    #: ``TRUSSD_<ENGINE>_PYTHON`` for the server: where the engine's interpreter is
    engine_python: str | None
    #: how the choice was made, for the Dockerfile's header and the docs
    reason: str


def _engine_backend(spec: TrussSpec) -> str:
    # What is installed on the building machine says nothing about the image: decide as if
    # nothing were, so the same truss always gives the same image.
    return select_backend(spec, Installed()).backend


def _check_python(spec: TrussSpec) -> None:
    major, minor = (int(p) for p in spec.python_version.split("."))
    if (major, minor) < MIN_SERVER_PYTHON:
        wanted = ".".join(map(str, MIN_SERVER_PYTHON))
        raise BuildError(
            f"python_version {spec.config.python_version} is older than trussd's server needs "
            f"(Python ≥ {wanted}; the server imports the model in its own process)",
            step="base image",
            hint=f"set `python_version: py{wanted.replace('.', '')}` (or later) in config.yaml",
        )


def choose_base(spec: TrussSpec, override: str | None = None) -> BaseChoice:
    """The base image and interpreters for ``spec``; ``override`` is ``--base-image``."""
    configured = spec.config.base_image
    custom_image = override or (configured.image if configured and configured.image else None)
    custom_python = configured.python_executable_path if configured else ""
    if spec.kind is TrussKind.ENGINE:
        backend = _engine_backend(spec)
        if backend == "transformers":
            _check_python(spec)
            image = custom_image or slim_python_image(spec.python_version)
            return BaseChoice(
                image,
                custom_python or "python3",
                backend,
                f"{CPU_ENGINE_VENV}/bin/python",
                "the CPU engine (transformers) on "
                + ("the given base image" if custom_image else f"Python {spec.python_version}"),
            )
        pinned, engine_python = ENGINE_IMAGES[backend]
        python = custom_python or engine_python
        return BaseChoice(
            custom_image or pinned,
            python,
            backend,
            python,
            f"{backend}'s " + ("given image" if custom_image else "official serving image"),
        )
    server = spec.config.docker_server
    if spec.kind is TrussKind.DOCKER_SERVER and server is not None and server.no_build:
        raise BuildError(
            "`docker_server.no_build: true` deploys the base image as it is; there is nothing "
            "to build",
            step="base image",
            hint="deploy the base image directly, or remove `no_build` to build trussd's front",
        )
    if custom_image is None:
        _check_python(spec)
        image = slim_python_image(spec.python_version)
        return BaseChoice(
            image,
            custom_python or "python3",
            None,
            None,
            f"official slim Python {spec.python_version}",
        )
    return BaseChoice(custom_image, custom_python or "python3", None, None, "the given base image")
