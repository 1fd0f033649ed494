"""Shared helpers of the backend tests (processes, ports)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from trussd.backends.base import LaunchPlan

FAKE_ENGINE = Path(__file__).with_name("fake_engine.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_plan(port: int | None = None, *args: str, model: str = "fake-model") -> LaunchPlan:
    port = port or free_port()
    argv: Sequence[str] = (sys.executable, str(FAKE_ENGINE), str(port), "--model", model, *args)
    return LaunchPlan(argv=tuple(argv), port=port, served_model_name=model, metrics_path="/metrics")


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pids: Sequence[int], timeout: float = 30.0) -> list[int]:
    """Pids still alive after ``timeout`` seconds (polls: processes die asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def read_pids(path: Path, count: int, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            pids = [int(x) for x in path.read_text().split()]
            if len(pids) >= count:
                return pids
        time.sleep(0.05)
    raise TimeoutError(f"{path} did not list {count} pids")


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), depth first."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            out += [child, *descendants(child)]
    return out


def wait_status(url: str, status: int, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers ``status`` (connection errors count as not yet)."""
    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5.0)
            if response.status_code == status:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {status} within {timeout} s (last: {last})")


def start_trussd(truss_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``trussd serve truss_dir`` as a real process, its output in ``log``."""
    trussd = Path(sys.executable).with_name("trussd")
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(trussd), "serve", str(truss_dir), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )


def stop_trussd(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """SIGTERM (graceful), then SIGKILL if it does not go; returns the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
