"""The Dockerfile of a truss, as a list of named steps, ordered for the layer cache.

    base image
    └─ system packages            (apt; changes rarely)
       └─ trussd's server env     /opt/trussd: trussd + its pinned deps, nothing of the user's
          └─ [engine env]         /opt/engine: the CPU engine (transformers) only
             └─ non-root user
                └─ user env       /opt/app-venv: the truss's requirements (sees the base's packages)
                   └─ build_commands, one RUN each
                      └─ [weights, with --bake-weights]
                         └─ bundled packages → data → model code → config.yaml (changes most)

The server runs ``/opt/trussd/bin/trussd serve /app``. Its interpreter finds its own packages
first and the user's after them (a ``.pth`` file adds the user's folders at the end of
``sys.path``), so no requirement of the user's can replace a package the server needs; the
model imports its own packages from the user env. Packages in both with different versions are
named at build time (``trussd.deploy.image.clash_check``).

Network steps source ``env.sh``, which trusts the ``--ca-cert`` bundle when it was given; that
bundle and every build secret arrive as ``RUN --mount=type=secret`` mounts, never in a layer.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

import trussd
from trussd.config.spec import TrussKind, TrussSpec
from trussd.deploy.image.bases import CPU_ENGINE_VENV, BaseChoice
from trussd.deploy.image.files import TrussFiles
from trussd.deploy.image.steps import Step

__all__ = [
    "APP_DIR",
    "CA_SECRET_ID",
    "ENV_SH",
    "LABEL_PREFIX",
    "SERVER_PORT",
    "SERVER_VENV",
    "USER_VENV",
    "Recipe",
    "labels",
    "render_dockerfile",
    "render_steps",
    "server_command",
]

APP_DIR = "/app"
SERVER_VENV = "/opt/trussd"
USER_VENV = "/opt/app-venv"
BUILD_DIR = "/opt/trussd-build"
SERVER_PORT = 8080
DEFAULT_UID = 60000
CA_SECRET_ID = "trussd-ca"
LABEL_PREFIX = "dev.trussd."
_CA_MOUNT = f"--mount=type=secret,id={CA_SECRET_ID},target=/run/secrets/{CA_SECRET_ID}"
_CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"

ENV_SH = f"""\
# Sourced by trussd's network RUN steps. A CA bundle given with `--ca-cert` arrives as the build
# secret `{CA_SECRET_ID}` (never stored in a layer); the tools that fetch over TLS trust it.
if [ -s /run/secrets/{CA_SECRET_ID} ]; then
  ca=/run/secrets/{CA_SECRET_ID}
  export PIP_CERT=$ca SSL_CERT_FILE=$ca REQUESTS_CA_BUNDLE=$ca CURL_CA_BUNDLE=$ca \\
    GIT_SSL_CAINFO=$ca NODE_EXTRA_CA_CERTS=$ca UV_NATIVE_TLS=1
fi

