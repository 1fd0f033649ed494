"""Run a built image in the foreground with whatever container runtime works here.

In order: ``docker run`` (when its daemon answers), ``podman run`` (when a trial run
succeeds: rootless or nested podman often cannot set resource limits), and ``buildah run``
with chroot isolation on the host's network — the one that works inside unprivileged
containers and CI machines. Docker and podman publish the server's port 8080 on ``--port``;
with host networking the server itself is told to listen on ``--port``.

Whatever happens, the container is removed when the server exits or is interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trussd.deploy.image.builders import run_quiet
from trussd.deploy.image.dockerfile import APP_DIR, LABEL_PREFIX, SERVER_PORT
from trussd.errors import BuildError

__all__ = ["RUNTIMES", "RunPlan", "plan_run", "run_image", "server_argv"]

RUNTIMES = ("docker", "podman", "buildah")
_TRIAL = ["/opt/trussd/bin/python", "-c", "pass"]
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: where buildah mounts the private env file (its ``--env NAME`` does not read our environment)
_ENV_MOUNT = "/run/trussd-env"


@dataclass
class RunPlan:
    runtime: str
    argv: list[str]
    #: the buildah working container to remove afterwards
    container: str | None = None
    cleanup: list[list[str]] = field(default_factory=list)
    #: the environment values: given to the runtime's process, never on a command line,
    #: where any local user could read them in /proc/*/cmdline
    env: dict[str, str] = field(default_factory=dict)
    #: a private folder (the buildah env file) removed afterwards
    private_dir: Path | None = None


def _quiet(argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_quiet(argv, timeout)


def server_argv(command: Sequence[str], port: int, host: str) -> list[str]:
    """The image's command with the server told to listen on ``host:port``."""
    argv = list(command)
    for flag, value in (("--port", str(port)), ("--host", host)):
        if flag in argv[:-1]:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv


def _image_config(tag: str) -> dict[str, object]:
    done = _quiet(["buildah", "inspect", "--type", "image", tag])
    if done.returncode != 0:
        raise BuildError(
            f"no image `{tag}` here",
            step="run",
            hint="build it first with `trussd image build DIR --tag TAG`",
        )
    data = json.loads(done.stdout)
    docker = data.get("Docker", {}).get("config") or {}
    oci = data.get("OCIv1", {}).get("config") or {}
    return {**oci, **docker}


def _docker_like(
    runtime: str,
    tag: str,
    port: int,
    env: Mapping[str, str],
    weights: Path | None,
    weights_at: str | None,
) -> list[str]:
    argv = [runtime, "run", "--rm", "--init", "-p", f"127.0.0.1:{port}:{SERVER_PORT}"]
    for key in sorted(env):
        argv += ["-e", key]  # the runtime reads the value from its own environment
    if weights is not None and weights_at:
        argv += ["-v", f"{weights.resolve()}:{weights_at}:ro"]
    return [*argv, tag]


def _usable(runtime: str, tag: str) -> bool:
    if shutil.which(runtime) is None:
        return False
    if runtime == "docker":
        return _quiet(["docker", "info"], timeout=20).returncode == 0
    if runtime == "podman":
        trial = ["podman", "run", "--rm", "--entrypoint", _TRIAL[0], tag, *_TRIAL[1:]]
        return _quiet(trial).returncode == 0
    return True


def _weights_mount(config: Mapping[str, object]) -> str | None:
    labels = config.get("Labels") or {}
    value = labels.get(f"{LABEL_PREFIX}weights", "") if isinstance(labels, dict) else ""
    return (
        value.removeprefix("mount:")
        if isinstance(value, str) and value.startswith("mount:")
        else None
    )


def plan_run(
    tag: str,
    port: int,
    *,
    runtime: str = "auto",
    env: Mapping[str, str] | None = None,
    weights: Path | None = None,
) -> RunPlan:
    """How to run ``tag`` here; BuildError when no runtime can."""
    bad = [key for key in (env or {}) if not _ENV_NAME.fullmatch(key)]
    if bad:
        raise BuildError(f"invalid environment variable name {bad[0]!r}", step="run")
    if runtime not in ("auto", *RUNTIMES):
        raise BuildError(
            f"unknown runtime `{runtime}`", step="run", hint=f"use auto, {', '.join(RUNTIMES)}"
        )
    env = dict(env or {})
    config = _image_config(tag) if shutil.which("buildah") else {}
    weights_at = _weights_mount(config) or (f"{APP_DIR}/weights" if weights else None)
    for name in RUNTIMES if runtime == "auto" else (runtime,):
        if name == "buildah" and shutil.which("buildah") and config:
            return _buildah_plan(tag, port, config, env, weights, weights_at)
        if name != "buildah" and _usable(name, tag):
            argv = _docker_like(name, tag, port, env, weights, weights_at)
            return RunPlan(name, argv, env=env)
    raise BuildError(
        f"no container runtime can run `{tag}` here",
        step="run",
        hint="install Docker (daemon running), podman, or buildah",
    )


