"""Start ``trussd serve`` as a real subprocess on a free port and wait until it is ready."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

TRUSSD = [sys.executable, "-m", "trussd.cli.main"]
_LISTEN = re.compile(r"on http://([\d.]+):(\d+) ")


class LiveServer:
    def __init__(self, truss_dir: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.lines: list[str] = []
        self._port_found = threading.Event()
        self.url = ""
        self.proc = subprocess.Popen(
            [*TRUSSD, "serve", str(truss_dir), "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            match = _LISTEN.search(line)
            if match and not self.url:
                self.url = f"http://{match.group(1)}:{match.group(2)}"
                self._port_found.set()
        self._port_found.set()

    def wait_ready(self, timeout: float = 60) -> LiveServer:
        if not self._port_found.wait(timeout) or not self.url:
            raise RuntimeError("server did not start:\n" + "".join(self.lines))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/v1/models/model", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("server never became ready:\n" + "".join(self.lines))

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout)
        self.close()
        return code

    def close(self) -> None:
        """Reap the output pipe (after the process has exited)."""
        self._pump_thread.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    @property
    def output(self) -> str:
        return "".join(self.lines)
