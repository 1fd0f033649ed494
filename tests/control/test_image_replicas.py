"""Replicas from a built image: `trussd push --image TAG` makes the control plane run
`trussd image run TAG` instead of `trussd serve`, woken from zero like any other replica.

Needs buildah and the local Python base image (`make base-image`); the image of the echo truss
is built once for the module with `trussd image build` and removed afterwards."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from trussd.control.replica import image_command, leftover_container

from .conftest import FIXTURES
from .live import REPO, TRUSSD, LiveControlPlane, replica_pids

KEY = "tdk_image_admin"
BASE = "localhost/trussd-base:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def test_the_image_command_names_only_its_secrets_and_ends_options() -> None:
    secret = "value-nobody-may-read"
    command = image_command("localhost/x:1", {"TRUSSD_SECRET_a": secret}, "r1")(Path("/t"), 9)
    assert command[-2:] == ["--", "localhost/x:1"]
    assert command[command.index("--port") + 1] == "9"
    env_args = [command[i + 1] for i, arg in enumerate(command) if arg == "--env-name"]
    assert env_args == ["TRUSSD_REPLICA_ID", "TRUSSD_SECRET_a"]
    assert not any(secret in arg or arg == "r1" for arg in command)  # /proc/*/cmdline is public


def _quiet(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False)


def _containers_of(tag: str) -> list[str]:
    done = _quiet("buildah", "containers", "--format", "{{.ImageName}}")
    return [line for line in done.stdout.splitlines() if line.strip() == tag]


@pytest.fixture(scope="module")
def echo_image() -> Iterator[str]:
    assert shutil.which("buildah"), "buildah is not installed: run `make setup-system`"
    if _quiet("podman", "image", "exists", BASE).returncode != 0:
        subprocess.run(["make", "-s", "base-image"], cwd=REPO, check=True)
    tag = f"localhost/trussd-test-control-echo:{int(time.time())}"
    build = [*TRUSSD, "image", "build", str(FIXTURES / "control-echo"), "-t", tag]
    build += ["--base-image", BASE]
    if HOST_CA.is_file():
        build += ["--ca-cert", str(HOST_CA)]
    done = subprocess.run(build, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    yield tag
    _quiet("buildah", "rmi", tag)


@pytest.mark.buildah
@pytest.mark.e2e
@pytest.mark.slow
def test_a_pushed_image_serves_from_zero_and_cleans_up(echo_image: str, tmp_path: Path) -> None:
    plane = LiveControlPlane(tmp_path / "data", KEY).start()
    try:
        tenant = json.loads(plane.cli("keys", "create", "--tenant", "acme", "--json").stdout)
        refused = httpx.post(
            f"{plane.url}/v1/deployments",
            json={"blob": "0" * 64, "image": echo_image},
            headers={"Authorization": f"Api-Key {tenant['key']}"},
        )
        assert refused.status_code == 401  # images are the machine's: admin keys only
        assert "admin" in refused.text
        # --wait exits 0 only once a replica of the image is ready (cli checks the exit code).
        plane.cli("push", str(FIXTURES / "control-echo"), "--image", echo_image, "--wait")
        answer = httpx.post(
            f"{plane.url}/models/echo/predict", json={"img": 1}, headers=plane.headers, timeout=120
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["echo"] == {"img": 1}
        # Served inside the container: not from the replica's folder under the data dir.
        assert not body["cwd"].startswith(str(tmp_path))
        assert "TRUSSD_REPLICA_ID" in body["env"]
        assert _containers_of(echo_image), "the replica runs in a buildah container"
        items = json.loads(plane.cli("deployments", "list", "--json").stdout)
        assert [d["image"] for d in items] == [echo_image]
        plane.cli("deployments", "delete", items[0]["id"])
    finally:
        plane.stop()
    _wait_gone(echo_image)


def _wait_gone(tag: str) -> None:
    deadline = time.monotonic() + 60
    while _containers_of(tag) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _containers_of(tag) == [], "the replica's container is removed"


def test_leftover_container_is_read_from_the_buildah_run_command() -> None:
    argv = ["/usr/bin/buildah", "run", "--isolation", "chroot", "--env", "A=b", "c1", "--", "x"]
    assert leftover_container(argv) == "c1"
    assert leftover_container(["python", "run", "c1", "--", "x"]) is None
    assert leftover_container(["buildah", "from", "img"]) is None


@pytest.mark.buildah
@pytest.mark.e2e
@pytest.mark.slow
def test_a_killed_control_plane_leaves_no_image_replica_behind(
    echo_image: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = LiveControlPlane(data, KEY).start()
    try:
        first.cli("push", str(FIXTURES / "control-echo"), "--image", echo_image, "--wait")
        answer = httpx.post(
            f"{first.url}/models/echo/predict", json={}, headers=first.headers, timeout=120
        )
        assert answer.status_code == 200, answer.text
        assert _containers_of(echo_image)
    finally:
        first.stop(signal.SIGKILL)  # the image runner cannot clean up: reconcile must
    second = LiveControlPlane(data, KEY).start()
    try:
        assert replica_pids() == [] or all("buildah" not in _cmdline(pid) for pid in replica_pids())
        _wait_gone(echo_image)
    finally:
        second.stop()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""
