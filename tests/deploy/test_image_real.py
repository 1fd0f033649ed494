"""Real OCI images with buildah: a custom truss becomes an image that answers predict.

Needs buildah and the local Python base image (`make base-image`, built once and kept; the
fixture builds it when missing). The server environment is computed once for the module so
that a rebuild here reuses its layer even while trussd's source is being edited.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.image_helpers import FIXTURES, REPO
from trussd.config import load_truss
from trussd.deploy.image import (
    BuildResult,
    ContextOptions,
    build_image,
    detect_builder,
    render_context,
)
from trussd.deploy.image.server_env import ServerEnvironment, server_environment
from trussd.errors import BuildError

pytestmark = [pytest.mark.buildah, pytest.mark.e2e, pytest.mark.slow]

BASE = "localhost/trussd-base:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def _quiet(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)


def _exists(tag: str) -> bool:
    return _quiet("buildah", "inspect", "--type", "image", tag).returncode == 0


def _containers_of(tag: str) -> list[str]:
    done = _quiet("buildah", "containers", "--format", "{{.ImageName}}")
    return [line for line in done.stdout.splitlines() if line.strip() == tag]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server() -> ServerEnvironment:
    assert shutil.which("buildah"), "buildah is not installed: run `make setup-system`"
    if _quiet("podman", "image", "exists", BASE).returncode != 0:
        subprocess.run(["make", "-s", "base-image"], cwd=REPO, check=True)
    return server_environment()


def _build(truss: Path, server: ServerEnvironment, tag: str) -> BuildResult:
    context = render_context(load_truss(truss), ContextOptions(base_image=BASE), server=server)
    ca = HOST_CA if HOST_CA.is_file() else None
    return build_image(context, detect_builder("buildah"), tag=tag, ca_cert=ca)


@pytest.fixture(scope="module")
def custom(
    server: ServerEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, BuildResult]]:
    truss = tmp_path_factory.mktemp("real") / "image-custom"
    shutil.copytree(FIXTURES / "image-custom", truss)
    tag = f"localhost/trussd-test-custom:{int(time.time())}"
    result = _build(truss, server, tag)
    yield truss, result
    _quiet("buildah", "rmi", tag)


def _wait_ready(
    process: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"`trussd image run` exited:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready within {timeout}s:\n{log.read_text()}")


def test_the_image_is_secure_and_labelled(custom: tuple[Path, BuildResult]) -> None:
    _, result = custom
    data = json.loads(_quiet("buildah", "inspect", "--type", "image", result.tag).stdout)
    config = data["Docker"]["config"]
    assert config["User"] == "60000:60000"
    assert "/v1/models/model" in " ".join(config["Healthcheck"]["Test"])
    assert config["Labels"]["dev.trussd.config-hash"] == load_truss(custom[0]).config_hash
    assert "dev.trussd.context-hash" in config["Labels"]
    history = json.dumps(data.get("History", []))
    assert "BEGIN CERTIFICATE" not in history


class Running:
    """`trussd image run TAG` in the background, stopped with Ctrl-C."""

    def __init__(self, tag: str, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [
            sys.executable,
            "-m",
            "trussd.cli.main",
            "image",
            "run",
            tag,
            "--port",
            str(self.port),
        ]
        self._out = log.open("wb")
        self.process = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT)

    def __enter__(self) -> Running:
        _wait_ready(self.process, f"{self.url}/v1/models/model", self.log)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        self._out.close()


def test_the_image_answers_predict(custom: tuple[Path, BuildResult], tmp_path: Path) -> None:
    _, result = custom
    with Running(result.tag, tmp_path / "run.log") as running:
        answer = httpx.post(f"{running.url}/v1/models/model:predict", json={"x": 1}, timeout=30)
        assert answer.status_code == 200, answer.text
        # the user env (six), bundled packages (helper) and data (word.txt) all reach it
        assert answer.json() == {"echo": {"x": 1}, "word": "TRUSSD!", "six": "1.17.0"}
        assert httpx.get(f"{running.url}/", timeout=5).status_code == 200
    assert "with buildah" in running.log.read_text()
    assert _containers_of(result.tag) == []


def test_a_docker_server_truss_answers_through_the_front(
    server: ServerEnvironment, tmp_path: Path
) -> None:
    truss = tmp_path / "image-docker-server"
    shutil.copytree(FIXTURES / "image-docker-server", truss)
    config = truss / "config.yaml"
    # Built on the local base: its python3 is /usr/bin/python3, and apt is skipped for speed.
    text = config.read_text().replace("  python_executable_path: /usr/local/bin/python3\n", "")
    config.write_text(text.replace("system_packages:\n  - curl\n", ""))
    tag = f"localhost/trussd-test-docker-server:{int(time.time())}"
    try:
        result = _build(truss, server, tag)
        with Running(result.tag, tmp_path / "run.log") as running:
            answer = httpx.post(f"{running.url}/predict", json={"x": 1}, timeout=30)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"echo": {"x": 1}}
        assert "python3 server.py" in running.log.read_text()
    finally:
        _quiet("buildah", "rmi", tag)
    assert _containers_of(tag) == []


def test_a_code_only_change_rebuilds_from_cache(
    custom: tuple[Path, BuildResult], server: ServerEnvironment
) -> None:
    truss, first = custom
    model = truss / "model" / "model.py"
    model.write_text(model.read_text() + "\n# a code-only change\n")
    tag = first.tag + "-code"
    try:
        again = _build(truss, server, tag)
    finally:
        _quiet("buildah", "rmi", tag)
    for step in ("trussd server environment", "user requirements", "bundled packages", "data"):
        assert step in again.cached_steps, again.log
    assert "model code" in again.built_steps
    assert "model code" not in again.cached_steps
    assert again.image_id != first.image_id


def test_a_requirement_that_fails_to_install(server: ServerEnvironment) -> None:
    tag = "localhost/trussd-test-bad-requirement:1"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "trussd.cli.main",
            "image",
            "build",
            str(FIXTURES / "image-bad-requirement"),
            "--builder",
            "buildah",
            "--tag",
            tag,
            "--base-image",
            BASE,
            *(["--ca-cert", str(HOST_CA)] if HOST_CA.is_file() else []),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "failed at step `user requirements`" in result.stderr
    assert "No matching distribution found for trussd-no-such-package-4c1b" in result.stderr
    assert "fix: a requirement failed to install" in result.stderr
    assert not _exists(tag)


def test_a_failing_build_command(server: ServerEnvironment) -> None:
    tag = "localhost/trussd-test-bad-command:1"
    with pytest.raises(BuildError) as caught:
        _build(FIXTURES / "image-bad-build-command", server, tag)
    assert caught.value.step == "build_commands[1]: cat /opt/assets/missing.txt"
    assert "No such file or directory" in caught.value.log_tail
    assert not _exists(tag)
    assert _containers_of(tag) == []


def test_a_missing_base_image(server: ServerEnvironment) -> None:
    tag = "localhost/trussd-test-no-base:1"
    context = render_context(
        load_truss(FIXTURES / "image-custom"),
        ContextOptions(base_image="localhost/trussd-no-such-base:1"),
        server=server,
    )
    with pytest.raises(BuildError) as caught:
        build_image(context, detect_builder("buildah"), tag=tag)
    assert caught.value.step == "base image"
    assert caught.value.hint is not None
    assert "make base-image" in caught.value.hint
    assert not _exists(tag)


def _layer_bytes(tag: str, out: Path) -> list[bytes]:
    """Every blob of the saved image (layers, config, manifest), uncompressed."""
    saved = _quiet("podman", "save", "--format", "oci-dir", "-o", str(out), tag)
    assert saved.returncode == 0, saved.stderr
    blobs = []
    for blob in sorted((out / "blobs" / "sha256").iterdir()):
        data = blob.read_bytes()
        blobs.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return blobs


def test_no_secret_reaches_any_layer(server: ServerEnvironment, tmp_path: Path) -> None:
    # A build secret a build step really reads (and copies about), and a secret value left
    # in config.yaml: neither may be in any layer, the config or the history of the image.
    build_secret, config_secret = "bsec-9d41e07a", "csec-52b8aa13"
    truss = tmp_path / "image-custom"
    shutil.copytree(FIXTURES / "image-custom", truss)
    config = truss / "config.yaml"
    text = config.read_text().replace(
        "  hf_access_token: null\n", f"  hf_access_token: null\n  api_key: {config_secret}\n"
    )
    config.write_text(
        text + "build:\n  secret_to_path_mapping:\n    pip_token: /run/secrets/pip_token\n"
        "build_commands:\n  - test -s /run/secrets/pip_token && "
        "cp /run/secrets/pip_token /tmp/t && rm /tmp/t && echo read-the-build-secret\n"
    )
    (tmp_path / "token").write_text(build_secret)
    tag = f"localhost/trussd-test-secrets:{int(time.time())}"
    context = render_context(load_truss(truss), ContextOptions(base_image=BASE), server=server)
    ca = HOST_CA if HOST_CA.is_file() else None
    try:
        result = build_image(
            context,
            detect_builder("buildah"),
            tag=tag,
            ca_cert=ca,
            secrets={"pip_token": tmp_path / "token"},
        )
        assert "read-the-build-secret" in result.log  # the step did see the secret
        blobs = _layer_bytes(tag, tmp_path / "saved")
    finally:
        _quiet("buildah", "rmi", tag)
    assert len(blobs) > 3
    for blob in blobs:
        assert build_secret.encode() not in blob
        assert config_secret.encode() not in blob
