"""Runs one engine and guarantees it dies with trussd: `python -I _reaper.py PPID GRACE -- ARGV`.

A standalone script (standard library only, run with ``-I``) between trussd and the engine:

- it asks the kernel to send it SIGTERM when trussd dies (``PR_SET_PDEATHSIG``), even when
  trussd is SIGKILLed and runs no clean-up of its own;
- it starts the engine in a process group of its own, so the engine's workers (vLLM runs
  three processes) are signalled together;
- on SIGTERM/SIGINT/SIGHUP it sends SIGTERM to that group, waits GRACE seconds, then SIGKILL;
- when the engine exits by itself, it kills what is left of the group and exits with the
  engine's status (128+N for signal N), so the supervisor sees a crash as an exit.

The engine also gets ``PR_SET_PDEATHSIG`` = SIGKILL, should the reaper itself be killed.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

_PR_SET_PDEATHSIG = 1
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _Stop(Exception):
    pass


def _set_pdeathsig(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the supervisor's own shutdown still applies
        pass


def _engine_preexec() -> None:
    _set_pdeathsig(signal.SIGKILL)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop(engine: "subprocess.Popen[bytes]", grace: float) -> None:
    """TERM the group, wait ``grace`` for the engine and its workers, then KILL what is left."""
    _kill_group(engine.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if engine.poll() is not None and not _group_alive(engine.pid):
            return
        time.sleep(0.05)
    _kill_group(engine.pid, signal.SIGKILL)
    engine.wait()


def _status(code: int) -> int:
    return 128 - code if code < 0 else code


def main(argv: list[str]) -> int:
    parent, grace, sep, *command = argv
    if sep != "--" or not command:
        print("usage: _reaper.py PPID GRACE -- ARGV...", file=sys.stderr)
        return 2
    _set_pdeathsig(signal.SIGTERM)
    if os.getppid() != int(parent):  # trussd died before the line above took effect
        return 1
    try:
        engine = subprocess.Popen(command, process_group=0, preexec_fn=_engine_preexec)
    except OSError as exc:
        print(f"cannot start {command[0]}: {exc}", file=sys.stderr, flush=True)
        return 127

    def on_signal(signum: int, frame: object) -> None:
        raise _Stop

    for sig in _STOP_SIGNALS:
        signal.signal(sig, on_signal)
    try:
        code = engine.wait()  # a signal interrupts the wait by raising _Stop
    except _Stop:
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        _stop(engine, float(grace))
        return _status(engine.returncode)
    _kill_group(engine.pid, signal.SIGKILL)  # workers left behind by a crashed engine
    return _status(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
