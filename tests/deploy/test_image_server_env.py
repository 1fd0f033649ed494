"""trussd's own wheel and pins, as they go into every image."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from trussd import __version__
from trussd.deploy.image.server_env import engine_requirements, server_environment


def test_the_wheel_is_byte_for_byte_reproducible() -> None:
    first, second = server_environment(), server_environment()
    assert first.wheel_name == f"trussd-{__version__}-py3-none-any.whl"
    assert first.wheel == second.wheel


def test_the_wheel_is_complete_and_its_record_is_true() -> None:
    archive = zipfile.ZipFile(io.BytesIO(server_environment().wheel))
    names = set(archive.namelist())
    info = f"trussd-{__version__}.dist-info"
    assert {"trussd/__init__.py", "trussd/cli/main.py", "trussd/py.typed"} <= names
    assert "trussd/deploy/image/clash_check.py" in names
    assert not any("__pycache__" in n for n in names)
    assert b"trussd = trussd.cli.main:main" in archive.read(f"{info}/entry_points.txt")
    for line in archive.read(f"{info}/RECORD").decode().splitlines():
        name, digest, size = line.split(",")
        if not digest:
            continue
        data = archive.read(name)
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == f"sha256={expected}"
        assert int(size) == len(data)


def test_pins_cover_the_server_and_its_asgi_extras() -> None:
    env = server_environment()
    assert {"pydantic", "fastapi", "uvicorn", "httpx", "click", "uvloop", "httptools"} <= set(
        env.pins
    )
    assert "trussd" not in env.pins
    assert "torch" not in env.pins  # engines live in environments of their own
    lines = env.constraints().splitlines()
    names = [line.split("==")[0] for line in lines]
    assert names == sorted(names)
    assert all(f"{name}=={env.pins[name]}" in lines for name in env.pins)


def test_cpu_engine_requirements_come_from_trussds_own_extra() -> None:
    assert sorted(engine_requirements("cpu")) == ["torch==2.13.0", "transformers[serving]==5.24.0"]


@pytest.mark.slow
def test_the_wheel_installs_and_runs(tmp_path: Path) -> None:
    env = server_environment()
    wheel = tmp_path / env.wheel_name
    wheel.write_bytes(env.wheel)
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    done = subprocess.run(
        [sys.executable, "-c", "import trussd, sys; print(trussd.__file__)"],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert done.stdout.startswith(str(target))
    assert (target / "bin" / "trussd").is_file()
