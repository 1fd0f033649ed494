"""A serving process's entry: a truss folder in, the server in the foreground, an exit code out.

Two callers run it: ``trussd serve`` (the click command parses its options, then calls
``serve_truss``) and the control plane's zygote, whose forked replicas get the same argv
``trussd serve`` takes and call ``serve_argv``, so a replica never imports the CLI. Errors a
user can fix are printed, with their diagnostics or hint, and end the process with code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from trussd.errors import ConfigError, TrussdError

__all__ = ["serve_argv", "serve_parser", "serve_truss"]


def serve_truss(
    truss_dir: Path, host: str, port: int, overrides: Mapping[str, object] | None = None
) -> int:
    """Load the truss and serve it until a signal; 1 (after saying why) if it cannot start."""
    from trussd.config import load_truss
    from trussd.server.serve import run_server
    from trussd.server.settings import ServerSettings

    try:
        spec = load_truss(truss_dir)
        run_server(spec, host, port, ServerSettings.model_validate(dict(overrides or {})))
    except ConfigError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        for diagnostic in exc.diagnostics:
            render = getattr(diagnostic, "render", None)
            line = render() if callable(render) else str(diagnostic)
            if line not in exc.message:  # load_truss's message already lists its problems
                print(f"  {line}", file=sys.stderr, flush=True)
        return 1
    except TrussdError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        if exc.hint:
            print(f"  fix: {exc.hint}", file=sys.stderr, flush=True)
        return 1
    return 0


def serve_parser() -> argparse.ArgumentParser:
    """The options of ``trussd serve``, for a process that has argv but no CLI."""
    parser = argparse.ArgumentParser(prog="trussd serve")
    parser.add_argument("truss_dir", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--predict-concurrency", type=int, default=None)
    for flag, negated in (("json-logs", "text-logs"), ("access-log", "no-access-log")):
        dest = flag.replace("-", "_")
        parser.add_argument(f"--{flag}", dest=dest, action="store_const", const=True)
        parser.add_argument(f"--{negated}", dest=dest, action="store_const", const=False)
    return parser


def serve_argv(argv: Sequence[str]) -> int:
    """``trussd serve``'s argv (without the command name) → ``serve_truss``'s exit code."""
    args = serve_parser().parse_args(list(argv))
    if not args.truss_dir.is_dir():
        print(f"error: {args.truss_dir} is not a directory", file=sys.stderr, flush=True)
        return 2
    overrides = {
        name: value
        for name in ("predict_concurrency", "json_logs", "access_log")
        if (value := getattr(args, name)) is not None
    }
    return serve_truss(args.truss_dir, args.host, args.port, overrides)
