"""Choosing a builder, reading its log, and what a failed build leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy import fake_builder
from tests.deploy.image_helpers import render
from trussd.deploy.image import Builder, build_image, detect_builder
from trussd.deploy.image.build import LogReader
from trussd.errors import BuildError

BUILDAH_FAILURE = """\
STEP 1/21: FROM localhost/trussd-base:bookworm
STEP 2/21: ENV PYTHONUNBUFFERED="1"
--> Using cache c2c2c7f3313507f6b1591df63287d6f31e16dbd604bc38363cad62cc14dd4bc5
--> c2c2c7f3313
STEP 10/21: RUN --mount=type=secret,id=trussd-ca,target=/run/secrets/trussd-ca     . /opt/trussd-build/env.sh &&     cat /opt/assets/missing.txt
cat: /opt/assets/missing.txt: No such file or directory
subprocess exited with status 1
Error: building at STEP "RUN --mount=type=secret,id=trussd-ca,target=/run/secrets/trussd-ca . /opt/trussd-build/env.sh &&     cat /opt/assets/missing.txt": exit status 1
"""  # noqa: E501

BUILDKIT_FAILURE = """\
#1 [internal] load build definition from Dockerfile
#5 [ 1/12] FROM docker.io/library/python:3.11-slim-bookworm
#6 [ 2/12] COPY trussd-build/env.sh /opt/trussd-build/env.sh
#6 CACHED
#11 [ 9/12] RUN --mount=type=secret,id=trussd-ca,target=/run/secrets/trussd-ca     . /opt/trussd-build/env.sh &&     cat /opt/assets/missing.txt
#11 0.210 cat: /opt/assets/missing.txt: No such file or directory
#11 ERROR: process "/bin/sh -c . /opt/trussd-build/env.sh &&     cat /opt/assets/missing.txt" did not complete successfully: exit code: 1
"""  # noqa: E501


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_unknown_builder_is_named_with_the_choices() -> None:
    with pytest.raises(BuildError) as caught:
        detect_builder("kaniko")
    assert "kaniko" in caught.value.message
    assert caught.value.hint is not None
    assert "buildah" in caught.value.hint


def test_no_builder_installed(fake_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        detect_builder("auto")
    assert "docker: not on PATH" in caught.value.message
    assert caught.value.hint is not None
    assert "apt-get install buildah" in caught.value.hint
    with pytest.raises(BuildError, match="builder `podman` cannot build here"):
        detect_builder("podman")


def test_a_docker_client_without_a_daemon_is_passed_over(fake_path: Path) -> None:
    fake_builder.install(fake_path, "docker")
    fake_builder.install(fake_path, "buildah")
    (fake_path / "probe_rc").write_text("1")
    with pytest.raises(BuildError):
        detect_builder("auto")
    (fake_path / "probe_rc").unlink()
    assert detect_builder("auto").name == "docker"
    assert detect_builder("buildah").name == "buildah"


def test_build_arguments_carry_labels_secrets_and_the_docker_format(tmp_path: Path) -> None:
    builder = Builder("buildah", "buildah")
    argv = builder.build_argv(
        tmp_path,
        "localhost/m:1",
        labels={"dev.trussd.context-hash": "abc"},
        secrets={"trussd-ca": Path("/ca.pem")},
        no_cache=True,
    )
    assert argv[:2] == ["buildah", "bud"]
    assert "--format" in argv
    assert argv[argv.index("--format") + 1] == "docker"  # OCI format would drop HEALTHCHECK
    assert "id=trussd-ca,src=/ca.pem" in argv
    assert "dev.trussd.context-hash=abc" in argv
    assert "--no-cache" in argv
    docker = Builder("docker", "docker").build_argv(tmp_path, "m:1", labels={}, secrets={})
    assert "--progress=plain" in docker
    assert Builder("docker", "docker").env()["DOCKER_BUILDKIT"] == "1"


@pytest.mark.parametrize("log", [BUILDAH_FAILURE, BUILDKIT_FAILURE])
def test_the_log_names_the_failed_step_and_cache_hits(log: str) -> None:
    context = render("image-bad-build-command")
    reader = LogReader(context.steps)
    events = [reader.feed(line) for line in log.splitlines()]
    assert any(e.kind == "cached" for e in events)
    assert any(e.kind == "step" and e.title == "base image" for e in events)
    error = reader.error(1, "localhost/m:1")
    assert error.step == "build_commands[1]: cat /opt/assets/missing.txt"
    assert error.hint is not None
    assert "build_commands[1]" in error.hint
    assert "No such file or directory" in error.log_tail
    assert "FROM" not in error.log_tail  # only the failing step's own output


def test_a_failed_build_names_the_step_and_leaves_no_new_tag(fake_path: Path) -> None:
    fake_builder.install(fake_path, "buildah", log=BUILDAH_FAILURE, rc=1)
    (fake_path / "set_tag").write_text("")  # a builder that tags before failing
    context = render("image-bad-build-command")
    events: list[str] = []
    with pytest.raises(BuildError) as caught:
        build_image(
            context,
            detect_builder("buildah"),
            tag="localhost/m:1",
            on_event=lambda e: events.append(e.kind),
        )
    assert caught.value.step is not None
    assert caught.value.step.startswith("build_commands[1]")
    assert "step" in events
    assert fake_builder.tags(fake_path) == {}
    assert ["buildah", "rmi", "localhost/m:1"] in fake_builder.calls(fake_path)


def test_a_failed_rebuild_keeps_the_previous_image(fake_path: Path) -> None:
    fake_builder.install(fake_path, "buildah", log=BUILDAH_FAILURE, rc=1)
    (fake_path / "tags.json").write_text('{"localhost/m:1": "sha256-old"}')
    with pytest.raises(BuildError):
        build_image(
            render("image-bad-build-command"), detect_builder("buildah"), tag="localhost/m:1"
        )
    assert fake_builder.tags(fake_path) == {"localhost/m:1": "sha256-old"}


def test_a_successful_build_passes_the_ca_and_context_hash(fake_path: Path, tmp_path: Path) -> None:
    fake_builder.install(fake_path, "buildah", log="STEP 1/2: FROM x\nCOMMIT\n", rc=0)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    context = render("image-custom")
    result = build_image(context, detect_builder("buildah"), ca_cert=ca)
    assert result.tag == context.default_tag()
    assert result.image_id == "sha256-new"
    bud = next(c for c in fake_builder.calls(fake_path) if c[1] == "bud")
    assert f"id=trussd-ca,src={ca}" in bud
    assert f"dev.trussd.context-hash={context.context_hash}" in bud


def test_bad_build_inputs_fail_before_the_builder_runs(fake_path: Path, tmp_path: Path) -> None:
    fake_builder.install(fake_path, "buildah")
    builder = detect_builder("buildah")
    with pytest.raises(BuildError, match="--ca-cert"):
        build_image(render("image-custom"), builder, ca_cert=tmp_path / "missing.pem")
    with pytest.raises(BuildError, match="secret_to_path_mapping"):
        build_image(render("image-custom"), builder, secrets={"hf": tmp_path})
    assert not any(c[1] == "bud" for c in fake_builder.calls(fake_path))
