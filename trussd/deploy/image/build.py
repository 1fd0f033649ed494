"""Run a builder on a rendered context: progress as it goes, a named step when it fails.

The builder's output is read line by line. Step headers (buildah/podman ``STEP 5/21: RUN …``,
BuildKit ``#9 [ 4/12] RUN …``) become progress events carrying the step's name; a failure is
traced back to the step that failed and raised as ``BuildError`` with that step's fix and the
log's tail. A failed or interrupted build never leaves the tag pointing at a new image.
"""

from __future__ import annotations

import collections
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trussd.deploy.image.builders import Builder
from trussd.deploy.image.context import BuildContext, write_context
from trussd.deploy.image.dockerfile import CA_SECRET_ID, LABEL_PREFIX
from trussd.deploy.image.steps import Step, find_step
from trussd.errors import BuildError

__all__ = ["BuildEvent", "BuildResult", "LogReader", "build_image"]

_BUILDAH_STEP = re.compile(r"^STEP (\d+)/(\d+): (.*)$")
_BUILDAH_FAILED = re.compile(r'^Error: building at STEP "(.*)": (.*)$', re.S)
_BUILDKIT_STEP = re.compile(r"^#(\d+) \[(?:[\w.-]+ )?\s*(\d+)/(\d+)\] (.*)$")
_BUILDKIT_ERROR = re.compile(r"^#(\d+) ERROR: (.*)$")
_ERROR = re.compile(r"^Error: (.*)$")
_CACHED = re.compile(r"^(--> Using cache|#\d+ CACHED)")
TAIL_LINES = 30


@dataclass(frozen=True)
class BuildEvent:
    """One line of the build, read: a step starting, a cache hit, or plain log."""

    kind: str  # "step" | "cached" | "log" | "clash"
    line: str
    index: int = 0
    total: int = 0
    title: str = ""


@dataclass
class BuildResult:
    tag: str
    image_id: str
    builder: str
    cached_steps: list[str] = field(default_factory=list)
    built_steps: list[str] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)


