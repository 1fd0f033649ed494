"""``attach_engine(app, ctx, spec)``: serve an ENGINE or DOCKER_SERVER truss through its engine.

``create_app`` calls it for those kinds. It chooses the backend (``select_backend``), plans
the engine's process, and wires it into the app through the ``ServerContext``:

- routes: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``, ``GET /v1/models``
  proxied to the engine (``engine_proxy``), and ``/predict`` (+ ``/v1/models/model:predict``)
  forwarded to chat completions, or to a docker_server's ``predict_endpoint``;
- startup/shutdown hooks that start and stop the ``EngineSupervisor`` and the shared client;
- a readiness hook: ready only while the engine is READY (503 with its state otherwise);
- ``trussd_engine_*`` metrics in the app's registry, scraped from the engine when it has
  ``/metrics``, measured at the front otherwise.

An engine batches requests itself, so unless ``runtime.predict_concurrency`` (or the server
setting) is given, the gate lets ``ENGINE_DEFAULT_CONCURRENCY`` requests through at once
instead of Truss's default of 1, which would serialise the engine.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from starlette.routing import Route

from trussd.backends.base import Backend, LaunchPlan
from trussd.backends.engine_metrics import EngineMetrics, scrape_loop
from trussd.backends.registry import get_backend
from trussd.backends.selection import Selection, select_backend
from trussd.backends.state import EngineState
from trussd.backends.supervisor import EngineSupervisor, RestartPolicy, engine_environment
from trussd.config.spec import TrussKind, TrussSpec
from trussd.model_wrapper.state import ModelState
from trussd.server.context import Readiness, ServerContext
from trussd.server.engine_proxy import EngineProxy, PredictEndpoint, ProxyEndpoint

__all__ = ["ENGINE_DEFAULT_CONCURRENCY", "EngineFront", "attach_engine"]

logger = logging.getLogger("trussd.server")

ENGINE_DEFAULT_CONCURRENCY = 256
_OPENAI_POST = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
_MODEL_STATE = {
    EngineState.STOPPED: ModelState.STOPPED,
    EngineState.STARTING: ModelState.LOADING,
    EngineState.READY: ModelState.READY,
    EngineState.RESTARTING: ModelState.UNHEALTHY,
    EngineState.FAILED: ModelState.LOAD_FAILED,
}


@dataclass(frozen=True)
class EngineFront:
    """What ``attach_engine`` set up (on ``app.state.engine``; tests and the CLI read it)."""

    selection: Selection
    backend: Backend
    plan: LaunchPlan
    supervisor: EngineSupervisor
    metrics: EngineMetrics
    proxy: EngineProxy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _startup_timeout(spec: TrussSpec) -> float:
    if spec.kind is TrussKind.DOCKER_SERVER or spec.engine is None:
        configured = spec.config.runtime.health_checks.startup_threshold_seconds
        return float(configured) if configured else 900.0
    return float(spec.engine.startup_timeout_seconds)


def _widen_gate(ctx: ServerContext, spec: TrussSpec) -> None:
    explicit = "predict_concurrency" in spec.config.runtime.model_fields_set
    if not explicit and ctx.settings.predict_concurrency is None:
        ctx.predict_concurrency = ENGINE_DEFAULT_CONCURRENCY
        ctx.gate.limit = ENGINE_DEFAULT_CONCURRENCY


def _route(app: FastAPI, path: str, endpoint: ProxyEndpoint, method: str) -> None:
    # A Route whose endpoint is not a function runs it as a plain ASGI app: no request
    # parsing or response wrapping on the hot path.
    app.router.routes.append(Route(path, endpoint, methods=[method]))


def _add_routes(app: FastAPI, proxy: EngineProxy, docker_server: bool) -> None:
    for path in _OPENAI_POST:
        _route(app, path, ProxyEndpoint(proxy, path), "POST")
    _route(app, "/v1/models", ProxyEndpoint(proxy, "/v1/models", method="GET"), "GET")
    if docker_server:
        predict: ProxyEndpoint = ProxyEndpoint(
            proxy, proxy.plan.predict_path, openai=False, json_body=False
        )
    else:
        predict = PredictEndpoint(proxy, "/v1/chat/completions", openai=False)
    for path in ("/predict", "/v1/models/model:predict"):
        _route(app, path, predict, "POST")


def _add_hooks(ctx: ServerContext, front: EngineFront) -> None:
    supervisor, proxy, metrics = front.supervisor, front.proxy, front.metrics

    # Set when the engine turns READY: the scrape loop reads its metrics at once.
    scrape_now = asyncio.Event()

    def on_state(state: EngineState) -> None:
        metrics.state = state
        metrics.restarts = supervisor.restarts
        if state is EngineState.READY:
            scrape_now.set()
        else:
            metrics.clear()
        ctx.metrics.set_model_state(_MODEL_STATE[state])

    supervisor.on_state(on_state)
    scrapers: list[httpx.AsyncClient] = []

    async def start() -> None:
        await proxy.open_client()
        logger.info("engine: %s", front.selection.summary)
        supervisor.start()
        if front.plan.metrics_path:
            scraper = httpx.AsyncClient(base_url=front.plan.base_url)
            scrapers.append(scraper)
            ready = lambda: supervisor.state is EngineState.READY  # noqa: E731
            ctx.spawn(
                scrape_loop(scraper, front.plan.metrics_path, metrics, ready, wake=scrape_now),
                name="trussd-engine-metrics",
            )

    async def stop() -> None:
        await supervisor.stop()
        await proxy.close_client()
        for scraper in scrapers:
            await scraper.aclose()

    async def ready() -> Readiness:
        state = supervisor.state
        return Readiness(state is EngineState.READY, state.value, supervisor.last_error)

    ctx.on_startup(start)
    ctx.on_shutdown(stop)
    ctx.add_readiness_hook("engine", ready)


def attach_engine(app: FastAPI, ctx: ServerContext, spec: TrussSpec) -> EngineFront:
    """Wire the engine of ``spec`` into ``app``. Raises EngineNotInstalled / ConfigError now,
    at start, rather than on the first request."""
    # httpx logs every request at INFO: health checks and metric scrapes would fill the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    selection = select_backend(spec)
    backend = get_backend(selection.backend)
    backend.check_installed()
    docker_server = spec.kind is TrussKind.DOCKER_SERVER
    plan = backend.plan(spec, 0 if docker_server else _free_port())
    supervisor = EngineSupervisor(
        plan,
        name=selection.backend,
        env=engine_environment(spec, plan),
        policy=RestartPolicy(startup_timeout=_startup_timeout(spec)),
    )
    metrics = EngineMetrics(backend.metric_names())
    ctx.metrics.registry.register(metrics)
    proxy = EngineProxy(ctx, backend, plan, supervisor, metrics, map_names=not docker_server)
    front = EngineFront(selection, backend, plan, supervisor, metrics, proxy)
    _widen_gate(ctx, spec)
    _add_routes(app, proxy, docker_server)
    _add_hooks(ctx, front)
    app.state.engine = front
    return front
