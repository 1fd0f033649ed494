"""A truss → its build context: the Dockerfile and every file the build copies, in memory.

Rendering is pure: it reads the truss and the running trussd, writes nothing, starts nothing.
The same truss with the same trussd gives the same bytes, hence the same ``context_hash``
(files sorted, fixed timestamps in the server wheel, no dates or absolute host paths).
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from trussd.config.spec import TrussKind, TrussSpec
from trussd.deploy.image.bases import choose_base
from trussd.deploy.image.dockerfile import ENV_SH, Recipe, labels, render_dockerfile, render_steps
from trussd.deploy.image.files import collect_files
from trussd.deploy.image.server_env import (
    ServerEnvironment,
    engine_requirements,
    server_environment,
)
from trussd.deploy.image.steps import Step
from trussd.errors import BuildError
from trussd.model_wrapper.dependency_check import Clash, pinned_clashes

__all__ = ["BuildContext", "ContextOptions", "render_context", "write_context"]


@dataclass(frozen=True)
class ContextOptions:
    base_image: str | None = None
    bake_weights: bool = False


@dataclass
class BuildContext:
    spec: TrussSpec
    #: path in the context → bytes; ``Dockerfile`` included
    files: dict[str, bytes]
    executables: frozenset[str]
    steps: list[Step]
    labels: dict[str, str]
    #: build secret ids the steps mount (besides the CA bundle), from secret_to_path_mapping
    secret_ids: tuple[str, ...] = ()
    clashes: list[Clash] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def dockerfile(self) -> str:
        return self.files["Dockerfile"].decode()

    @property
    def context_hash(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.files):
            mode = b"x" if path in self.executables else b"-"
            data = self.files[path]
            digest.update(f"{path}\0{len(data)}\0".encode() + mode + data)
        return digest.hexdigest()

    def default_tag(self) -> str:
        name = re.sub(r"[^a-z0-9._-]+", "-", self.spec.model_name.lower()).strip("-._") or "model"
        return f"localhost/trussd-{name}:{self.context_hash[:12]}"


def _requirements(spec: TrussSpec) -> tuple[str, ...]:
    name = spec.config.requirements_file
    if not name or name.endswith(".txt"):
        return spec.requirements
    path = spec.root / name
    if path.name == "pyproject.toml":
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
        return tuple(str(dep) for dep in project.get("dependencies", []))
    raise BuildError(
        f"requirements_file `{name}` is not supported by trussd's image builder",
        step="user requirements",
        hint="use a requirements.txt or a pyproject.toml (`uv export > requirements.txt` turns a "
        "uv.lock into one)",
    )


def _warnings(spec: TrussSpec, recipe: Recipe, clashes: list[Clash]) -> list[str]:
    found = [f"clash: {clash.render()}" for clash in clashes]
    for name in recipe.files.scrubbed_secrets:
        found.append(
            f"config.yaml holds a value for secret `{name}`; the image's copy holds null "
            "(secrets are given at run time, never built in)"
        )
    if recipe.files.weights_left_out:
        found.append(
            f"weights `{recipe.files.weights_left_out}/` are not in the image; mount them at "
            f"/app/{recipe.files.weights_left_out} (`trussd image run --weights DIR`) or build "
            "with --bake-weights"
        )
    return found


def _executables(spec: TrussSpec, layer: str, paths: dict[str, bytes]) -> set[str]:
    return {f"app/{layer}/{p}" for p in paths if os.access(spec.root / p, os.X_OK)}


def render_context(
    spec: TrussSpec, options: ContextOptions | None = None, server: ServerEnvironment | None = None
) -> BuildContext:
    """The build context of ``spec``. ``server`` is a seam for tests (default: this trussd)."""
    options = options or ContextOptions()
    base = choose_base(spec, options.base_image)
    server = server or server_environment()
    files = collect_files(spec, bake_weights=options.bake_weights)
    requirements = _requirements(spec)
    secrets = tuple(sorted(spec.config.build.secret_to_path_mapping.items()))
    recipe = Recipe(
        base=base,
        files=files,
        wheel_name=server.wheel_name,
        requirements=requirements,
        engine_requirements=tuple(engine_requirements("cpu"))
        if base.engine == "transformers"
        else (),
        user_secrets=secrets,
    )
    steps = render_steps(spec, recipe)
    out: dict[str, bytes] = {
        "Dockerfile": render_dockerfile(spec, steps).encode(),
        "trussd-build/env.sh": ENV_SH.encode(),
        f"trussd-build/server/{server.wheel_name}": server.wheel,
        "trussd-build/server/constraints.txt": server.constraints().encode(),
        "app/config.yaml": files.config,
    }
    if requirements:
        out["user/requirements.txt"] = ("\n".join(requirements) + "\n").encode()
    executables: set[str] = set()
    for layer in ("weights", "packages", "data", "code"):
        content: dict[str, bytes] = getattr(files, layer)
        out.update({f"app/{layer}/{path}": data for path, data in content.items()})
        executables |= _executables(spec, layer, content)
    for index, target in enumerate(sorted(files.external)):
        out.update({f"external/{index}/{p}": data for p, data in files.external[target].items()})
    clashes = pinned_clashes(requirements, server.pins) if spec.kind is TrussKind.CUSTOM else []
    return BuildContext(
        spec=spec,
        files=dict(sorted(out.items())),
        executables=frozenset(executables),
        steps=steps,
        labels=labels(spec, recipe),
        secret_ids=tuple(sid for sid, _ in secrets),
        clashes=clashes,
        warnings=_warnings(spec, recipe, clashes),
    )


def write_context(context: BuildContext, out: str | Path) -> Path:
    """Write the context into ``out`` (created; must be empty if it exists)."""
    root = Path(out)
    if root.exists() and any(root.iterdir()):
        raise BuildError(f"{root} is not empty", hint="pass a new or empty folder")
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in context.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(0o755 if rel in context.executables else 0o644)
    return root
