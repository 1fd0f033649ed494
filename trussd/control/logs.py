"""Deployment logs: one append-only file per deployment.

Replica processes write their stdout and stderr straight into it (``O_APPEND``, so lines from
several replicas interleave whole), and the control plane adds its own lifecycle lines, marked
``[trussd]``. Readers page through it by byte offset, which is what ``trussd logs --follow``
and ``trussd push --wait`` poll.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["DeploymentLog"]


class DeploymentLog:
    def __init__(self, root: Path, deployment_id: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / f"{deployment_id}.log"

    def open_for_process(self) -> int:
        """A file descriptor for a child's stdout/stderr; the caller closes it after spawning."""
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def event(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        fd = self.open_for_process()
        try:
            os.write(fd, f"[trussd] {stamp} {message}\n".encode())
        finally:
            os.close(fd)

    def read(self, offset: int = 0, limit: int = 1024 * 1024) -> tuple[bytes, int]:
        """Bytes from ``offset`` (at most ``limit``) and the offset to ask for next."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(max(0, offset))
                data = fh.read(limit)
        except FileNotFoundError:
            return b"", offset
        return data, max(0, offset) + len(data)

    def tail(self, lines: int) -> tuple[bytes, int]:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return b"", 0
        start = max(0, size - 256 * lines)
        data, end = self.read(start, size - start)
        kept = data.splitlines(keepends=True)[-lines:]
        return b"".join(kept), end
