"""`trussd image build-context | build | run` as a user types them, and the run plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.deploy import fake_builder
from tests.deploy.image_helpers import FIXTURES
from trussd.cli.main import cli
from trussd.deploy.image import plan_run
from trussd.deploy.image.runner import server_argv
from trussd.errors import BuildError


def test_build_context_writes_a_dockerfile_and_files(tmp_path: Path) -> None:
    out = tmp_path / "ctx"
    result = CliRunner().invoke(
        cli, ["image", "build-context", str(FIXTURES / "image-custom"), str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    assert (out / "Dockerfile").read_text().startswith("# syntax=docker/dockerfile:1")
    assert (out / "app/code/model/model.py").is_file()
    assert list((out / "trussd-build/server").glob("trussd-*.whl"))


def test_build_context_reports_warnings(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["image", "build-context", str(FIXTURES / "image-secrets"), str(tmp_path / "c")]
    )
    assert result.exit_code == 0
    assert "warning: clash: `pydantic`" in result.output
    assert "secret `api_key`" in result.output


def test_build_with_an_unknown_builder_fails_clearly() -> None:
    result = CliRunner().invoke(
        cli, ["image", "build", str(FIXTURES / "image-custom"), "--builder", "kaniko"]
    )
    assert result.exit_code == 1
    assert "error: unknown builder `kaniko`" in result.output
    assert "fix: use one of auto, docker, podman, buildah" in result.output


def test_build_without_any_builder_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(cli, ["image", "build", str(FIXTURES / "image-custom")])
    assert result.exit_code == 1
    assert "no image builder works here" in result.output
    assert "fix: install one" in result.output


def test_a_failed_build_prints_the_step_the_tail_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.deploy.test_image_builders import BUILDAH_FAILURE

    folder = tmp_path / "bin"
    fake_builder.install(folder, "buildah", log=BUILDAH_FAILURE, rc=1)
    monkeypatch.setenv("PATH", str(folder))
    result = CliRunner().invoke(
        cli, ["image", "build", str(FIXTURES / "image-bad-build-command"), "--builder", "buildah"]
    )
    assert result.exit_code == 1
    assert "failed at step `build_commands[1]: cat /opt/assets/missing.txt`" in result.output
    assert "cat: /opt/assets/missing.txt: No such file or directory" in result.output
    assert "fix: fix `build_commands[1]` in config.yaml" in result.output


def test_the_server_is_told_where_to_listen() -> None:
    command = ["/opt/trussd/bin/trussd", "serve", "/app", "--host", "0.0.0.0", "--port", "8080"]
    argv = server_argv(command, 43123, "127.0.0.1")
    assert argv == [
        "/opt/trussd/bin/trussd",
        "serve",
        "/app",
        "--host",
        "127.0.0.1",
        "--port",
        "43123",
    ]
    assert server_argv(["my-server"], 5, "h") == ["my-server", "--port", "5", "--host", "h"]


def test_run_with_an_unknown_runtime_or_image() -> None:
    with pytest.raises(BuildError, match="unknown runtime"):
        plan_run("localhost/x:1", 1234, runtime="lxc")


def test_run_plans_buildah_on_the_host_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    config = {
        "Docker": {
            "config": {
                "Cmd": [
                    "/opt/trussd/bin/trussd",
                    "serve",
                    "/app",
                    "--host",
                    "0.0.0.0",
                    "--port",
                    "8080",
                ],
                "Labels": {"dev.trussd.weights": "mount:/app/weights"},
            }
        }
    }
    script = folder / "buildah"
    script.write_text(
        "#!/bin/sh\n"
        f"if [ \"$1\" = inspect ]; then echo '{json.dumps(config)}'; exit 0; fi\n"
        'if [ "$1" = from ]; then echo tiny-working-container; exit 0; fi\n'
        "exit 0\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    weights = tmp_path / "w"
    weights.mkdir()
    plan = plan_run("localhost/m:1", 43123, env={"A": "1"}, weights=weights)
    assert plan.runtime == "buildah"
    assert plan.argv[:6] == ["buildah", "run", "--isolation", "chroot", "--network", "host"]
    assert f"{weights}:/app/weights:ro" in plan.argv
    assert plan.argv[-2:] == ["--port", "43123"]
    assert not any("A=1" in arg for arg in plan.argv)  # the value is in a private file
    assert plan.private_dir is not None
    assert (plan.private_dir / "env").read_text() == "A=1\n"
    assert plan.cleanup == [["buildah", "rm", "tiny-working-container"]]