# The server's interpreter sees the user's packages after its own: one `.pth` line per folder
# of the user env (site.addsitedir also runs the .pth files found there).
trussd_link_user_env() {{
  purelib=$({SERVER_VENV}/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  {USER_VENV}/bin/python -c 'import sys
for p in sys.path:
    if p.endswith(("site-packages", "dist-packages")):
        print(f"import site; site.addsitedir({{p!r}})")' > "$purelib/zz-trussd-user-env.pth"
}}
"""


@dataclass(frozen=True)
class Recipe:
    """What the steps need besides the spec: decided once by the context renderer."""

    base: BaseChoice
    files: TrussFiles
    wheel_name: str
    requirements: tuple[str, ...]
    engine_requirements: tuple[str, ...] = ()
    user_secrets: tuple[tuple[str, str], ...] = ()  # (secret id, path) mounted for user steps


def _run(*commands: str, mounts: tuple[str, ...] = (_CA_MOUNT,)) -> str:
    head = "RUN " + "".join(f"{m} \\\n    " for m in mounts)
    return head + " && \\\n    ".join(commands)


def _uid(spec: TrussSpec) -> int:
    server = spec.config.docker_server
    if server is not None and server.run_as_user_id is not None:
        return server.run_as_user_id
    return DEFAULT_UID


def _header(spec: TrussSpec, recipe: Recipe) -> list[Step]:
    base = recipe.base
    env = {
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
        "PIP_PROGRESS_BAR": "off",
        "DEBIAN_FRONTEND": "noninteractive",
    }
    steps = [
        Step(
            "base image",
            f"FROM {base.image}",
            f"`{base.image}` is neither here nor pullable: check its name and tag (config.yaml "
            "`base_image.image` or --base-image), log in to its registry, or build it first "
            "(a local Python base: `make base-image`)",
            comment=f"base: {base.reason}",
        ),
    ]
    # A base image may end as a non-root user (engine images, a user's own); the build steps
    # need root. Every kind has this step, so kinds built on one base share their first layers.
    steps.append(Step("build as root", "USER root"))
    steps.append(Step("build environment", _env_instruction(env)))
    steps.append(Step("build helpers", f"COPY trussd-build/env.sh {BUILD_DIR}/env.sh"))
    return steps


def _env_instruction(values: dict[str, str]) -> str:
    pairs = [f"{key}={json.dumps(value)}" for key, value in values.items()]
    return "ENV " + " \\\n    ".join(pairs)


def _system(spec: TrussSpec) -> list[Step]:
    steps = []
    packages = spec.config.system_packages
    if packages:
        names = " ".join(shlex.quote(p) for p in packages)
        steps.append(
            Step(
                "system packages",
                _run(
                    "apt-get update",
                    f"apt-get install -y --no-install-recommends {names}",
                    "rm -rf /var/lib/apt/lists/*",
                    mounts=(),
                ),
                "check the names in `system_packages` (Debian/Ubuntu package names; `apt-cache "
                "search NAME` finds them) and that the base image uses apt",
                comment="system packages (apt)",
            )
        )
    return steps


def _account(uid: int) -> list[Step]:
    home = "/home/trussd"
    return [
        Step(
            "non-root user",
            _run(
                f"(getent passwd {uid} >/dev/null"
                f" || useradd --uid {uid} --user-group --no-create-home --home-dir {home} trussd"
                f" || echo 'trussd:x:{uid}:{uid}::{home}:/bin/sh' >> /etc/passwd)",
                f"mkdir -p {home} /cache",
                f"chown {uid}:{uid} {home} /cache",
                mounts=(),
            ),
            "the base image needs a POSIX shell and a writable /etc/passwd",
            comment=f"the user the server runs as (uid {uid}, not root)",
        )
    ]


def _server_env(spec: TrussSpec, recipe: Recipe) -> list[Step]:
    python = shlex.quote(recipe.base.python)
    steps = [
        Step(
            "trussd server files",
            f"COPY trussd-build/server/ {BUILD_DIR}/server/",
            comment="trussd's server in its own environment: user requirements cannot break it",
        ),
        Step(
            "trussd server environment",
            _run(
                f". {BUILD_DIR}/env.sh",
                f"{python} -m venv {SERVER_VENV}",
                f"{SERVER_VENV}/bin/python -m pip install --quiet --constraint "
                f"{BUILD_DIR}/server/constraints.txt {BUILD_DIR}/server/{recipe.wheel_name}",
            ),
            f"trussd's server needs Python ≥ 3.11 with the venv module at {recipe.base.python} "
            "in the base image (set `base_image.python_executable_path`, or add `python3-venv` to "
            "`system_packages`); behind a TLS-intercepting proxy pass `--ca-cert FILE`",
        ),
    ]
    if recipe.engine_requirements:
        reqs = " ".join(shlex.quote(r) for r in recipe.engine_requirements)
        steps.append(
            Step(
                "CPU engine environment",
                _run(
                    f". {BUILD_DIR}/env.sh",
                    f"{python} -m venv {CPU_ENGINE_VENV}",
                    f"{CPU_ENGINE_VENV}/bin/python -m pip install --quiet --extra-index-url "
                    f"{_CPU_TORCH_INDEX} {reqs}",
                ),
                "the CPU build of torch comes from download.pytorch.org; the build needs to reach "
                "it (behind a proxy pass `--ca-cert FILE`)",
                comment="the CPU engine (transformers serve) in its own environment",
            )
        )
    return steps


def _user_env(spec: TrussSpec, recipe: Recipe) -> list[Step]:
    python = shlex.quote(recipe.base.python)
    mounts = (_CA_MOUNT, *_secret_mounts(recipe))
    commands = [f". {BUILD_DIR}/env.sh", f"{python} -m venv --system-site-packages {USER_VENV}"]
    steps = []
    if recipe.requirements:
        steps.append(
            Step(
                "user requirements file",
                f"COPY user/requirements.txt {BUILD_DIR}/user/requirements.txt",
                comment="the truss's requirements in the user env",
            )
        )
        commands.append(
            f"{USER_VENV}/bin/python -m pip install -r {BUILD_DIR}/user/requirements.txt"
        )
    if spec.kind is TrussKind.CUSTOM:
        # Only a Model class runs inside the server's process; engines and custom servers run
        # as processes of their own.
        commands += [
            "trussd_link_user_env",
            f"{SERVER_VENV}/bin/python -m trussd.deploy.image.clash_check",
        ]
    steps.append(
        Step(
            "user requirements",
            _run(*commands, mounts=mounts),
            "a requirement failed to install: check the names and versions in config.yaml "
            "`requirements` (or `requirements_file`) against the log below; system libraries they "
            "build against go in `system_packages`",
        )
    )
    steps.append(Step("user env on PATH", f'ENV PATH="{USER_VENV}/bin:$PATH"'))
    return steps


def _secret_mounts(recipe: Recipe) -> tuple[str, ...]:
    return tuple(
        f"--mount=type=secret,id={sid},target={shlex.quote(path)}"
        for sid, path in recipe.user_secrets
    )


def _build_commands(spec: TrussSpec, recipe: Recipe) -> list[Step]:
    mounts = (_CA_MOUNT, *_secret_mounts(recipe))
    steps = []
    for index, command in enumerate(spec.config.build_commands):
        steps.append(
            Step(
                f"build_commands[{index}]: {command}",
                _run(f". {BUILD_DIR}/env.sh", command, mounts=mounts),
                f"fix `build_commands[{index}]` in config.yaml (`{command}`); it runs as root with "
                f"`sh -c` in the user env",
                comment=f"build_commands[{index}]",
            )
        )
    return steps


def _copy(title: str, layer: str, present: bool, comment: str = "") -> list[Step]:
    if not present:
        return []
    return [Step(title, f"COPY app/{layer}/ {APP_DIR}/", comment=comment)]


def _app(spec: TrussSpec, recipe: Recipe) -> list[Step]:
    files = recipe.files
    steps = _copy("weights", "weights", bool(files.weights), "weights, baked (--bake-weights)")
    for index, target in enumerate(sorted(files.external)):
        steps.append(Step(f"external packages {target}", f"COPY external/{index}/ {target}/"))
    steps += _copy("bundled packages", "packages", bool(files.packages))
    steps += _copy("data", "data", bool(files.data))
    steps += _copy("model code", "code", bool(files.code), "model code")
    steps.append(
        Step("config", f"COPY app/config.yaml {APP_DIR}/config.yaml", comment="config last")
    )
    return steps


def _runtime_env(spec: TrussSpec, recipe: Recipe) -> dict[str, str]:
    env = {
        "HOME": "/home/trussd",
        "XDG_CACHE_HOME": "/cache",
        "HF_HOME": "/cache/huggingface",
    }
    base = recipe.base
    if base.engine is not None and base.engine_python is not None:
        env[f"TRUSSD_{base.engine.upper()}_PYTHON"] = base.engine_python
    # The user's own variables last, so they may override a default.
    env.update(spec.config.environment_variables)
    return env


def labels(spec: TrussSpec, recipe: Recipe) -> dict[str, str]:
    """The image's labels: who built it from what; never a secret."""
    files = recipe.files
    weights = (
        "baked"
        if files.weights
        else (f"mount:{APP_DIR}/{files.weights_left_out}" if files.weights_left_out else "none")
    )
    result = {
        "org.opencontainers.image.title": spec.model_name,
        f"{LABEL_PREFIX}version": trussd.__version__,
        f"{LABEL_PREFIX}config-hash": spec.config_hash,
        f"{LABEL_PREFIX}kind": spec.kind.value,
        f"{LABEL_PREFIX}weights": weights,
    }
    if recipe.base.engine:
        result[f"{LABEL_PREFIX}engine"] = recipe.base.engine
    return result


def server_command(port: int = SERVER_PORT, host: str = "0.0.0.0") -> list[str]:
    return [f"{SERVER_VENV}/bin/trussd", "serve", APP_DIR, "--host", host, "--port", str(port)]


def _tail(spec: TrussSpec, recipe: Recipe) -> list[Step]:
    uid = _uid(spec)
    probe = (
        "import urllib.request; urllib.request.urlopen("
        f"'http://127.0.0.1:{SERVER_PORT}/v1/models/model', timeout=4)"
    )
    health = json.dumps([f"{SERVER_VENV}/bin/python", "-c", probe])
    label_text = "LABEL " + " \\\n      ".join(
        f"{key}={json.dumps(value)}" for key, value in labels(spec, recipe).items()
    )
    return [
        Step("runtime environment", _env_instruction(_runtime_env(spec, recipe))),
        Step("labels", label_text),
        Step("working directory", f"WORKDIR {APP_DIR}"),
        Step("user", f"USER {uid}:{uid}"),
        Step("port", f"EXPOSE {SERVER_PORT}"),
        Step(
            "readiness check",
            f"HEALTHCHECK --interval=15s --timeout=5s --start-period={spec.startup_seconds}s "
            f"--retries=3 \\\n    CMD {health}",
            comment="healthy once the model is ready (readiness, GET /v1/models/model)",
        ),
        Step("entrypoint", "ENTRYPOINT []"),
        Step("command", f"CMD {json.dumps(server_command())}"),
    ]


def render_steps(spec: TrussSpec, recipe: Recipe) -> list[Step]:
    """Every instruction of the Dockerfile, in order."""
    return [
        *_header(spec, recipe),
        *_system(spec),
        *_server_env(spec, recipe),
        # after the server env, which needs no user: trusses that differ only in the uid
        # (docker_server.run_as_user_id) still share that layer
        *_account(_uid(spec)),
        *_user_env(spec, recipe),
        *_build_commands(spec, recipe),
        *_app(spec, recipe),
        *_tail(spec, recipe),
    ]


def render_dockerfile(spec: TrussSpec, steps: list[Step]) -> str:
    head = [
        "# syntax=docker/dockerfile:1",
        f"# Rendered by trussd {trussd.__version__} for `{spec.model_name}`"
        f" ({spec.kind.value} truss).",
        "# Do not edit: change config.yaml and run `trussd image build-context` again.",
    ]
    return "\n".join(head) + "\n" + "\n\n".join(step.render() for step in steps) + "\n"
