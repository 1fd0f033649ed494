"""The OCI builders trussd drives: docker (BuildKit), podman and buildah.

All three read the same Dockerfile, take build secrets (``--secret id=…,src=…``) and labels,
and tag only a finished image. ``detect_builder`` picks the first that works here — a
``docker`` client whose daemon does not answer does not count — or checks the one asked for.
podman and buildah run ``RUN`` steps with ``--isolation chroot`` by default (it works inside
containers and unprivileged CI machines); ``TRUSSD_BUILD_ISOLATION=oci`` selects the runtime.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from trussd.errors import BuildError

__all__ = ["BUILDERS", "Builder", "detect_builder", "run_quiet"]

BUILDERS = ("docker", "podman", "buildah")
_INSTALL_HINT = (
    "install one: `apt-get install buildah` (no daemon needed), podman, or Docker with its "
    "daemon running; then pass --builder auto"
)


def run_quiet(argv: Sequence[str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run a builder or runtime command for its answer; a missing or hung one answers 127."""
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(argv), 127, "", str(exc))


@dataclass(frozen=True)
class Builder:
    name: str
    executable: str

    def usable(self) -> tuple[bool, str]:
        """Whether this builder can build here, and why not."""
        probe = [self.executable, "info"] if self.name == "docker" else [self.executable, "version"]
        done = run_quiet(probe)
        if done.returncode == 0:
            return True, ""
        reason = (done.stderr or done.stdout).strip().splitlines()
        return False, reason[-1] if reason else f"`{' '.join(probe)}` failed"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.name == "docker":
            env["DOCKER_BUILDKIT"] = "1"  # secrets mounts need BuildKit
        return env

    def build_argv(
        self,
        context_dir: Path,
        tag: str,
        *,
        labels: Mapping[str, str],
        secrets: Mapping[str, Path],
        no_cache: bool = False,
    ) -> list[str]:
        argv = [self.executable, "bud" if self.name == "buildah" else "build"]
        if self.name == "docker":
            argv += ["--progress=plain"]
        else:
            isolation = os.environ.get("TRUSSD_BUILD_ISOLATION", "chroot")
            # docker format: OCI images drop HEALTHCHECK
            argv += ["--format", "docker", "--layers", f"--isolation={isolation}"]
        argv += ["--force-rm", "-f", str(context_dir / "Dockerfile"), "-t", tag]
        for key, value in sorted(labels.items()):
            argv += ["--label", f"{key}={value}"]
        for sid, path in sorted(secrets.items()):
            argv += ["--secret", f"id={sid},src={path}"]
        if no_cache:
            argv.append("--no-cache")
        argv.append(str(context_dir))
        return argv

    def image_id(self, tag: str) -> str | None:
        """The id the tag points at, or None when there is no such image."""
        if self.name == "buildah":
            done = run_quiet(
                [self.executable, "inspect", "--type", "image", "--format", "{{.FromImageID}}", tag]
            )
        else:
            done = run_quiet([self.executable, "image", "inspect", "--format", "{{.Id}}", tag])
        if done.returncode != 0:
            return None
        return done.stdout.strip() or None

    def untag(self, tag: str) -> None:
        run_quiet([self.executable, "rmi", tag])


def _candidate(name: str) -> Builder | None:
    path = shutil.which(name)
    return Builder(name, path) if path else None


def detect_builder(choice: str = "auto") -> Builder:
    """The builder to use; BuildError naming the problem and the fix when there is none."""
    if choice not in ("auto", *BUILDERS):
        raise BuildError(
            f"unknown builder `{choice}`",
            step="builder",
            hint=f"use one of auto, {', '.join(BUILDERS)}",
        )
    names = BUILDERS if choice == "auto" else (choice,)
    problems = []
    for name in names:
        builder = _candidate(name)
        if builder is None:
            problems.append(f"{name}: not on PATH")
            continue
        ok, why = builder.usable()
        if ok:
            return builder
        problems.append(f"{name}: {why}")
    detail = "; ".join(problems)
    if choice == "auto":
        raise BuildError(
            f"no image builder works here ({detail})", step="builder", hint=_INSTALL_HINT
        )
    raise BuildError(
        f"builder `{choice}` cannot build here ({detail})", step="builder", hint=_INSTALL_HINT
    )
