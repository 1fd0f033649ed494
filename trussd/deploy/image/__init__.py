"""The serving image: a truss → a build context (pure) → an OCI image → a running server.

render_context(spec)   → BuildContext (Dockerfile + files, deterministic, hashable)
detect_builder(choice) → Builder (docker | podman | buildah)
build_image(ctx, b)    → BuildResult, or BuildError naming the failed step and its fix
plan_run(tag, port)    → RunPlan; run_image(plan) serves in the foreground
"""

from trussd.deploy.image.bases import ENGINE_IMAGES, BaseChoice, choose_base
from trussd.deploy.image.build import BuildEvent, BuildResult, build_image
from trussd.deploy.image.builders import BUILDERS, Builder, detect_builder
from trussd.deploy.image.context import BuildContext, ContextOptions, render_context, write_context
from trussd.deploy.image.runner import RUNTIMES, RunPlan, plan_run, run_image
from trussd.deploy.image.steps import Step

__all__ = [
    "BUILDERS",
    "ENGINE_IMAGES",
    "RUNTIMES",
    "BaseChoice",
    "BuildContext",
    "BuildEvent",
    "BuildResult",
    "Builder",
    "ContextOptions",
    "RunPlan",
    "Step",
    "build_image",
    "choose_base",
    "detect_builder",
    "plan_run",
    "render_context",
    "run_image",
    "write_context",
]
