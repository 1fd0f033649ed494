"""Model-server overhead: trussd vs Truss's own model server vs a bare FastAPI echo.

    .venv/bin/python benchmarks/server_overhead.py [--duration 3] [--repeats 3]

Servers run pinned to CPU 0, the load generator (wrk, and this process for time to first
byte) to CPU 1. Every measurement runs all servers back to back (interleaved) and the whole
round is repeated; the table reports medians and ratios. Truss's server is generated with
`truss image build-context` from the installed `truss` package and runs its server/main.py
without Docker from its own environment (.venvs/truss-server, created on first use from the
generated requirements.txt + constraints.txt). Needs `wrk` (apt-get install wrk).

Scenarios: a trivial echo Model (sync and async) POSTed at concurrency 1 and 32; a Model
streaming a 100-chunk generator (sync and async) at concurrency 16; time to first byte of
that stream at concurrency 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TRUSSES = Path(__file__).resolve().parent / "server_trusses"
TRUSS_VENV = ROOT / ".venvs" / "truss-server"
SERVER_CPU, CLIENT_CPU = 0, 1
BODY = '{"text": "hello world", "n": 1}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin_server() -> None:
    os.sched_setaffinity(0, {SERVER_CPU})


@dataclass(eq=False)
class Server:
    name: str  # trussd | truss | fastapi
    model: str
    port: int
    path: str
    proc: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def wait_ready(self, ready_path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name}/{self.model} exited with {self.proc.returncode}")
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{self.port}{ready_path}", timeout=2).status_code
                    == 200
                ):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}/{self.model} not ready after {timeout} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _spawn(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        preexec_fn=_pin_server,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_trussd(model: str) -> Server:
    port = free_port()
    proc = _spawn(
        [
            sys.executable,
            "-m",
            "trussd.cli.main",
            "serve",
            str(TRUSSES / model),
            "--port",
            str(port),
        ]
    )
    server = Server("trussd", model, port, "/predict", proc)
    server.wait_ready("/v1/models/model")
    return server


def ensure_truss_venv(context: Path) -> Path:
    python = TRUSS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TRUSS_VENV)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "-r",
                str(context / "requirements.txt"),
                "-c",
                str(context / "constraints.txt"),
            ],
            check=True,
        )
    return python


def truss_app_dir(model: str, work: Path) -> Path:
    """Lay out Truss's generated server the way its Dockerfile does under /app."""
    context = work / f"context-{model}"
    truss_cli = Path(sys.executable).with_name("truss")
    subprocess.run(
        [
            str(truss_cli),
            "image",
            "build-context",
            str(context),
            str(TRUSSES / model),
            "--non-interactive",
        ],
        check=True,
        capture_output=True,
    )
    app = work / f"app-{model}"
    shutil.copytree(context / "server", app)
    shutil.copytree(context / "model", app / "model")
    shutil.copy(context / "config.yaml", app / "config.yaml")
    ensure_truss_venv(context)
    return app


def start_truss(model: str, work: Path) -> Server:
    app = truss_app_dir(model, work)
    port = free_port()
    proc = _spawn(
        [str(TRUSS_VENV / "bin" / "python"), "main.py"],
        cwd=app,
        env={"INFERENCE_SERVER_PORT": str(port), "PYTHONPATH": str(app)},
    )
    server = Server("truss", model, port, "/v1/models/model:predict", proc)
    server.wait_ready("/v1/models/model")
    return server


def start_fastapi(model: str) -> Server:
    port = free_port()
    proc = _spawn(
        [sys.executable, str(Path(__file__).with_name("server_overhead_bare.py")), str(port)]
    )
    path = "/stream" if model.startswith("stream") else "/predict"
    server = Server("fastapi", model, port, path, proc)
    server.wait_ready("/docs")
    return server


# -- load -------------------------------------------------------------------------------------


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def run_wrk(url: str, concurrency: int, duration: float, script: Path) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = {"errors": 0.0}
    in_dist = False
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(words[1])
        elif "Latency Distribution" in line:
            in_dist = True
        elif in_dist and words and words[0] in ("50%", "99%"):
            result["p" + words[0][:-1]] = _ms(words[1])
        elif "Non-2xx" in line or "Socket errors" in line:
            result["errors"] += sum(float(w.strip(",")) for w in words if w.strip(",").isdigit())
    return result


def measure_ttfb(port: int, path: str, duration: float) -> dict[str, float]:
    """Time to the first body byte of a streamed response, one request at a time."""
    body = BODY.encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    firsts: list[float] = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        end = time.monotonic() + duration
        while time.monotonic() < end:
            start = time.perf_counter()
            sock.sendall(request)
            buf, first = b"", None
            while not buf.endswith(b"\r\n0\r\n\r\n"):
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("connection closed mid-stream")
                buf += data
                if first is None:
                    head = buf.find(b"\r\n\r\n")
                    if head >= 0 and len(buf) > head + 4:
                        first = time.perf_counter() - start
            assert first is not None
            firsts.append(first * 1000)
    firsts.sort()
    return {
        "p50": statistics.median(firsts),
        "p99": firsts[int(len(firsts) * 0.99) - 1],
        "n": len(firsts),
    }


