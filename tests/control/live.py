"""A real `trussd up` in a subprocess, for the end-to-end tests and the benchmark."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from trussd.control.replica import free_port

REPO = Path(__file__).resolve().parents[2]
TRUSSD = [sys.executable, "-m", "trussd.cli.main"]


class LiveControlPlane:
    def __init__(self, data_dir: Path, key: str, replica_command: str | None = None) -> None:
        self.data_dir, self.key = data_dir, key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TRUSSD_BOOTSTRAP_API_KEY": key,
            "TRUSSD_REMOTE": self.url,
            "TRUSSD_API_KEY": key,
            "HF_HUB_OFFLINE": "1",
        }
        self.env.pop("TRUSSD_REPLICA_COMMAND", None)
        if replica_command:
            self.env["TRUSSD_REPLICA_COMMAND"] = replica_command
        self.log = data_dir.parent / f"up-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> LiveControlPlane:
        argv = [*TRUSSD, "up", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"trussd up exited {self.proc.returncode}:\n{self.log.read_text()}"
                )
            try:
                if (
                    httpx.get(self.url + "/v1/whoami", headers=self.headers, timeout=2).status_code
                    == 200
                ):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"trussd up not ready:\n{self.log.read_text()}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Api-Key {self.key}"}

    def cli(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*TRUSSD, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"trussd {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def replica_pids(replica_id_prefix: str = "") -> list[int]:
    """Live replica processes: named after their replica id (forked by the zygote) or with
    ``TRUSSD_REPLICA_ID`` in their environment (exec'ed, and their children)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            environ = (proc / "environ").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            continue
        named = re.fullmatch(r"r[0-9a-f]{10}", comm) and comm.startswith(replica_id_prefix)
        marked = any(
            e.startswith(b"TRUSSD_REPLICA_ID=" + replica_id_prefix.encode()) for e in environ
        )
        if named or marked:
            found.append(int(proc.name))
    return found
