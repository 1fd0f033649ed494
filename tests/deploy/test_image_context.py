"""Rendering a build context: deterministic, cache-ordered, secret-free, one per kind."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.deploy.image_helpers import FAKE_SERVER, copy_fixture, render
from trussd.config import load_truss
from trussd.deploy.image import ENGINE_IMAGES, ContextOptions, render_context, write_context
from trussd.deploy.image.steps import find_step
from trussd.errors import BuildError


def _titles(fixture: str | Path, options: ContextOptions | None = None) -> list[str]:
    return [step.title for step in render(fixture, options).steps]


def test_same_truss_gives_the_same_context_wherever_it_lies(tmp_path: Path) -> None:
    first = render("image-custom")
    again = render("image-custom")
    elsewhere = render(copy_fixture("image-custom", tmp_path))
    assert first.context_hash == again.context_hash == elsewhere.context_hash
    assert first.files == elsewhere.files
    assert str(tmp_path) not in first.dockerfile


def test_a_code_change_touches_only_the_code_layer(tmp_path: Path) -> None:
    truss = copy_fixture("image-custom", tmp_path)
    before = render(truss)
    model = truss / "model" / "model.py"
    model.write_text(model.read_text() + "\n# a code-only change\n")
    after = render(truss)
    changed = {
        p
        for p in before.files.keys() | after.files.keys()
        if before.files.get(p) != after.files.get(p)
    }
    assert changed == {"app/code/model/model.py"}
    assert before.context_hash != after.context_hash


def test_layers_are_ordered_for_the_cache() -> None:
    titles = _titles("image-docker-server")
    order = [
        "system packages",
        "trussd server environment",
        "non-root user",
        "user requirements",
        "build_commands[0]",
        "model code",
        "config",
    ]
    positions = [next(i for i, t in enumerate(titles) if t.startswith(name)) for name in order]
    assert positions == sorted(positions)
    custom = _titles("image-custom")
    assert custom.index("bundled packages") < custom.index("data") < custom.index("model code")
    assert custom.index("model code") < custom.index("config")


def test_no_secret_value_reaches_the_context() -> None:
    context = render("image-secrets")
    assert all(b"sk-live-7f3a9c2e" not in data for data in context.files.values())
    copied = YAML(typ="safe").load(context.files["app/config.yaml"])
    assert copied["secrets"] == {"api_key": None}
    assert "sk-live" not in " ".join(context.labels.values())
    assert any("secret `api_key`" in w for w in context.warnings)
    # comments of config.yaml survive the scrub
    assert b"# A value that should never" in context.files["app/config.yaml"]


def test_build_secrets_only_through_secret_mounts() -> None:
    context = render("image-docker-server")
    text = context.dockerfile
    assert context.secret_ids == ("pip_token",)
    assert "--mount=type=secret,id=pip_token,target=/run/secrets/pip_token" in text
    assert not re.search(r"^(ARG|ENV)\b.*pip_token", text, re.M)
    for step in context.steps:
        if step.title == "user requirements" or step.title.startswith("build_commands"):
            assert "--mount=type=secret,id=trussd-ca" in step.instruction


def test_runs_as_non_root_with_a_readiness_check_and_labels() -> None:
    context = render("image-custom")
    users = re.findall(r"^USER (\S+)", context.dockerfile, re.M)
    assert users == ["root", "60000:60000"]  # root only while building
    assert "/v1/models/model" in next(
        s.instruction for s in context.steps if s.title == "readiness check"
    )
    assert context.labels["dev.trussd.config-hash"] == context.spec.config_hash
    assert context.labels["dev.trussd.version"]
    server = render("image-docker-server")
    assert re.findall(r"^USER (\S+)", server.dockerfile, re.M)[-1] == "1001:1001"


def test_the_server_command_is_trussd_serve() -> None:
    text = render("image-vllm").dockerfile
    assert (
        'CMD ["/opt/trussd/bin/trussd", "serve", "/app", "--host", "0.0.0.0", "--port", "8080"]'
        in text
    )
    assert "ENTRYPOINT []" in text  # the engine image's own entrypoint must not wrap ours


@pytest.mark.parametrize(
    ("fixture", "engine"),
    [
        ("image-vllm", "vllm"),
        ("image-sglang", "sglang"),
        ("image-trtllm", "trtllm"),
    ],
)
def test_engine_trusses_build_on_the_pinned_official_image(fixture: str, engine: str) -> None:
    context = render(fixture)
    image, python = ENGINE_IMAGES[engine]
    assert context.dockerfile.count(f"FROM {image}\n") == 1
    assert f'TRUSSD_{engine.upper()}_PYTHON="{python}"' in context.dockerfile
    override = render(fixture, ContextOptions(base_image="registry.local/engine:dev"))
    assert "FROM registry.local/engine:dev\n" in override.dockerfile


def test_cpu_engine_gets_its_own_environment() -> None:
    context = render("image-cpu-engine")
    step = next(s for s in context.steps if s.title == "CPU engine environment")
    assert "torch==2.13.0" in step.instruction
    assert "download.pytorch.org/whl/cpu" in step.instruction
    assert 'TRUSSD_TRANSFORMERS_PYTHON="/opt/engine/bin/python"' in context.dockerfile


def test_weights_are_left_out_unless_baked() -> None:
    plain = render("image-cpu-engine")
    assert not any(p.startswith("app/weights/") for p in plain.files)
    assert plain.labels["dev.trussd.weights"] == "mount:/app/weights"
    assert any("--bake-weights" in w for w in plain.warnings)
    baked = render("image-cpu-engine", ContextOptions(bake_weights=True))
    assert "app/weights/weights/config.json" in baked.files
    assert baked.labels["dev.trussd.weights"] == "baked"
    titles = [s.title for s in baked.steps]
    assert titles.index("weights") < titles.index("config")


def test_requirement_clashes_are_named_before_the_build() -> None:
    context = render("image-secrets")
    assert [c.package for c in context.clashes] == ["pydantic"]
    assert any("`pydantic`" in w and "2.14.4" in w for w in context.warnings)
    assert render("image-custom").clashes == []


def test_ignored_files_stay_out(tmp_path: Path) -> None:
    truss = copy_fixture("image-custom", tmp_path)
    (truss / "model" / "__pycache__").mkdir()
    (truss / "model" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"x")
    (truss / "notes.tmp").write_text("scratch")
    (truss / ".trussdignore").write_text("# scratch files\n*.tmp\n")
    files = render(truss).files
    assert not any("__pycache__" in p or p.endswith(".tmp") or "trussdignore" in p for p in files)


def test_python_older_than_the_server_needs_is_refused(tmp_path: Path) -> None:
    truss = copy_fixture("image-custom", tmp_path)
    config = truss / "config.yaml"
    config.write_text(config.read_text().replace("py311", "py310"))
    with pytest.raises(BuildError) as caught:
        render(truss)
    assert caught.value.hint
    assert "py311" in caught.value.hint


def test_docker_server_no_build_has_nothing_to_build(tmp_path: Path) -> None:
    truss = copy_fixture("image-docker-server", tmp_path)
    config = truss / "config.yaml"
    config.write_text(config.read_text().replace("  run_as_user_id: 1001", "  no_build: true"))
    with pytest.raises(BuildError, match="no_build"):
        render(truss)


def test_pyproject_requirements_file(tmp_path: Path) -> None:
    truss = copy_fixture("image-bad-build-command", tmp_path)
    (truss / "pyproject.toml").write_text(
        '[project]\nname = "m"\nversion = "1"\ndependencies = ["six>=1.16"]\n'
    )
    config = truss / "config.yaml"
    config.write_text(config.read_text() + "requirements_file: pyproject.toml\n")
    assert render(truss).files["user/requirements.txt"] == b"six>=1.16\n"
    (truss / "uv.lock").write_text("version = 1\n")
    config.write_text(config.read_text().replace("pyproject.toml", "uv.lock"))
    with pytest.raises(BuildError, match=r"uv\.lock"):
        render(truss)


def test_write_context_keeps_executable_bits(tmp_path: Path) -> None:
    truss = copy_fixture("image-docker-server", tmp_path)
    (truss / "start.sh").write_text("#!/bin/sh\nexec python3 server.py\n")
    (truss / "start.sh").chmod(0o755)
    context = render(truss)
    out = write_context(context, tmp_path / "ctx")
    assert os.access(out / "app/code/start.sh", os.X_OK)
    assert not os.access(out / "app/code/server.py", os.X_OK)
    assert (out / "Dockerfile").read_text() == context.dockerfile
    with pytest.raises(BuildError, match="not empty"):
        write_context(context, out)


def test_failure_text_maps_back_to_its_step() -> None:
    context = render("image-bad-build-command")
    reported = next(s for s in context.steps if s.title.startswith("build_commands[1]")).instruction
    # buildah echoes the instruction on one line; BuildKit may cut it short
    step = find_step(context.steps, reported.replace("\\\n", " "))
    assert step is not None
    assert "build_commands[1]" in step.hint
    step = find_step(context.steps, reported.replace("\\\n", " ")[:-4] + "...")
    assert step is not None
    assert "build_commands[1]" in step.hint


def test_render_uses_the_running_trussd_by_default() -> None:
    spec = load_truss(Path(__file__).parents[1] / "fixtures" / "image-custom")
    real = render_context(spec)
    assert real.files != render_context(spec, server=FAKE_SERVER).files
    assert any(p.endswith(".whl") for p in real.files)


def test_external_package_dirs_land_where_the_server_looks(tmp_path: Path) -> None:
    truss = copy_fixture("image-custom", tmp_path)
    shared = tmp_path / "shared" / "extlib"
    shared.mkdir(parents=True)
    (shared / "__init__.py").write_text("VALUE = 1\n")
    config = truss / "config.yaml"
    config.write_text(config.read_text() + "external_package_dirs:\n  - ../shared\n")
    context = render(truss)
    assert context.files["external/0/extlib/__init__.py"] == b"VALUE = 1\n"
    # the server resolves ../shared against /app
    assert "COPY external/0/ /shared/" in context.dockerfile
