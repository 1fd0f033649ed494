"""Run the app under uvicorn in the foreground: uvloop and httptools where installed, our
own listening socket (so ``port=0`` works and the real port is logged), and a graceful
drain of in-flight requests on SIGTERM/SIGINT."""

from __future__ import annotations

import importlib.util
import logging
import socket

import uvicorn

from trussd.config.spec import TrussSpec
from trussd.server.app import create_app
from trussd.server.logs import configure_logging
from trussd.server.settings import ServerSettings

__all__ = ["bind_socket", "run_server"]

logger = logging.getLogger("trussd.server")


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _loop_and_http() -> tuple[str, str]:
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return loop, http


def run_server(
    spec: TrussSpec,
    host: str = "127.0.0.1",
    port: int = 8080,
    settings: ServerSettings | None = None,
) -> None:
    settings = settings or ServerSettings()
    debug = spec.config.runtime.enable_debug_logs
    configure_logging(json_logs=settings.json_logs, level=logging.DEBUG if debug else logging.INFO)
    app = create_app(spec, settings)
    loop, http = _loop_and_http()
    config = uvicorn.Config(
        app,
        loop=loop,
        http=http,
        lifespan="on",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.drain_timeout_seconds),
        timeout_keep_alive=75,
        server_header=False,
    )
    sock = bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    logger.info(
        "trussd serving %s on http://%s:%d (loop %s, http %s, predict_concurrency %d)",
        spec.model_name,
        bound_host,
        bound_port,
        loop,
        http,
        app.state.ctx.predict_concurrency,
    )
    uvicorn.Server(config).run(sockets=[sock])
