"""Secrets given to `trussd image run` never appear on a command line (/proc/*/cmdline is
readable by every local user): docker and podman get names only, buildah a private file."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from trussd.deploy.image import plan_run, run_image
from trussd.errors import BuildError

SECRET = "s3cr3t value; $(rm -rf /) 'quoted'"


def _fake(folder: Path, name: str, body: str) -> None:
    script = folder / name
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)


def test_docker_gets_names_on_its_command_line_and_values_in_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    seen = tmp_path / "seen.json"
    # a docker that answers `info`, and on `run` records its argv and environment
    _fake(
        folder,
        "docker",
        'if [ "$1" = info ]; then exit 0; fi\n'
        f'exec {sys.executable} -c "import json, os, sys; '
        f"json.dump({{'argv': sys.argv[1:], 'env': os.environ.get('TRUSSD_SECRET_k')}}, "
        f"open('{seen}', 'w'))\" \"$@\"\n",
    )
    monkeypatch.setenv("PATH", str(folder))
    plan = plan_run("localhost/m:1", 43124, runtime="docker", env={"TRUSSD_SECRET_k": SECRET})
    assert not any(SECRET in arg for arg in plan.argv)
    assert "TRUSSD_SECRET_k" in plan.argv
    assert run_image(plan) == 0
    recorded = json.loads(seen.read_text())
    assert not any(SECRET in arg for arg in recorded["argv"])
    assert recorded["env"] == SECRET


def test_buildah_reads_values_from_a_private_file_removed_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    config = {"Docker": {"config": {"Cmd": ["/bin/server", "--port", "8080"]}}}
    _fake(
        folder,
        "buildah",
        f"if [ \"$1\" = inspect ]; then echo '{json.dumps(config)}'; exit 0; fi\n"
        'if [ "$1" = from ]; then echo c1; exit 0; fi\n'
        "exit 0\n",
    )
    monkeypatch.setenv("PATH", str(folder))
    plan = plan_run("localhost/m:1", 43125, env={"TRUSSD_SECRET_k": SECRET})
    assert plan.runtime == "buildah"
    assert not any(SECRET in arg for arg in plan.argv)
    private = plan.private_dir
    assert private is not None
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE((private / "env").stat().st_mode) == 0o600
    # the file, sourced by a shell as the container does, gives back the exact value
    import subprocess

    out = subprocess.run(
        ["/bin/sh", "-c", f'set -a; . {private}/env; printf %s "$TRUSSD_SECRET_k"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == SECRET
    assert run_image(plan) == 0
    assert not private.exists()


def test_an_environment_name_that_is_not_an_identifier_is_refused() -> None:
    with pytest.raises(BuildError):
        plan_run("localhost/m:1", 1, runtime="docker", env={"A=B": "x"})