# -- the run ----------------------------------------------------------------------------------

SCENARIOS = [
    ("echo-sync", 1),
    ("echo-sync", 32),
    ("echo-async", 1),
    ("echo-async", 32),
    ("stream-sync", 16),
    ("stream-async", 16),
]
TTFB = ["stream-sync", "stream-async"]
Results = dict[str, list[dict[str, float]]]


def start_all(names: list[str], work: Path) -> dict[tuple[str, str], Server]:
    """One server per (server kind, model); the bare FastAPI app serves both echo and stream."""
    servers: dict[tuple[str, str], Server] = {}
    for model in sorted({m for m, _ in SCENARIOS}):
        servers[("trussd", model)] = start_trussd(model)
        if "truss" in names:
            servers[("truss", model)] = start_truss(model, work)
    bare_echo, bare_stream = start_fastapi("echo"), start_fastapi("stream")
    for model in {m for m, _ in SCENARIOS}:
        servers[("fastapi", model)] = bare_stream if model.startswith("stream") else bare_echo
    return servers


def run_round(
    servers: dict[tuple[str, str], Server],
    names: list[str],
    duration: int,
    script: Path,
    raw: Results,
) -> None:
    for model, conc in SCENARIOS:  # interleaved: every server, then the next scenario
        for name in names:
            result = run_wrk(servers[(name, model)].url, conc, duration, script)
            raw.setdefault(f"{model} c={conc}|{name}", []).append(result)
    for model in TTFB:
        for name in names:
            server = servers[(name, model)]
            raw.setdefault(f"{model} ttfb|{name}", []).append(
                measure_ttfb(server.port, server.path, duration)
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=2, help="seconds per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-truss", action="store_true", help="leave out Truss's server")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    parser.add_argument("--table-from", type=Path, help="only print the table of a --json file")
    args = parser.parse_args()
    if args.table_from:
        raw_saved: Results = json.loads(args.table_from.read_text())
        saved_names = list(dict.fromkeys(k.split("|")[1] for k in raw_saved))
        print_table(raw_saved, [n for n in ("trussd", "fastapi", "truss") if n in saved_names])
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    os.sched_setaffinity(0, {CLIENT_CPU})
    names = ["trussd", "fastapi"] + ([] if args.skip_truss else ["truss"])
    raw: Results = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(
            f"wrk.method = 'POST'\nwrk.body = '{BODY}'\n"
            "wrk.headers['Content-Type'] = 'application/json'\n"
        )
        servers = start_all(names, Path(tmp))
        try:
            for server in set(servers.values()):  # warm up
                run_wrk(server.url, 4, 1, script)
            for rep in range(args.repeats):
                run_round(servers, names, args.duration, script, raw)
                print(f"round {rep + 1}/{args.repeats} done", file=sys.stderr)
        finally:
            for server in set(servers.values()):
                server.stop()
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    print_table(raw, names)


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _ratio(raw: Results, row: str, other: str, metric: str) -> str:
    """Median over rounds of trussd/other measured in the same round: robust to a round in
    which the shared machine was busy for everyone."""
    mine, theirs = raw.get(f"{row}|trussd"), raw.get(f"{row}|{other}")
    if not mine or not theirs:
        return "-"
    ratios = [a[metric] / b[metric] for a, b in zip(mine, theirs, strict=False) if b[metric]]
    return f"{statistics.median(ratios):.2f}x" if ratios else "-"


def _label(row: str, metric: str) -> str:
    if metric == "rps":
        return "req/s"
    return f"{metric} TTFB" if row.endswith("ttfb") else f"{metric} latency"


def print_table(raw: Results, names: list[str]) -> None:
    """Medians over rounds; ratios are medians of per-round ratios (trussd / other)."""
    rows = sorted({k.split("|")[0] for k in raw}, key=lambda k: (k.split()[0], k))
    print("| scenario | metric | " + " | ".join(names) + " | trussd/truss | trussd/fastapi |")
    print("| --- | --- |" + " --- |" * (len(names) + 2))
    for row in rows:
        metrics = ["p50", "p99"] if row.endswith("ttfb") else ["rps", "p50", "p99"]
        for metric in metrics:
            fmt = "{:.0f}" if metric == "rps" else "{:.2f} ms"
            cells = [
                fmt.format(_median(raw[f"{row}|{n}"], metric)) if f"{row}|{n}" in raw else "-"
                for n in names
            ]
            ratios = [_ratio(raw, row, other, metric) for other in ("truss", "fastapi")]
            print(f"| {row} | {_label(row, metric)} | " + " | ".join(cells + ratios) + " |")
    errors = {k: sum(r.get("errors", 0) for r in v) for k, v in raw.items()}
    bad = {k: v for k, v in errors.items() if v}
    if bad:
        print(f"\nerrors (non-2xx or socket): {bad}")


if __name__ == "__main__":
    main()
