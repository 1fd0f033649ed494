"""Shared helpers of the image tests: fixture trusses and a fixed server environment."""

from __future__ import annotations

import shutil
from pathlib import Path

from trussd import __version__
from trussd.config import load_truss
from trussd.deploy.image import BuildContext, ContextOptions, render_context
from trussd.deploy.image.server_env import ServerEnvironment

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
GOLDEN = Path(__file__).parent / "golden" / "image"

# A stand-in for trussd's own wheel: the Dockerfile and hash tests must not change whenever
# someone edits any trussd module (the wheel holds all of them).
FAKE_SERVER = ServerEnvironment(
    wheel_name=f"trussd-{__version__}-py3-none-any.whl",
    wheel=b"not a real wheel",
    pins={"pydantic": "2.14.4", "fastapi": "0.165.0", "uvicorn": "0.40.0", "httpx": "0.28.1"},
    requires_python=">=3.11",
)

#: golden name → (fixture, options)
CASES: dict[str, tuple[str, ContextOptions]] = {
    "custom": ("image-custom", ContextOptions()),
    "custom-secrets": ("image-secrets", ContextOptions()),
    "vllm": ("image-vllm", ContextOptions()),
    "sglang": ("image-sglang", ContextOptions()),
    "trtllm": ("image-trtllm", ContextOptions()),
    "docker-server": ("image-docker-server", ContextOptions()),
    "cpu-engine": ("image-cpu-engine", ContextOptions()),
    "cpu-engine-baked": ("image-cpu-engine", ContextOptions(bake_weights=True)),
}


def render(fixture: str | Path, options: ContextOptions | None = None) -> BuildContext:
    path = fixture if isinstance(fixture, Path) else FIXTURES / fixture
    return render_context(load_truss(path), options, server=FAKE_SERVER)


def copy_fixture(name: str, into: Path) -> Path:
    target = into / name
    shutil.copytree(FIXTURES / name, target)
    return target