def _buildah_plan(
    tag: str,
    port: int,
    config: Mapping[str, object],
    env: Mapping[str, str],
    weights: Path | None,
    weights_at: str | None,
) -> RunPlan:
    command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]  # type: ignore[misc]
    if not command:
        raise BuildError(f"image `{tag}` has no command to run", step="run")
    done = _quiet(["buildah", "from", "--pull-never", tag])
    if done.returncode != 0:
        raise BuildError(
            f"cannot create a container from `{tag}`: {done.stderr.strip()}", step="run"
        )
    container = done.stdout.strip().splitlines()[-1]
    argv = ["buildah", "run", "--isolation", "chroot", "--network", "host"]
    server = server_argv([str(c) for c in command], port, "127.0.0.1")
    private = _env_file(env, _owner(config.get("User"))) if env else None
    if private is not None:
        argv += ["-v", f"{private}:{_ENV_MOUNT}:ro"]
        server = ["/bin/sh", "-c", f'set -a; . {_ENV_MOUNT}/env; exec "$@"', "sh", *server]
    if weights is not None and weights_at:
        argv += ["-v", f"{weights.resolve()}:{weights_at}:ro"]
    argv += [container, "--", *server]
    cleanup = [["buildah", "rm", container]]
    return RunPlan("buildah", argv, container, cleanup, env=dict(env), private_dir=private)


def _owner(user: object) -> tuple[int, int] | None:
    """The numeric ``uid[:gid]`` the image's server runs as (ours are numeric), else None."""
    match = re.fullmatch(r"(\d+)(?::(\d+))?", str(user or ""))
    if match is None:
        return None
    return int(match[1]), int(match[2] or match[1])


def _env_file(env: Mapping[str, str], owner: tuple[int, int] | None) -> Path:
    """The values in a file only we can read (``--env NAME`` of buildah takes no value from
    our environment, and ``--env NAME=VALUE`` would show it to every local user)."""
    private = Path(tempfile.mkdtemp(prefix="trussd-env-"))  # mode 0700
    path = private / "env"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))
    if owner is not None and owner != (os.getuid(), os.getgid()):
        # the server reads it as the image's user; still nobody else can
        with contextlib.suppress(PermissionError):
            os.chown(private, *owner)
            os.chown(path, *owner)
    return private


@contextlib.contextmanager
def _forward_signals(process: subprocess.Popen[bytes]) -> Iterator[None]:
    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_image(plan: RunPlan, grace_seconds: float = 30) -> int:
    """Run the plan in the foreground; signals reach the server; the container is removed."""
    try:
        environ = {**os.environ, **plan.env}
        process = subprocess.Popen(plan.argv, start_new_session=True, env=environ)
        with _forward_signals(process):
            try:
                return process.wait()
            finally:
                if process.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGTERM)
                    try:
                        process.wait(timeout=grace_seconds)
                    except subprocess.TimeoutExpired:
                        os.killpg(process.pid, signal.SIGKILL)
                        process.wait()
    finally:
        for argv in plan.cleanup:
            _quiet(argv)
        if plan.private_dir is not None:
            shutil.rmtree(plan.private_dir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``runner.main([TAG, "--port", P, "--env-name", NAME, ...])``: what a
    control-plane replica runs. Unlike ``trussd image run -e KEY=VALUE`` it takes only the
    names and reads their values from its own environment, so no secret is on a command line.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="trussd-image-runner")
    parser.add_argument("tag")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--env-name", action="append", default=[])
    args = parser.parse_args(argv)
    env = {name: os.environ.get(name, "") for name in args.env_name}
    try:
        plan = plan_run(args.tag, args.port, env=env)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"running {args.tag} with {plan.runtime} on http://127.0.0.1:{args.port}", file=sys.stderr
    )
    return run_image(plan)