class LogReader:
    """Turns builder output into events and remembers where a failure happened."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.current: str = ""
        self.failed_instruction: str | None = None
        self.reason: str = ""
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._buildkit: dict[str, str] = {}
        self.result_cached: list[str] = []
        self.result_built: list[str] = []
        self.clashes: list[str] = []

    def _title(self, instruction: str) -> str:
        step = find_step(self.steps, instruction)
        if step is not None:
            return step.title
        if instruction.startswith("FROM "):
            return "base image"  # BuildKit writes the image's full name (docker.io/library/…)
        if instruction.startswith(f'LABEL "{LABEL_PREFIX}'):
            return "build labels"  # the builder adds --label values as a last step
        return instruction[:60]

    def feed(self, line: str) -> BuildEvent:
        line = line.rstrip("\n")
        if _BUILDAH_STEP.match(line) or _BUILDKIT_STEP.match(line):
            self.tail.clear()  # the tail shows the failing step's own output
        self.tail.append(line)
        if match := _BUILDAH_STEP.match(line):
            return self._step(line, match.group(3), int(match.group(1)), int(match.group(2)))
        if match := _BUILDKIT_STEP.match(line):
            self._buildkit[match.group(1)] = match.group(4)
            return self._step(line, match.group(4), int(match.group(2)), int(match.group(3)))
        if match := _BUILDAH_FAILED.match(line):
            self.failed_instruction, self.reason = match.group(1), match.group(2)
        elif (match := _BUILDKIT_ERROR.match(line)) and match.group(1) in self._buildkit:
            self.failed_instruction, self.reason = self._buildkit[match.group(1)], match.group(2)
        elif (match := _ERROR.match(line)) and not self.reason:
            self.reason = match.group(1)
        if _CACHED.match(line):
            title = self._title(self.current)
            if self.result_built and self.result_built[-1] == title:
                self.result_built.pop()
            self.result_cached.append(title)
            return BuildEvent("cached", line, title=title)
        if "trussd: warning: clash:" in line:
            self.clashes.append(line.split("clash:", 1)[1].strip())
            return BuildEvent("clash", line)
        return BuildEvent("log", line)

    def _step(self, line: str, instruction: str, index: int, total: int) -> BuildEvent:
        self.current = instruction
        title = self._title(instruction)
        self.result_built.append(title)
        return BuildEvent("step", line, index, total, title)

    def error(self, returncode: int, tag: str) -> BuildError:
        instruction = self.failed_instruction or self.current
        step = find_step(self.steps, instruction) if instruction else None
        if step is None and instruction and instruction.startswith("FROM ") and self.steps:
            step = self.steps[0]
        tail = "\n".join(line for line in self.tail if line.strip())
        if step is None:
            return BuildError(
                f"building {tag} failed (exit {returncode}) before any step of the Dockerfile ran",
                step="builder",
                log_tail=tail,
                hint="read the log below; a base image that does not exist or cannot be pulled "
                "fails here — check `--base-image`/`base_image.image`",
            )
        reason = f": {self.reason}" if self.reason else ""
        return BuildError(
            f"building {tag} failed at step `{step.title}`{reason}",
            step=step.title,
            log_tail=tail,
            hint=step.hint or None,
        )


def _run(
    argv: list[str],
    builder: Builder,
    reader: LogReader,
    on_event: Callable[[BuildEvent], None] | None,
) -> int:
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=builder.env(),
        errors="replace",
    ) as process:
        assert process.stdout is not None
        try:
            for raw in process.stdout:
                event = reader.feed(raw)
                if on_event is not None:
                    on_event(event)
        except BaseException:
            process.kill()
            raise
        return process.wait()


def build_image(
    context: BuildContext,
    builder: Builder,
    *,
    tag: str | None = None,
    ca_cert: Path | None = None,
    secrets: Mapping[str, Path] | None = None,
    no_cache: bool = False,
    on_event: Callable[[BuildEvent], None] | None = None,
) -> BuildResult:
    """Build ``context`` into ``tag``; BuildError names the failed step and its fix."""
    tag = tag or context.default_tag()
    mounts = _mounts(context, ca_cert, secrets or {})
    labels = {f"{LABEL_PREFIX}context-hash": context.context_hash}
    before = builder.image_id(tag)
    reader = LogReader(context.steps)
    log: list[str] = []

    def keep(event: BuildEvent) -> None:
        log.append(event.line)
        if on_event is not None:
            on_event(event)

    with tempfile.TemporaryDirectory(prefix="trussd-context-") as tmp:
        directory = write_context(context, Path(tmp) / "context")
        argv = builder.build_argv(directory, tag, labels=labels, secrets=mounts, no_cache=no_cache)
        try:
            returncode = _run(argv, builder, reader, keep)
        except BaseException:
            _drop_new_tag(builder, tag, before)
            raise
    if returncode != 0:
        _drop_new_tag(builder, tag, before)
        raise reader.error(returncode, tag)
    image_id = builder.image_id(tag) or ""
    return BuildResult(
        tag, image_id, builder.name, reader.result_cached, reader.result_built, reader.clashes, log
    )


def _mounts(
    context: BuildContext, ca_cert: Path | None, secrets: Mapping[str, Path]
) -> dict[str, Path]:
    mounts: dict[str, Path] = {}
    if ca_cert is not None:
        if not ca_cert.is_file():
            raise BuildError(
                f"--ca-cert {ca_cert} is not a file",
                step="builder",
                hint="pass a PEM bundle holding the proxy's CA (e.g. the system bundle)",
            )
        mounts[CA_SECRET_ID] = ca_cert
    for sid, path in secrets.items():
        if sid not in context.secret_ids:
            known = ", ".join(context.secret_ids) or "none"
            raise BuildError(
                f"build secret `{sid}` is not in build.secret_to_path_mapping (known: {known})",
                step="builder",
                hint="add it to `build.secret_to_path_mapping` in config.yaml",
            )
        if not path.is_file():
            raise BuildError(
                f"build secret `{sid}`: {path} is not a file",
                step="builder",
                hint="pass --secret NAME=FILE with a file that holds the value",
            )
        mounts[sid] = path
    return mounts


def _drop_new_tag(builder: Builder, tag: str, before: str | None) -> None:
    """Leave the tag as it was before the build: a failed build must not be usable by name."""
    now = builder.image_id(tag)
    if now is not None and now != before:
        builder.untag(tag)
