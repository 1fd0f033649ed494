"""A pre-imported process that forks replicas: cold starts without the import bill.

Most of a `trussd serve` cold start is Python importing the server (FastAPI, pydantic models,
uvicorn): about a second on these machines, more under load. The zygote imports all of that
once, when the control plane starts, then waits. Each replica is a ``fork()`` of it that runs
what ``trussd serve`` runs (``trussd.server.entry``, same argv) directly, so only the model's
own work (its imports and ``load()``, or an engine's start) is left between a request at zero
replicas and the first byte.

The zygote speaks JSON lines on its stdin/stdout:

    → {"id": 1, "argv": [...], "cwd": "...", "env": {...}, "log": "...", "name": "r1a2b"}
    ← {"ready": true}                      once, after the imports
    ← {"id": 1, "pid": 4242}               the forked replica
    ← {"exit": 4242, "code": 0}            when a replica exits (the zygote reaps it)

A forked replica starts a new session (so its process group can be signalled like an exec'ed
one), takes the environment, folder and log it was given, names itself after its replica id
(``/proc/PID/comm``; a fork's ``/proc/PID/environ`` still shows the zygote's), and dies with
the zygote, which dies with the control plane.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import select
import signal
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["Zygote", "ZygoteProcess"]

_PRELOAD = (
    "trussd.server.entry",
    "trussd.server.serve",
    "trussd.server.app",
    "trussd.config",
    "trussd.model_wrapper.wrapper",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.lifespan.on",
    "uvloop",
    # engine trusses: the front that supervises the engine process
    "trussd.server.engine_front",
    "trussd.server.engine_proxy",
    "trussd.backends.registry",
    "trussd.backends.supervisor",
)


def _prctl(option: int, arg: int | bytes) -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, arg, 0, 0, 0)


def die_with_parent() -> None:
    """A ``preexec_fn``: the kernel kills this process when its parent dies (PR_SET_PDEATHSIG),
    so a killed control plane leaves no zygote or replica behind."""
    _prctl(1, signal.SIGKILL)


def _child(request: dict[str, Any], parent_fds: Sequence[int]) -> None:
    """Runs in the forked replica; never returns."""
    code = 1
    try:
        os.setsid()
        _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the zygote
        _prctl(15, request["name"].encode()[:15])  # PR_SET_NAME → /proc/PID/comm
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in parent_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        from trussd.server.entry import serve_argv

        code = serve_argv(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # anything else: say it in the replica's log
        with contextlib.suppress(Exception):
            print(f"replica failed: {exc!r}", file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def _serve_forever() -> None:
    _prctl(1, signal.SIGKILL)  # die with the control plane
    for module in _PRELOAD:
        with contextlib.suppress(ImportError):  # a module another version moved: fork anyway
            __import__(module)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    out = sys.stdout

    def say(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    say({"ready": True})
    stdin = sys.stdin.buffer
    while True:
        readable, _, _ = select.select([stdin, wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
            _reap(say)
        if stdin in readable:
            line = stdin.readline()
            if not line:
                return  # the control plane went away
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _child(request, [wake_r, wake_w])  # fds 0-2 are replaced with dup2
            say({"id": request["id"], "pid": pid})


def _reap(say: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        say({"exit": pid, "code": os.waitstatus_to_exitcode(status)})


class ZygoteProcess:
    """A forked replica, as the runtime sees it: the part of asyncio's Process it uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited = asyncio.Event()

    def _set_exit(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
            self._exited.set()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode


class Zygote:
    """The control plane's handle on the zygote process."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._replies: dict[int, asyncio.Future[ZygoteProcess]] = {}
        self._children: dict[int, ZygoteProcess] = {}
        self._next = 0

    @property
    def alive(self) -> bool:
        return (
            self._proc is not None
            and self._proc.returncode is None
            and self._reader is not None
            and not self._reader.done()
        )

    async def start(self, timeout: float = 120.0) -> None:
        self._ready = asyncio.Event()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "trussd.control.zygote",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            preexec_fn=die_with_parent,
            limit=1 << 20,
        )
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def _read(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        try:
            while line := await self._proc.stdout.readline():
                message = json.loads(line)
                if message.get("ready"):
                    self._ready.set()
                elif "exit" in message:
                    child = self._children.pop(message["exit"], None)
                    if child:
                        child._set_exit(message["code"])
                elif (future := self._replies.pop(message["id"], None)) and not future.done():
                    # Registered here, before anything else is read: its exit may be next.
                    child = ZygoteProcess(int(message["pid"]))
                    self._children[child.pid] = child
                    future.set_result(child)
        finally:
            # No zygote, no replicas: its forks died with it (PR_SET_PDEATHSIG).
            for child in self._children.values():
                child._set_exit(-signal.SIGKILL)
            self._children.clear()
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(OSError("the replica zygote exited"))

    async def spawn(
        self, argv: Sequence[str], cwd: str, env: dict[str, str], log: str, name: str
    ) -> ZygoteProcess:
        if not self.alive:
            raise OSError("the replica zygote is not running")
        assert self._proc is not None
        assert self._proc.stdin is not None
        self._next += 1
        future: asyncio.Future[ZygoteProcess] = asyncio.get_running_loop().create_future()
        self._replies[self._next] = future
        request = {
            "id": self._next,
            "argv": list(argv),
            "cwd": cwd,
            "env": env,
            "log": log,
            "name": name,
        }
        self._proc.stdin.write(json.dumps(request).encode() + b"\n")
        await self._proc.stdin.drain()
        return await asyncio.wait_for(future, 30)

    async def close(self) -> None:
        if self._proc is None:
            return
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            await asyncio.wait_for(self._proc.wait(), 5)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()
        if self._reader is not None:
            await self._reader


if __name__ == "__main__":
    _serve_forever()
