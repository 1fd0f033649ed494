"""The zygote: replicas forked from a pre-imported process behave like exec'ed ones."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest

from trussd.control.replica import free_port
from trussd.control.zygote import Zygote

from .conftest import FIXTURES

pytestmark = pytest.mark.e2e


async def _ready(port: int, child_returncode: object) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        for _ in range(1200):
            try:
                response = await client.post(f"http://127.0.0.1:{port}/predict", json={"z": 1})
                if response.status_code == 200:
                    result: dict[str, object] = response.json()
                    return result
            except httpx.HTTPError:
                pass

            await asyncio.sleep(0.05)
    raise AssertionError("forked replica never answered")


async def test_a_forked_replica_serves_with_its_own_env_folder_log_and_name(tmp_path: Path) -> None:
    zygote = Zygote()
    await zygote.start()
    try:
        port, log = free_port(), tmp_path / "replica.log"
        env = {
            "PATH": os.environ["PATH"],
            "TRUSSD_REPLICA_ID": "r0123456789",
            "TRUSSD_SECRET_greeting": "hi",
        }
        argv = [str(FIXTURES / "control-echo"), "--host", "127.0.0.1", "--port", str(port)]
        child = await zygote.spawn(argv, str(tmp_path), env, str(log), "r0123456789")
        body = await _ready(port, child.returncode)
        assert body["pid"] == child.pid
        assert body["greeting"] == "hi"
        assert body["cwd"] == str(tmp_path)
        assert body["env"] == ["TRUSSD_REPLICA_ID", "TRUSSD_SECRET_greeting"]
        assert Path(f"/proc/{child.pid}/comm").read_text().strip() == "r0123456789"
        assert os.getpgid(child.pid) == child.pid  # its own group, like an exec'ed replica
        os.killpg(child.pid, signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM: the zygote reports -15
        assert await child.wait() in (0, -signal.SIGTERM)
        text = log.read_text()
        assert "trussd serving echo" in text
        assert "Finished server process" in text
    finally:
        await zygote.close()


async def test_replicas_die_with_the_zygote(tmp_path: Path) -> None:
    zygote = Zygote()
    await zygote.start()
    port = free_port()
    argv = [str(FIXTURES / "control-echo"), "--host", "127.0.0.1", "--port", str(port)]
    env = {"PATH": os.environ["PATH"]}
    child = await zygote.spawn(argv, str(tmp_path), env, str(tmp_path / "log"), "r9876543210")
    await _ready(port, child.returncode)
    assert zygote._proc is not None
    zygote._proc.kill()  # the zygote dies: its forks must not outlive it
    assert await child.wait() == -signal.SIGKILL
    for _ in range(200):
        try:
            state = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            break
        if state == "Z":
            break

        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the fork outlived its zygote")
    await zygote.close()
