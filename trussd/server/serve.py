"""Run the app under uvicorn in the foreground: uvloop and httptools where installed, our
own listening socket (so ``port=0`` works and the real port is logged), and a graceful
drain of in-flight requests on SIGTERM/SIGINT, after which the process exits 0 (uvicorn
would re-raise the signal and end with status -15, which supervisors read as a crash)."""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import logging
import socket
from collections.abc import Generator

import uvicorn

from trussd.config.spec import TrussSpec
from trussd.errors import TrussdError
from trussd.server.app import create_app
from trussd.server.logs import configure_logging
from trussd.server.settings import ServerSettings

__all__ = ["bind_socket", "run_server"]

logger = logging.getLogger("trussd.server")


class _DrainingServer(uvicorn.Server):
    """A signal starts the graceful drain; once drained, the process ends normally."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            try:
                yield
            finally:
                if self._captured_signals:
                    logger.info("drained; exiting")
                self._captured_signals.clear()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready socket on host:port; a port in use or an unknown host is a
    ``TrussdError`` with the fix, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):
            raise TrussdError(
                f"cannot listen on {host}:{port}: unknown host `{host}`",
                hint="pass --host an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
            ) from exc
        hint = "pick another --port (0 picks a free one)"
        if exc.errno == errno.EADDRNOTAVAIL:
            hint = "pass --host an address of this machine, e.g. 127.0.0.1 or 0.0.0.0"
        raise TrussdError(f"cannot listen on {host}:{port}: {exc.strerror}", hint=hint) from exc
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
    sock = bind_socket(host, port)  # first: a taken port fails before the model is imported
    debug = spec.config.runtime.enable_debug_logs
    configure_logging(json_logs=settings.json_logs, level=logging.DEBUG if debug else logging.INFO)
    try:
        app = create_app(spec, settings)
    except BaseException:
        sock.close()
        raise
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
    _DrainingServer(config).run(sockets=[sock])
